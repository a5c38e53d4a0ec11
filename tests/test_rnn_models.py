"""The recurrent nets, written from their equations, compute what torch.nn.RNN / nn.LSTM compute."""

import pytest
import torch
import torch.nn.functional as F

from dlrepro.data import palindrome
from dlrepro.models import LSTM, VanillaRNN


def _inputs(one_hot=False, length=12, batch=16):
    digits, y = palindrome.sample(batch, length, torch.Generator().manual_seed(2))
    return palindrome.encode(digits, one_hot), y


def test_vanilla_rnn_matches_torch_rnn_logits_and_gradients():
    model = VanillaRNN(10, 32, 10, generator=torch.Generator().manual_seed(1))
    ref = torch.nn.RNN(10, 32, nonlinearity="tanh", batch_first=True)
    with torch.no_grad():  # nn.RNN: h_t = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
        ref.weight_ih_l0.copy_(model.W_hx.T)
        ref.weight_hh_l0.copy_(model.W_hh.T)
        ref.bias_ih_l0.copy_(model.b_h)
        ref.bias_hh_l0.zero_()
    x, y = _inputs(one_hot=True)
    logits = model(x)
    _, h_T = ref(x)
    ref_logits = h_T[0] @ model.W_ph + model.b_p
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
    F.cross_entropy(logits, y).backward()
    F.cross_entropy(ref_logits, y).backward()
    torch.testing.assert_close(model.W_hh.grad, ref.weight_hh_l0.grad.T, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.W_hx.grad, ref.weight_ih_l0.grad.T, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.b_h.grad, ref.bias_ih_l0.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("one_hot", [False, True])
def test_lstm_matches_torch_lstm_logits_and_gradients(one_hot):
    """Every parameter's gradient equals nn.LSTM's: cutting backprop through the cell state or through time
    (a `.detach()` in the loop) changes the recurrent gradients and fails here."""
    n_in = palindrome.input_dim(one_hot)
    model = LSTM(n_in, 16, 10, generator=torch.Generator().manual_seed(3))
    ref = torch.nn.LSTM(n_in, 16, batch_first=True)
    with torch.no_grad():  # nn.LSTM stacks its gates as [i | f | g | o]
        ref.weight_ih_l0.copy_(torch.cat([getattr(model, f"W_{g}x") for g in "ifgo"], 1).T)
        ref.weight_hh_l0.copy_(torch.cat([getattr(model, f"W_{g}h") for g in "ifgo"], 1).T)
        ref.bias_ih_l0.copy_(torch.cat([getattr(model, f"b_{g}") for g in "ifgo"]))
        ref.bias_hh_l0.zero_()
    x, y = _inputs(one_hot=one_hot, length=9)
    _, (h_T, _) = ref(x)
    logits, ref_logits = model(x), h_T[0] @ model.W_ph + model.b_p
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
    F.cross_entropy(logits, y).backward()
    W_ph_grad, b_p_grad = model.W_ph.grad.clone(), model.b_p.grad.clone()
    model.W_ph.grad = model.b_p.grad = None
    F.cross_entropy(ref_logits, y).backward()  # the output layer is shared: its gradient is recomputed
    torch.testing.assert_close(W_ph_grad, model.W_ph.grad, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(b_p_grad, model.b_p.grad, atol=1e-6, rtol=1e-4)
    n = 16
    for k, g in enumerate("ifgo"):  # row block k of nn.LSTM's stacked weights is gate g
        rows = slice(k * n, (k + 1) * n)
        torch.testing.assert_close(getattr(model, f"W_{g}x").grad, ref.weight_ih_l0.grad[rows].T, atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(getattr(model, f"W_{g}h").grad, ref.weight_hh_l0.grad[rows].T, atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(getattr(model, f"b_{g}").grad, ref.bias_ih_l0.grad[rows], atol=1e-6, rtol=1e-4)


def test_parameters_are_named_as_in_the_equations():
    assert [n for n, _ in VanillaRNN(1, 8, 10).named_parameters()] == ["W_hx", "W_hh", "b_h", "W_ph", "b_p"]
    names = {n for n, _ in LSTM(1, 8, 10).named_parameters()}
    assert names == {f"W_{g}{s}" for g in "gifo" for s in "xh"} | {f"b_{g}" for g in "gifo"} | {"W_ph", "b_p"}
    rnn = VanillaRNN(3, 8, 10)
    assert rnn.W_hx.shape == (3, 8) and rnn.W_hh.shape == (8, 8) and rnn.W_ph.shape == (8, 10)
    assert not any(isinstance(m, torch.nn.Linear | torch.nn.RNN | torch.nn.LSTM) for m in rnn.modules())
    assert rnn(torch.zeros(4, 5, 3)).shape == (4, 10)


def test_init_is_seeded_and_fan_in_scaled():
    a = VanillaRNN(1, 64, 10, generator=torch.Generator().manual_seed(3))
    b = VanillaRNN(1, 64, 10, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a.W_hh.abs().max() <= 1 / 8 and a.W_hx.abs().max() <= 1.0 and a.W_hx.abs().max() > 0.5


@pytest.mark.parametrize("one_hot", [False, True])
def test_gru_matches_torch_gru_logits_and_every_parameters_gradient(one_hot):
    """nn.GRU stacks its gates as [r | z | n] and keeps two biases per gate: b_ih + b_hh for r and z, and for n
    b_in outside and b_hn inside the reset gate's product (our b_n and b_nh)."""
    from dlrepro.models import GRU

    n_in, n = palindrome.input_dim(one_hot), 16
    model = GRU(n_in, n, 10, generator=torch.Generator().manual_seed(4))
    ref = torch.nn.GRU(n_in, n, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.cat([getattr(model, f"W_{g}x") for g in "rzn"], 1).T)
        ref.weight_hh_l0.copy_(torch.cat([getattr(model, f"W_{g}h") for g in "rzn"], 1).T)
        ref.bias_ih_l0.copy_(torch.cat([model.b_r, model.b_z, model.b_n]))
        ref.bias_hh_l0.copy_(torch.cat([torch.zeros(2 * n), model.b_nh]))
    x, y = _inputs(one_hot=one_hot, length=9)
    _, h_T = ref(x)
    logits, ref_logits = model(x), h_T[0] @ model.W_ph + model.b_p
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
    F.cross_entropy(logits, y).backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    F.cross_entropy(ref_logits, y).backward()  # the output layer is shared: its gradient is recomputed
    torch.testing.assert_close(ours["W_ph"], model.W_ph.grad, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(ours["b_p"], model.b_p.grad, atol=1e-6, rtol=1e-4)
    for k, g in enumerate("rzn"):  # row block k of nn.GRU's stacked weights is gate g
        rows = slice(k * n, (k + 1) * n)
        torch.testing.assert_close(ours[f"W_{g}x"], ref.weight_ih_l0.grad[rows].T, atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(ours[f"W_{g}h"], ref.weight_hh_l0.grad[rows].T, atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(ours[f"b_{g}"], ref.bias_ih_l0.grad[rows], atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(ours["b_nh"], ref.bias_hh_l0.grad[2 * n:], atol=1e-6, rtol=1e-4)
    assert len(ours) == 12  # every parameter compared above


def test_gru_is_seeded_and_fan_in_scaled_as_the_other_cells():
    from dlrepro.models import GRU

    a, b = (GRU(1, 64, 10, generator=torch.Generator().manual_seed(3)) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert max(a.W_rh.abs().max(), a.W_nh.abs().max(), a.b_nh.abs().max()) <= 1 / 8
    assert a.W_zx.abs().max() <= 1.0 and a.W_zx.abs().max() > 0.5
    assert not any(isinstance(m, torch.nn.Linear | torch.nn.GRU) for m in a.modules())


def test_gru_broadcasts_over_a_leading_model_axis_like_its_single_nets():
    from dlrepro.models import GRU
    from dlrepro.models.stacked import stack

    nets = [GRU(1, 8, 10, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    x, _ = _inputs(length=6, batch=4)
    stacked = stack(nets)(x.expand(3, *x.shape))
    for s, net in enumerate(nets):
        torch.testing.assert_close(stacked[s], net(x), atol=1e-6, rtol=1e-5)
