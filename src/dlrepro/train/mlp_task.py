"""Part 1 with PyTorch: the MLP trained with SGD on in-memory arrays, as a single run (`TorchMLPTask`) or a
seed population (`PopulationTorchMLPTask`: S members stacked along a model axis, see
`dlrepro.models.stacked`). Both share the initial weights, the split tensors, the schedule and the
evaluation. The NumPy twin, `NumpyMLPTask`, lives in `dlrepro.train.numpy_mlp_task` (it never imports torch).

Both twins draw their initial weights from `dlrepro.numpy_nn.MLP(seed=...)` and their batches from the
same `EpochBatches`, so with equal seeds (and float64) their curves coincide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro import numpy_nn
from dlrepro.models import MLP
from dlrepro.models.outputs import emit, eval_batch_size
from dlrepro.models.stacked import StackedMembers, mlp_forward, stack, stacked_cross_entropy
from dlrepro.train.batches import EpochBatches, PopulationBatches
from dlrepro.train.config import MLPConfig
from dlrepro.train.device import resolve_device
from dlrepro.train.engine import BatchStats, metrics_dict
from dlrepro.train.numpy_mlp_task import epoch_schedule


def seeded_mlp(n_inputs: int, hidden: tuple[int, ...], n_classes: int, seed: int, dtype: torch.dtype,
               init: str = "uniform") -> MLP:
    """The PyTorch MLP with the initial weights of `numpy_nn.MLP(seed=seed, init=init)` (drawn in float64)."""
    return MLP.from_numpy(numpy_nn.MLP(n_inputs, hidden, n_classes, seed=seed, dtype=np.float64, init=init), dtype)


def eval_chunk(cfg: MLPConfig) -> int:
    """Samples per evaluation forward pass (`eval_batch_size`), over the split in its stored order."""
    return eval_batch_size(cfg.outputs, cfg.batch_size, 8192)


def torch_split(x: Any, y: Any, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's inputs (as `dtype`) and integer labels as tensors on `device`."""
    return torch.as_tensor(x, dtype=dtype, device=device), torch.as_tensor(y, dtype=torch.int64, device=device)


@torch.no_grad()
def split_loss_acc(logits_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                   chunk: int = 8192) -> list[tuple[float, float]]:
    """Mean cross-entropy and accuracy on a split for each of M models, `chunk` samples at a time:
    `logits_of(x_chunk)` returns what they emit into the loss (M, b, C); M = 1 for a single run."""
    loss_sum, correct = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.int64)
    for lo in range(0, len(y), chunk):
        yb = y[lo:lo + chunk]
        logits = logits_of(x[lo:lo + chunk])
        loss_sum = loss_sum + torch.stack([F.cross_entropy(m, yb, reduction="sum") for m in logits]).double().cpu()
        correct = correct + torch.stack([(m.argmax(1) == yb).sum() for m in logits]).cpu()
    n = len(y)
    return [(loss / n, hits / n) for loss, hits in zip(loss_sum.tolist(), correct.tolist(), strict=True)]


class TorchMLPTask:
    """Train `dlrepro.models.MLP` with `torch.optim.SGD` and cross-entropy, from the NumPy MLP's weights."""

    def __init__(self, cfg: MLPConfig, x_train: Any, y_train: Any, x_test: Any, y_test: Any, n_classes: int):
        dtype, device = getattr(torch, cfg.dtype), resolve_device(cfg.device)
        self.train_xy = torch_split(x_train, y_train, dtype, device)
        self.test_xy = torch_split(x_test, y_test, dtype, device)
        n_inputs = self.train_xy[0][0].numel()
        self.model = seeded_mlp(n_inputs, cfg.hidden, n_classes, cfg.seed, dtype, cfg.init).to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr)
        self.batches = EpochBatches(*self.train_xy, cfg.batch_size, cfg.seed, cfg.order)
        self.schedule = epoch_schedule(cfg, self.batches.steps_per_epoch)
        self.outputs, self.chunk = cfg.outputs, eval_chunk(cfg)

    def train_step(self, step: int) -> tuple[torch.Tensor, int, int]:
        x, y = self.batches.get(step)
        self.model.train()
        loss = F.cross_entropy(emit(self.model(x), self.outputs), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach() * len(y), 0, len(y)  # train accuracy comes from the full-split evaluation

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return emit(self.model(x), self.outputs).unsqueeze(0)  # (1, b, C): one model

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        self.model.eval()
        [train], [test] = (split_loss_acc(self._logits, *xy, chunk=self.chunk) for xy in (self.train_xy, self.test_xy))
        return metrics_dict(train, test)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


class PopulationTorchMLPTask(StackedMembers[MLP]):
    """S `TorchMLPTask`s: the same data, one seed each."""

    def __init__(self, cfg: MLPConfig, seeds: list[int], x_train: Any, y_train: Any, x_test: Any, y_test: Any,
                 n_classes: int):
        dtype, device = getattr(torch, cfg.dtype), resolve_device(cfg.device)
        self.train_xy = torch_split(x_train, y_train, dtype, device)
        self.test_xy = torch_split(x_test, y_test, dtype, device)
        n_inputs = self.train_xy[0][0].numel()
        singles = [seeded_mlp(n_inputs, cfg.hidden, n_classes, s, dtype, cfg.init) for s in seeds]
        model = stack(singles).to(device)
        super().__init__(model, torch.optim.SGD(model.parameters(), lr=cfg.lr), singles[0].state_dict())
        self.batches = PopulationBatches(*self.train_xy, cfg.batch_size, seeds, cfg.order)
        self.schedule = epoch_schedule(cfg, self.batches.steps_per_epoch)
        self.outputs, self.chunk = cfg.outputs, eval_chunk(cfg)

    def train_step(self, step: int) -> tuple[torch.Tensor, int, int]:
        x, y = self.batches.get(step)
        losses = stacked_cross_entropy(emit(mlp_forward(self.model, x), self.outputs), y)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # member s's parameters get the gradient of its own loss only
        self.mask_gradients()
        self.optimizer.step()
        return losses.detach() * y.shape[1], 0, y.shape[1]

    def _logits(self, x: torch.Tensor) -> torch.Tensor:  # (S, b, C): every member on the chunk
        return emit(mlp_forward(self.model, x.expand(self.size, *x.shape)), self.outputs)

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        train, test = (split_loss_acc(self._logits, *xy, chunk=self.chunk) for xy in (self.train_xy, self.test_xy))
        return [metrics_dict(tr, te) for tr, te in zip(train, test, strict=True)]
