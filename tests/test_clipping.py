"""Gradient-norm clipping of the recurrent nets (`--clip`), in the single run and in the population: one step
equals an SGD step with the gradients clipped by hand, and with a gradient far above the clip norm the
update's norm is bounded by lr * clip. (Population == single run alone would pass with clipping off in both.)
"""

import math

import pytest
import torch
import torch.nn.functional as F

from dlrepro.seeds import DATA, torch_generator
from dlrepro.train.config import RNNConfig
from dlrepro.train.rnn_task import PalindromeTask, PopulationPalindromeTask, draw_batch, seeded_net

CLIP, LR = 1e-3, 1.0  # plain SGD, so the update is exactly lr * the clipped gradient


def _cfg(cell: str) -> RNNConfig:
    return RNNConfig(cell=cell, input_length=4, hidden=16, batch_size=8, optimizer="sgd", lr=LR, clip=CLIP,
                     steps=1, eval_every=1, test_size=16)


def _clipped_by_hand(cfg: RNNConfig, seed: int, exclude) -> tuple[dict, dict, float]:
    """(weights before, weights after one SGD step on clipped gradients, the gradient norm before clipping)
    for the seed's first batch, computed here with the formula of torch's clip_grad_norm_."""
    net = seeded_net(cfg, seed)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = draw_batch(cfg, torch_generator(seed, DATA), exclude)
    F.cross_entropy(net(x), y).backward()
    params = dict(net.named_parameters())
    norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in params.values()))
    coef = min(1.0, cfg.clip / (norm + 1e-6))
    after = {k: (v - cfg.lr * coef * params[k].grad if k in params else v) for k, v in before.items()}
    return before, after, norm


def _assert_step(before: dict, got: dict, want: dict, norm: float) -> None:
    assert norm > 10 * CLIP, f"gradient norm {norm} too small to test clipping"
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-7, msg=k)
    update = math.sqrt(sum(float((got[k] - before[k]).double().pow(2).sum()) for k in got))
    assert update <= LR * CLIP * (1 + 1e-4), f"update norm {update} > lr * clip = {LR * CLIP}"
    assert update >= LR * CLIP * (1 - 1e-3)  # clipped to the norm, not zeroed


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_single_run_step_equals_a_step_with_gradients_clipped_by_hand(cell):
    cfg = _cfg(cell)
    task = PalindromeTask(cfg)
    before, want, norm = _clipped_by_hand(cfg, cfg.seed, task.exclude)
    task.train_step(0)
    _assert_step(before, task.model.state_dict(), want, norm)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_population_step_clips_each_member_by_its_own_norm_as_by_hand(cell):
    cfg = _cfg(cell)
    task = PopulationPalindromeTask(cfg, [0, 1])
    task.train_step(0)
    norms = []
    for member, seed in enumerate((0, 1)):
        before, want, norm = _clipped_by_hand(cfg, seed, task.exclude)
        _assert_step(before, task.state_dict(member)["model"], want, norm)
        norms.append(norm)
    assert norms[0] != norms[1]  # two members, two norms: clipping by a shared norm would fail above
