import numpy as np
import pytest

from dlrepro.numpy_nn import MLP, SGD, CrossEntropy, Linear, ReLU, SoftMax
from dlrepro.numpy_nn.gradcheck import check_layer, check_mlp, numerical_grad, relative_error

TOL = 1e-6


@pytest.fixture
def x():
    return np.random.default_rng(1).standard_normal((5, 4))


def test_linear_gradients(x):
    errors = check_layer(Linear(4, 3, np.random.default_rng(0)), x)
    assert set(errors) == {"input", "weight", "bias"}
    assert max(errors.values()) <= TOL, errors


def test_relu_gradient(x):
    x = x + np.sign(x) * 0.1  # keep away from the kink at 0, where finite differences are meaningless
    assert check_layer(ReLU(), x)["input"] <= TOL


def test_softmax_gradient_and_rows_sum_to_one(x):
    layer = SoftMax()
    assert np.allclose(layer.forward(x).sum(axis=1), 1.0)
    assert check_layer(layer, x)["input"] <= TOL


def test_softmax_is_stable_for_huge_logits():
    y = SoftMax().forward(np.array([[1000.0, 0.0, -1000.0]]))
    assert np.all(np.isfinite(y)) and np.isclose(y[0, 0], 1.0)


def test_cross_entropy_forward_backward_against_finite_differences():
    rng = np.random.default_rng(2)
    probs = SoftMax().forward(rng.standard_normal((6, 3)))
    targets = rng.integers(0, 3, size=6)
    ce = CrossEntropy()
    loss = ce.forward(probs, targets)
    assert np.isclose(loss, -np.log(probs[np.arange(6), targets]).mean())
    analytic = ce.backward()
    numeric = numerical_grad(lambda: CrossEntropy().forward(probs, targets), probs)
    assert relative_error(analytic, numeric) <= TOL


def test_softmax_then_cross_entropy_equals_fused_from_logits():
    rng = np.random.default_rng(3)
    logits, targets = rng.standard_normal((7, 4)), rng.integers(0, 4, size=7)
    sm, ce = SoftMax(), CrossEntropy()
    loss = ce.forward(sm.forward(logits), targets)
    dlogits = sm.backward(ce.backward())
    fused_loss, fused_dlogits = CrossEntropy.from_logits(logits, targets)
    assert np.isclose(loss, fused_loss, rtol=1e-12)
    assert relative_error(dlogits, fused_dlogits) <= 1e-10


def test_fused_cross_entropy_is_finite_for_extreme_logits():
    loss, grad = CrossEntropy.from_logits(np.array([[1e4, -1e4]]), np.array([1]))
    assert np.isclose(loss, 2e4) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("hidden", [[20], [16, 8]])
def test_whole_mlp_gradients(hidden):
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((8, 3)), rng.integers(0, 3, size=8)
    assert check_mlp(MLP(3, hidden, 3, seed=0), x, t) <= TOL


def test_mlp_api_contract():
    mlp = MLP(2, [20], 2, seed=0, dtype=np.float64)
    logits = mlp.forward(np.zeros((5, 2)))
    assert logits.shape == (5, 2)
    mlp.backward(np.ones((5, 2)))
    shapes = [(v.shape, g.shape) for v, g in mlp.parameters()]
    assert shapes == [((2, 20), (2, 20)), ((20,), (20,)), ((20, 2), (20, 2)), ((2,), (2,))]
    assert np.array_equal(MLP(2, [20], 2, seed=0).forward(np.ones((1, 2))),
                          MLP(2, [20], 2, seed=0).forward(np.ones((1, 2))))
    assert not np.array_equal(MLP(2, [20], 2, seed=1).forward(np.ones((1, 2))),
                              MLP(2, [20], 2, seed=0).forward(np.ones((1, 2))))


def test_sgd_step_and_validation():
    w, g = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    SGD([(w, g)], lr=0.1).step()
    assert np.allclose(w, [0.95, 2.1])
    with pytest.raises(ValueError):
        SGD([(w, g)], lr=0.0)


def test_batch_one_cross_entropy_fast_path_equals_the_general_one():
    rng = np.random.default_rng(7)
    for _ in range(20):
        logits, t = rng.standard_normal((1, 5)) * 10, rng.integers(0, 5, size=1)
        loss1, grad1 = CrossEntropy.from_logits(logits, t)
        loss2, grad2 = CrossEntropy.from_logits(np.repeat(logits, 2, axis=0), np.repeat(t, 2))  # general path
        assert np.isclose(loss1, loss2, rtol=1e-14) and np.allclose(grad1, grad2[:1] * 2, rtol=1e-14)
