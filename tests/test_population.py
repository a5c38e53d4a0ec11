"""Every member of a NumPy MLP population trains exactly as the single MLP with its seed."""

import numpy as np
import pytest

from dlrepro.data.toy import make_toy
from dlrepro.numpy_nn import MLP, SGD, CrossEntropy
from dlrepro.numpy_nn.population import PopulationMLP, cross_entropy
from dlrepro.train.batches import EpochBatches


@pytest.mark.parametrize("hidden, batch_size", [([20], 1), ([16, 8], 5)])
def test_members_match_single_runs_for_200_steps(hidden, batch_size):
    data = make_toy("moons", n_samples=200)
    seeds = [0, 3, 7]
    pop = PopulationMLP(2, hidden, 2, seeds)
    singles = [MLP(2, hidden, 2, seed=s) for s in seeds]
    optims = [SGD(m.parameters(), lr=0.05) for m in singles]
    batches = [EpochBatches(data.x_train, data.y_train, batch_size, s) for s in seeds]
    for step in range(200):
        xy = [b.get(step) for b in batches]
        x, y = np.stack([b[0] for b in xy]), np.stack([b[1] for b in xy])
        losses, dlogits = cross_entropy(pop.forward(x), y)
        pop.backward(dlogits)
        pop.sgd_step(0.05)
        for s, (m, opt) in enumerate(zip(singles, optims, strict=True)):
            loss, d = CrossEntropy.from_logits(m.forward(xy[s][0]), xy[s][1])
            m.backward(d)
            opt.step()
            assert abs(losses[s] - loss) <= 1e-6
    for s, m in enumerate(singles):
        for key, value in m.state_dict().items():
            np.testing.assert_allclose(pop.member_state_dict(s)[key], value, rtol=1e-9, atol=1e-12)


def test_inactive_members_keep_their_weights():
    pop = PopulationMLP(2, [4], 2, [0, 1])
    before = pop.member_state_dict(1)
    x = np.ones((2, 3, 2))
    _, d = cross_entropy(pop.forward(x), np.zeros((2, 3), dtype=np.int64))
    pop.backward(d)
    pop.sgd_step(0.1, active=np.array([True, False]))
    assert all(np.array_equal(before[k], v) for k, v in pop.member_state_dict(1).items())
    assert not np.array_equal(pop.member_state_dict(0)["0.weight"], MLP(2, [4], 2, seed=0).state_dict()["0.weight"])
