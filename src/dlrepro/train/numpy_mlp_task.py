"""The from-scratch path of Part 1: the NumPy MLP trained with SGD on in-memory arrays, as a single run
(`NumpyMLPTask`) or a seed population (`PopulationNumpyMLPTask`, see `dlrepro.train.population`).

Nothing here imports torch: a NumPy run does not depend on the framework it is compared with. Its state is
NumPy arrays, so its checkpoint is written without torch too (see `dlrepro.runs.checkpoint`). The PyTorch
twin (`dlrepro.train.mlp_task.TorchMLPTask`) shares `epoch_schedule` and the batches, so with equal seeds
(and float64) their curves coincide.
"""

from __future__ import annotations

import numpy as np

from dlrepro import numpy_nn
from dlrepro.numpy_nn.population import PopulationMLP, cross_entropy
from dlrepro.train.batches import EpochBatches, PopulationBatches
from dlrepro.train.config import MLPConfig
from dlrepro.train.engine import BatchStats, Schedule, metrics_dict


def epoch_schedule(cfg: MLPConfig, steps_per_epoch: int) -> Schedule:
    return Schedule(total_steps=cfg.epochs * steps_per_epoch, eval_every=cfg.eval_every * steps_per_epoch,
                    steps_per_epoch=steps_per_epoch)


def numpy_split(x, y, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """A split's inputs (contiguous, as `dtype`) and integer labels as NumPy arrays."""
    return np.ascontiguousarray(x, dtype=dtype), np.asarray(y, dtype=np.int64)


def member_seeds(cfgs) -> list[int]:
    seeds = [c.seed for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"a population needs distinct seeds, got {seeds}")
    return seeds


class NumpyMLPTask:
    """Train `dlrepro.numpy_nn.MLP` with `numpy_nn.SGD`. Train metrics come from full-split evaluations."""

    def __init__(self, cfg: MLPConfig, x_train, y_train, x_test, y_test, n_classes: int):
        dtype = np.dtype(cfg.dtype)
        self.train_xy, self.test_xy = numpy_split(x_train, y_train, dtype), numpy_split(x_test, y_test, dtype)
        self.model = numpy_nn.MLP(self.train_xy[0].shape[1], cfg.hidden, n_classes, seed=cfg.seed, dtype=dtype)
        self.optimizer = numpy_nn.SGD(self.model.flat_parameters(), cfg.lr)  # one update for all arrays
        self.batches = EpochBatches(*self.train_xy, cfg.batch_size, cfg.seed)
        self.schedule = epoch_schedule(cfg, self.batches.steps_per_epoch)

    def train_step(self, step: int):
        x, y = self.batches.get(step)
        loss, dlogits = numpy_nn.CrossEntropy.from_logits(self.model.forward(x), y)
        self.model.backward(dlogits)
        self.optimizer.step()
        return loss * len(y), 0, len(y)  # train accuracy comes from the full-split evaluation

    def _eval_split(self, x, y) -> tuple[float, float]:
        logits = self.model.forward(x)
        loss, _ = numpy_nn.CrossEntropy.from_logits(logits, y)
        return loss, float((logits.argmax(axis=1) == y).mean())

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        return metrics_dict(self._eval_split(*self.train_xy), self._eval_split(*self.test_xy))

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])


class PopulationNumpyMLPTask:
    """S `NumpyMLPTask`s: the same data, one seed each."""

    def __init__(self, cfgs: list[MLPConfig], x_train, y_train, x_test, y_test, n_classes: int):
        cfg, seeds = cfgs[0], member_seeds(cfgs)
        dtype = np.dtype(cfg.dtype)
        self.train_xy, self.test_xy = numpy_split(x_train, y_train, dtype), numpy_split(x_test, y_test, dtype)
        self.size, self.lr = len(seeds), cfg.lr
        self.model = PopulationMLP(self.train_xy[0].shape[1], cfg.hidden, n_classes, seeds, dtype=dtype)
        self.active: np.ndarray | None = None  # which members still train; None while all do (the fast path)
        self.batches = PopulationBatches(*self.train_xy, cfg.batch_size, seeds)
        self.schedule = epoch_schedule(cfg, self.batches.steps_per_epoch)

    def train_step(self, step: int):
        x, y = self.batches.get(step)
        losses, dlogits = cross_entropy(self.model.forward(x), y)
        self.model.backward(dlogits)
        self.model.sgd_step(self.lr, self.active)
        return losses * y.shape[1], 0, y.shape[1]  # train accuracy comes from the full-split evaluation

    def _eval_split(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        S = self.size
        logits = self.model.forward(np.broadcast_to(x, (S, *x.shape)))
        losses, _ = cross_entropy(logits, np.broadcast_to(y, (S, len(y))))
        return losses, (logits.argmax(axis=2) == y).mean(axis=1)

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        (trl, tra), (tel, tea) = self._eval_split(*self.train_xy), self._eval_split(*self.test_xy)
        return [metrics_dict((trl[m], tra[m]), (tel[m], tea[m])) for m in range(self.size)]

    def freeze(self, member: int) -> None:
        if self.active is None:
            self.active = np.ones(self.size, dtype=bool)
        self.active[member] = False
        self.model.flat[member] = 0

    def state_dict(self, member: int) -> dict:
        return {"model": self.model.member_state_dict(member)}

    def load_state_dict(self, member: int, state: dict) -> None:
        self.model.load_member_state_dict(member, state["model"])
