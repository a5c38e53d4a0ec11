"""Seed populations: S runs of one config that differ only in their seed, trained as one `PopulationTask`.

Member s starts from the weights of the single run with seeds[s], draws its data exactly as that run
does (its own epoch permutations, or its own palindrome stream), and steps the same optimizer; the
parameters are stacked along a leading model axis so one batched matmul serves every member. Nothing is
shared between members but the arithmetic: losses are per member, gradients of the summed loss are per
member, gradient clipping is per member, and a frozen (diverged) member gets zero updates.

    mlp-numpy  `numpy_nn.PopulationMLP` + SGD on the stacked arrays (in `dlrepro.train.numpy_mlp_task`:
               the from-scratch path never imports torch)
    mlp-torch  `models.population.stack(MLP)` + `mlp_forward` + torch.optim.SGD on the stacked tensors
    rnn        `models.population.stack(VanillaRNN | LSTM)` + the configured torch optimizer

Each member's `state_dict` is the single task's (see `dlrepro.train.engine`), so a member's checkpoint is
a single run's checkpoint. Tests compare every member with its single run (tests/test_population.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro import numpy_nn
from dlrepro.data import palindrome
from dlrepro.models import MLP
from dlrepro.models.population import (
    load_member_optimizer_state,
    load_member_state_dict,
    member_optimizer_state,
    member_state_dict,
    mlp_forward,
    stack,
)
from dlrepro.seeds import DATA, torch_generator
from dlrepro.train.batches import PopulationBatches
from dlrepro.train.config import MLPConfig, RNNConfig
from dlrepro.train.device import resolve_device
from dlrepro.train.engine import BatchStats, Schedule, metrics_dict
from dlrepro.train.mlp_task import torch_split
from dlrepro.train.numpy_mlp_task import PopulationNumpyMLPTask, epoch_schedule, member_seeds
from dlrepro.train.rnn_task import OPTIMIZERS, held_out_set


def _torch_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member mean cross-entropy (S,) of logits (S, B, C) against targets (S, B)."""
    S, B, C = logits.shape
    return F.cross_entropy(logits.reshape(S * B, C), y.reshape(S * B), reduction="none").view(S, B).mean(1)


class _TorchMembers:
    """Freezing and per-member state (`state_dict(member)` in the single task's form) for a stacked torch
    model and its optimizer."""

    def _init_members(self, model, optimizer, like: dict, size: int) -> None:
        self.model, self.optimizer, self.like, self.size = model, optimizer, like, size
        self.active: torch.Tensor | None = None  # 1 for members that still train; None while all do

    def _mask_gradients(self, coef: torch.Tensor | None = None) -> None:
        """Scale member s's gradients by coef[s] (clipping), zeroing frozen members'."""
        if self.active is not None:
            coef = self.active if coef is None else coef * self.active
        if coef is None:
            return
        for p in self.model.parameters():
            p.grad.mul_(coef.to(p.dtype).view(-1, *[1] * (p.ndim - 1)))

    def freeze(self, member: int) -> None:
        """Zero member's weights and optimizer state; with its gradients masked to zero, it stays put."""
        if self.active is None:
            self.active = torch.ones(self.size, device=next(self.model.parameters()).device)
        self.active[member] = 0.0
        with torch.no_grad():
            for p in self.model.parameters():
                p[member] = 0
            for st in self.optimizer.state.values():
                for v in st.values():
                    if torch.is_tensor(v) and v.ndim > 0:
                        v[member] = 0

    def state_dict(self, member: int) -> dict:
        return {"model": member_state_dict(self.model, member, self.like),
                "optimizer": member_optimizer_state(self.optimizer.state_dict(), member, self.like)}

    def load_state_dict(self, member: int, state: dict) -> None:
        load_member_state_dict(self.model, member, state["model"])
        load_member_optimizer_state(self.optimizer, member, state["optimizer"])


class PopulationTorchMLPTask(_TorchMembers):
    """S `TorchMLPTask`s: the same data, one seed each."""

    def __init__(self, cfgs: list[MLPConfig], x_train, y_train, x_test, y_test, n_classes: int):
        cfg, seeds = cfgs[0], member_seeds(cfgs)
        dtype, device = getattr(torch, cfg.dtype), resolve_device(cfg.device)
        self.train_xy = torch_split(x_train, y_train, dtype, device)
        self.test_xy = torch_split(x_test, y_test, dtype, device)
        n_inputs = self.train_xy[0][0].numel()
        singles = [MLP.from_numpy(numpy_nn.MLP(n_inputs, cfg.hidden, n_classes, seed=s, dtype=np.float64), dtype)
                   for s in seeds]
        model = stack(singles).to(device)
        self._init_members(model, torch.optim.SGD(model.parameters(), lr=cfg.lr), singles[0].state_dict(),
                           len(seeds))
        self.batches = PopulationBatches(*self.train_xy, cfg.batch_size, seeds)
        self.schedule = epoch_schedule(cfg, self.batches.steps_per_epoch)

    def train_step(self, step: int):
        x, y = self.batches.get(step)
        losses = _torch_losses(mlp_forward(self.model, x), y)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # member s's parameters get the gradient of its own loss only
        self._mask_gradients()
        self.optimizer.step()
        return losses.detach() * y.shape[1], 0, y.shape[1]

    @torch.no_grad()
    def _eval_split(self, x, y, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        S, device = self.size, x.device
        loss_sum = torch.zeros(S, dtype=torch.float64, device=device)
        correct = torch.zeros(S, dtype=torch.int64, device=device)
        for lo in range(0, len(y), chunk):
            xb, yb = x[lo:lo + chunk].expand(S, *x[lo:lo + chunk].shape), y[lo:lo + chunk].expand(S, -1)
            logits = mlp_forward(self.model, xb)
            loss_sum += _torch_losses(logits, yb).double() * yb.shape[1]
            correct += (logits.argmax(2) == yb).sum(1)
        return (loss_sum / len(y)).cpu().numpy(), (correct / len(y)).cpu().numpy()

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        (trl, tra), (tel, tea) = self._eval_split(*self.train_xy), self._eval_split(*self.test_xy)
        return [metrics_dict((trl[m], tra[m]), (tel[m], tea[m])) for m in range(self.size)]


class PopulationPalindromeTask(_TorchMembers):
    """S `PalindromeTask`s: one seed (initial weights and palindrome stream) each."""

    def __init__(self, cfgs: list[RNNConfig]):
        cfg, seeds = cfgs[0], member_seeds(cfgs)
        self.cfg = cfg
        from dlrepro.models import LSTM, VanillaRNN

        cell = VanillaRNN if cfg.cell == "rnn" else LSTM
        singles = [cell(palindrome.input_dim(cfg.one_hot), cfg.hidden, 10, generator=torch.Generator().manual_seed(s))
                   for s in seeds]
        self.device = resolve_device(cfg.device)
        model = stack(singles).to(self.device)
        self._init_members(model, OPTIMIZERS[cfg.optimizer](model.parameters(), lr=cfg.lr),
                           singles[0].state_dict(), len(seeds))
        self.streams = [torch_generator(s, DATA) for s in seeds]
        digits, self.test_y, self.exclude = held_out_set(cfg)
        self.test_x, self.test_y = palindrome.encode(digits, cfg.one_hot).to(self.device), self.test_y.to(self.device)
        self.schedule = Schedule(total_steps=cfg.steps, eval_every=cfg.eval_every)

    def _batch(self, streams: list[torch.Generator]):
        """x (S, B, L, input_dim), y (S, B): member s's batch drawn from its own stream, as its single run."""
        xs, ys = [], []
        for g in streams:
            digits, target = palindrome.sample(self.cfg.batch_size, self.cfg.input_length, g, exclude=self.exclude)
            xs.append(palindrome.encode(digits, self.cfg.one_hot))
            ys.append(target)
        return torch.stack(xs).to(self.device), torch.stack(ys).to(self.device)

    def train_step(self, step: int):
        x, y = self._batch(self.streams)
        logits = self.model(x)
        losses = _torch_losses(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        coef = None
        if self.cfg.clip > 0:  # clip_grad_norm_ per member: each member's global norm over its own parameters
            norms = torch.stack([p.grad.reshape(self.size, -1).pow(2).sum(1) for p in self.model.parameters()])
            coef = (self.cfg.clip / (norms.sum(0).sqrt() + 1e-6)).clamp(max=1.0)
        self._mask_gradients(coef)
        self.optimizer.step()
        B = y.shape[1]
        return losses.detach() * B, (logits.detach().argmax(2) == y).sum(1), B

    @torch.no_grad()
    def _loss_acc(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        logits = self.model(x)
        return (_torch_losses(logits, y).double().cpu().numpy(),
                (logits.argmax(2) == y).double().mean(1).cpu().numpy())

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        if batches.count:
            train = batches.means()
        else:  # step 0: the batches the first step will train on, without consuming the streams
            peeks = []
            for g in self.streams:
                peeks.append(torch.Generator())
                peeks[-1].set_state(g.get_state())
            train = self._loss_acc(*self._batch(peeks))
        S = self.size
        test = self._loss_acc(self.test_x.expand(S, *self.test_x.shape), self.test_y.expand(S, -1))
        return [metrics_dict((train[0][m], train[1][m]), (test[0][m], test[1][m])) for m in range(S)]

    def state_dict(self, member: int) -> dict:
        return {**super().state_dict(member), "stream": self.streams[member].get_state()}

    def load_state_dict(self, member: int, state: dict) -> None:
        super().load_state_dict(member, state)
        self.streams[member].set_state(state["stream"])


__all__ = ["PopulationNumpyMLPTask", "PopulationTorchMLPTask", "PopulationPalindromeTask"]
