"""Part 1 tasks: the PyTorch MLP, trained with SGD on in-memory arrays. Its NumPy twin, `NumpyMLPTask`, lives
in `dlrepro.train.numpy_mlp_task` (it never imports torch) and is re-exported here.

Both draw their initial weights from `dlrepro.numpy_nn.MLP(seed=...)` and their batches from the same
`EpochBatches`, so with equal seeds (and float64) their curves coincide.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro import numpy_nn
from dlrepro.models import MLP
from dlrepro.train.batches import EpochBatches
from dlrepro.train.config import MLPConfig
from dlrepro.train.device import resolve_device
from dlrepro.train.engine import BatchStats, metrics_dict
from dlrepro.train.numpy_mlp_task import NumpyMLPTask, epoch_schedule


def torch_split(x, y, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's inputs (as `dtype`) and integer labels as tensors on `device`."""
    return torch.as_tensor(x, dtype=dtype, device=device), torch.as_tensor(y, dtype=torch.int64, device=device)


class TorchMLPTask:
    """Train `dlrepro.models.MLP` with `torch.optim.SGD` and cross-entropy, from the NumPy MLP's weights."""

    def __init__(self, cfg: MLPConfig, x_train, y_train, x_test, y_test, n_classes: int):
        dtype, device = getattr(torch, cfg.dtype), resolve_device(cfg.device)
        self.train_xy = torch_split(x_train, y_train, dtype, device)
        self.test_xy = torch_split(x_test, y_test, dtype, device)
        n_inputs = self.train_xy[0][0].numel()
        init = numpy_nn.MLP(n_inputs, cfg.hidden, n_classes, seed=cfg.seed, dtype=np.float64)
        self.model = MLP.from_numpy(init, dtype=dtype).to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=cfg.lr)
        self.batches = EpochBatches(*self.train_xy, cfg.batch_size, cfg.seed)
        self.schedule = epoch_schedule(cfg, self.batches.steps_per_epoch)

    def train_step(self, step: int):
        x, y = self.batches.get(step)
        self.model.train()
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach() * len(y), 0, len(y)  # train accuracy comes from the full-split evaluation

    @torch.no_grad()
    def _eval_split(self, x, y, chunk: int = 8192) -> tuple[float, float]:
        loss_sum, correct = 0.0, 0
        for lo in range(0, len(y), chunk):
            logits = self.model(x[lo:lo + chunk])
            loss_sum += float(F.cross_entropy(logits, y[lo:lo + chunk], reduction="sum"))
            correct += int((logits.argmax(1) == y[lo:lo + chunk]).sum())
        return loss_sum / len(y), correct / len(y)

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        self.model.eval()
        return metrics_dict(self._eval_split(*self.train_xy), self._eval_split(*self.test_xy))

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


__all__ = ["NumpyMLPTask", "TorchMLPTask", "torch_split"]
