"""Part 3: train a recurrent cell (dlrepro.registry.CELLS, or a user's) on freshly drawn palindromes, one batch
per step, as a single run (`PalindromeTask`) or a seed population (`PopulationPalindromeTask`: S members
stacked along a model axis, see `dlrepro.models.stacked`). Both share the initial weights, the held-out set,
the schedule, the batch draws, the stream peek and the evaluation.

The initial weights come from `torch.Generator().manual_seed(seed)`, the training batches from the seed's own
DATA stream (`dlrepro.seeds`, independent of the weights), drawn on the CPU (then moved to --device, so a GPU
run sees the same data). The test set (1,024 palindromes by default) comes from a separate stream that
depends only on the input length, so every seed and cell is measured on the same sequences; where the length
leaves enough sequences (`palindrome.held_out_is_disjoint`) training never draws one of them. Train metrics
average the training batches since the last evaluation (train_metrics "running"), or are those of the batch
the next step trains on, before its update ("batch": what the reference's code logged as its accuracy, every
10 steps, with its step 0..10,000 logs matching evaluations at steps 0..10,000 of a 10,000-step run). The
loss takes what `outputs` says the model emits (`dlrepro.models.outputs`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlrepro.data import palindrome
from dlrepro.models.outputs import emit
from dlrepro.models.rnn import TwoBiasRNN
from dlrepro.models.stacked import StackedMembers, stack, stacked_cross_entropy
from dlrepro.registry import CELLS, OPTIMIZERS
from dlrepro.seeds import DATA, seed_globals, torch_generator
from dlrepro.train.config import RNNConfig
from dlrepro.train.device import resolve_device
from dlrepro.train.engine import BatchStats, Schedule, metrics_dict
from dlrepro.train.plugins import build

HELD_OUT_SEED = 1_000_003


def seeded_net(cfg: RNNConfig, seed: int) -> nn.Module:
    """The seed's initial cell (on the CPU). The global generators are seeded first, so a user's cell that
    draws from them (an nn.Linear inside) starts the same in its single run and in a population."""
    cell = TwoBiasRNN if cfg.biases == "two" else build(cfg.cell, CELLS)  # two: the vanilla RNN (checked)
    seed_globals(seed)
    return cell(palindrome.input_dim(cfg.one_hot), cfg.hidden, 10, generator=torch.Generator().manual_seed(seed))


def make_optimizer(cfg: RNNConfig, params) -> torch.optim.Optimizer:
    return build(cfg.optimizer, OPTIMIZERS["rnn"])(params, lr=cfg.lr)


def held_out_set(cfg: RNNConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The encoded test set (x, y) on `device`, and the keys training must exclude (None where it cannot)."""
    generator = torch.Generator().manual_seed(HELD_OUT_SEED + cfg.input_length)
    digits, target = palindrome.sample(cfg.test_size, cfg.input_length, generator)
    disjoint = palindrome.held_out_is_disjoint(cfg.input_length, cfg.test_size)
    exclude = palindrome.keys(digits) if disjoint else None
    return palindrome.encode(digits, cfg.one_hot).to(device), target.to(device), exclude


def step_schedule(cfg: RNNConfig) -> Schedule:
    return Schedule(total_steps=cfg.steps, eval_every=cfg.eval_every)


def draw_batch(cfg: RNNConfig, generator: torch.Generator,
               exclude: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch x (B, L, input_dim), y (B,) drawn from `generator`, on the CPU."""
    digits, target = palindrome.sample(cfg.batch_size, cfg.input_length, generator, exclude=exclude)
    return palindrome.encode(digits, cfg.one_hot), target


def peek(stream: torch.Generator) -> torch.Generator:
    """A copy of `stream`: drawing from it leaves `stream` untouched (the step-0 train metrics)."""
    copy = torch.Generator()
    copy.set_state(stream.get_state())
    return copy


@torch.no_grad()
def loss_acc(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of one model's logits (B, C) against y (B,)."""
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


class PalindromeTask:
    def __init__(self, cfg: RNNConfig):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.model = seeded_net(cfg, cfg.seed).to(self.device)
        self.optimizer = make_optimizer(cfg, self.model.parameters())
        self.stream = torch_generator(cfg.seed, DATA)
        self.test_x, self.test_y, self.exclude = held_out_set(cfg, self.device)
        self.schedule = step_schedule(cfg)

    def _batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = draw_batch(self.cfg, generator, self.exclude)
        return x.to(self.device), y.to(self.device)

    def _emit(self, x: torch.Tensor) -> torch.Tensor:
        return emit(self.model(x), self.cfg.outputs)

    def train_step(self, step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = self._batch(self.stream)
        logits = self._emit(x)
        loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        return loss.detach() * len(y), (logits.detach().argmax(1) == y).sum(), len(y)

    @torch.no_grad()
    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        if batches.count and self.cfg.train_metrics == "running":
            train = batches.means()
        else:  # the batch the next step will train on, drawn from a copy of the stream (always at step 0)
            x, y = self._batch(peek(self.stream))
            train = loss_acc(self._emit(x), y)
        return metrics_dict(train, loss_acc(self._emit(self.test_x), self.test_y))

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "stream": self.stream.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.stream.set_state(state["stream"])


class PopulationPalindromeTask(StackedMembers[nn.Module]):
    """S `PalindromeTask`s: one seed (initial weights and palindrome stream) each."""

    def __init__(self, cfg: RNNConfig, seeds: list[int]):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        singles = [seeded_net(cfg, s) for s in seeds]
        model = stack(singles).to(self.device)
        super().__init__(model, make_optimizer(cfg, model.parameters()), singles[0].state_dict())
        self.streams = [torch_generator(s, DATA) for s in seeds]
        self.test_x, self.test_y, self.exclude = held_out_set(cfg, self.device)
        self.schedule = step_schedule(cfg)

    def _batch(self, streams: list[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
        """x (S, B, L, input_dim), y (S, B): member s's batch drawn from its own stream, as its single run."""
        xs, ys = zip(*(draw_batch(self.cfg, g, self.exclude) for g in streams), strict=True)
        return torch.stack(xs).to(self.device), torch.stack(ys).to(self.device)

    def _emit(self, x: torch.Tensor) -> torch.Tensor:
        return emit(self.model(x), self.cfg.outputs)

    def train_step(self, step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = self._batch(self.streams)
        logits = self._emit(x)
        losses = stacked_cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        coef = None
        if self.cfg.clip > 0:  # clip_grad_norm_ per member: each member's global norm over its own parameters
            norms = torch.stack([p.grad.reshape(self.size, -1).pow(2).sum(1) for p in self.model.parameters()
                                 if p.grad is not None])
            coef = (self.cfg.clip / (norms.sum(0).sqrt() + 1e-6)).clamp(max=1.0)
        self.mask_gradients(coef)
        self.optimizer.step()
        B = y.shape[1]
        return losses.detach() * B, (logits.detach().argmax(2) == y).sum(1), B

    @torch.no_grad()
    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        if batches.count and self.cfg.train_metrics == "running":
            train = list(zip(*batches.member_means(), strict=True))
        else:  # the batches the next step will train on, drawn from copies of the streams (always at step 0)
            x, y = self._batch([peek(g) for g in self.streams])
            train = [loss_acc(logits, target) for logits, target in zip(self._emit(x), y, strict=True)]
        test_logits = self._emit(self.test_x.expand(self.size, *self.test_x.shape))
        test = [loss_acc(logits, self.test_y) for logits in test_logits]
        return [metrics_dict(tr, te) for tr, te in zip(train, test, strict=True)]

    def state_dict(self, member: int) -> dict[str, Any]:
        return {**super().state_dict(member), "stream": self.streams[member].get_state()}

    def load_state_dict(self, member: int, state: dict[str, Any]) -> None:
        super().load_state_dict(member, state)
        self.streams[member].set_state(state["stream"])
