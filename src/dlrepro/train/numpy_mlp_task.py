"""The from-scratch path of Part 1: the NumPy MLP trained with SGD on in-memory arrays, as a single run
(`NumpyMLPTask`) or a seed population (`PopulationNumpyMLPTask`: S members stacked along a model axis, see
`dlrepro.numpy_nn.stacked_mlp`). Both share the schedule, the split arrays and the evaluation.

Nothing here imports torch: a NumPy run does not depend on the framework it is compared with. Its state is
NumPy arrays, so its checkpoint is written without torch too (see `dlrepro.runs.checkpoint`). The PyTorch
twin (`dlrepro.train.mlp_task.TorchMLPTask`) shares `epoch_schedule` and the batches, so with equal seeds
(and float64) their curves coincide.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlrepro import numpy_nn
from dlrepro.numpy_nn.stacked_mlp import PopulationMLP, cross_entropy
from dlrepro.train.batches import EpochBatches, PopulationBatches
from dlrepro.train.config import MLPConfig
from dlrepro.train.engine import BatchStats, Schedule, metrics_dict


def epoch_schedule(cfg: MLPConfig, steps_per_epoch: int) -> Schedule:
    return Schedule(total_steps=cfg.epochs * steps_per_epoch, eval_every=cfg.eval_every * steps_per_epoch,
                    steps_per_epoch=steps_per_epoch)


def numpy_split(x: Any, y: Any, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """A split's inputs (contiguous, as `dtype`) and integer labels as NumPy arrays."""
    return np.ascontiguousarray(x, dtype=dtype), np.asarray(y, dtype=np.int64)


def loss_acc(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of one model's logits (N, C) on a split."""
    loss, _ = numpy_nn.CrossEntropy.from_logits(logits, y)
    return loss, float((logits.argmax(axis=1) == y).mean())


class NumpyMLPTask:
    """Train `dlrepro.numpy_nn.MLP` with `numpy_nn.SGD`. Train metrics come from full-split evaluations."""

    def __init__(self, cfg: MLPConfig, x_train: Any, y_train: Any, x_test: Any, y_test: Any, n_classes: int):
        dtype = np.dtype(cfg.dtype)
        self.train_xy, self.test_xy = numpy_split(x_train, y_train, dtype), numpy_split(x_test, y_test, dtype)
        self.model = numpy_nn.MLP(self.train_xy[0].shape[1], cfg.hidden, n_classes, seed=cfg.seed, dtype=dtype,
                                  init=cfg.init)
        self.optimizer = numpy_nn.SGD(self.model.flat_parameters(), cfg.lr)  # one update for all arrays
        self.batches = EpochBatches(*self.train_xy, cfg.batch_size, cfg.seed, cfg.order)
        self.schedule = epoch_schedule(cfg, self.batches.steps_per_epoch)

    def train_step(self, step: int) -> tuple[float, int, int]:
        x, y = self.batches.get(step)
        loss, dlogits = numpy_nn.CrossEntropy.from_logits(self.model.forward(x), y)
        self.model.backward(dlogits)
        self.optimizer.step()
        return loss * len(y), 0, len(y)  # train accuracy comes from the full-split evaluation

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        (x_train, y_train), (x_test, y_test) = self.train_xy, self.test_xy
        return metrics_dict(loss_acc(self.model.forward(x_train), y_train),
                            loss_acc(self.model.forward(x_test), y_test))

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])


class PopulationNumpyMLPTask:
    """S `NumpyMLPTask`s: the same data, one seed each."""

    def __init__(self, cfg: MLPConfig, seeds: list[int], x_train: Any, y_train: Any, x_test: Any, y_test: Any,
                 n_classes: int):
        dtype = np.dtype(cfg.dtype)
        self.train_xy, self.test_xy = numpy_split(x_train, y_train, dtype), numpy_split(x_test, y_test, dtype)
        self.size, self.lr = len(seeds), cfg.lr
        self.model = PopulationMLP(self.train_xy[0].shape[1], cfg.hidden, n_classes, seeds, dtype=dtype,
                                   init=cfg.init)
        self.active: np.ndarray | None = None  # which members still train; None while all do (the fast path)
        self.batches = PopulationBatches(*self.train_xy, cfg.batch_size, seeds, cfg.order)
        self.schedule = epoch_schedule(cfg, self.batches.steps_per_epoch)

    def train_step(self, step: int) -> tuple[np.ndarray, int, int]:
        x, y = self.batches.get(step)
        losses, dlogits = cross_entropy(self.model.forward(x), y)
        self.model.backward(dlogits)
        self.model.sgd_step(self.lr, self.active)
        return losses * y.shape[1], 0, y.shape[1]  # train accuracy comes from the full-split evaluation

    def _members_loss_acc(self, x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
        logits = self.model.forward(np.broadcast_to(x, (self.size, *x.shape)))  # (S, N, C)
        return [loss_acc(member_logits, y) for member_logits in logits]

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        train, test = self._members_loss_acc(*self.train_xy), self._members_loss_acc(*self.test_xy)
        return [metrics_dict(tr, te) for tr, te in zip(train, test, strict=True)]

    def freeze(self, member: int) -> None:
        if self.active is None:
            self.active = np.ones(self.size, dtype=bool)
        self.active[member] = False
        self.model.flat[member] = 0

    def state_dict(self, member: int) -> dict[str, Any]:
        return {"model": self.model.member_state_dict(member)}

    def load_state_dict(self, member: int, state: dict[str, Any]) -> None:
        self.model.load_member_state_dict(member, state["model"])
