"""Epoch-based minibatches shared by every epoch-based task, NumPy or PyTorch.

The order of epoch e is a permutation drawn from the seed's ORDER stream for epoch e
(`dlrepro.seeds.numpy_rng(seed, ORDER, e)`, independent of the weights the seed draws): it depends only on
(seed, epoch), so two implementations with the same seed visit the samples in the same order, and a
resumed run needs no sampler state. That is order `each`; order `once` visits every epoch in epoch 0's
order (shuffled once before training), order `none` in the dataset's order.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from dlrepro import seeds

if TYPE_CHECKING:
    import torch


ORDERS = ("each", "once", "none")


def epoch_permutation(n: int, seed: int, epoch: int, order: str = "each") -> np.ndarray:
    """The order of the n samples in `epoch` under `order` (ORDERS)."""
    if order == "none":
        return np.arange(n)
    return seeds.numpy_rng(seed, seeds.ORDER, epoch if order == "each" else 0).permutation(n)


class EpochBatches:
    """`get(step)` -> (x, y) of the step's minibatch; the last batch of an epoch may be smaller.

    Works on NumPy arrays and torch tensors alike. NumPy arrays, and tensors at batch size 1, are re-ordered
    once per epoch, so each step takes a contiguous slice (cheaper than gathering indices at batch size 1).
    Tensors in larger batches gather each step's rows (`index_select` of the epoch's permutation slice): the
    same rows, without copying the whole training set every epoch (for CIFAR-10, 150 MB: about a quarter of
    the CIFAR-10 MLP's epoch, see BENCHMARKS.md).
    """

    def __init__(self, x, y, batch_size: int, seed: int, order: str = "each"):
        if order not in ORDERS:
            raise ValueError(f"unknown order {order!r}")
        self.x, self.y, self.batch_size, self.seed, self.order = x, y, batch_size, seed, order
        self.n = len(y)
        self.steps_per_epoch = math.ceil(self.n / batch_size)
        self._epoch = -1
        self.per_step = not isinstance(x, np.ndarray) and batch_size > 1  # gather each step's rows (tensors)

    def _permutation(self, epoch: int) -> np.ndarray:
        return epoch_permutation(self.n, self.seed, epoch, self.order)

    def _key(self, epoch: int) -> int:
        """Epochs of equal key share one order (and so one gather): all of them unless the order is `each`."""
        return epoch if self.order == "each" else 0

    def _reorder(self, epoch: int) -> None:
        perm: np.ndarray | torch.Tensor = self._permutation(epoch)
        if not isinstance(self.x, np.ndarray):  # a tensor: torch is imported only by the tasks that use it
            import torch

            perm = torch.from_numpy(perm).to(self.x.device)
        self._epoch = self._key(epoch)
        if self.per_step:
            self._perm = perm
        else:
            self._xe, self._ye = self.x[perm], self.y[perm]

    def get(self, step: int):
        epoch, i = divmod(step, self.steps_per_epoch)
        if self._key(epoch) != self._epoch:
            self._reorder(epoch)
        lo = i * self.batch_size
        if self.per_step:
            rows = self._perm[lo:lo + self.batch_size]
            return self.x.index_select(0, rows), self.y.index_select(0, rows)
        return self._xe[lo:lo + self.batch_size], self._ye[lo:lo + self.batch_size]


class PopulationBatches(EpochBatches):
    """`EpochBatches` for S seeds at once: `get(step)` -> x (S, B, ...), y (S, B), where row s is exactly
    what `EpochBatches(x, y, batch_size, seeds[s]).get(step)` returns. One gather per epoch, then each step
    is a slice, so S members cost no more NumPy / torch calls per step than one."""

    def __init__(self, x, y, batch_size: int, seeds: list[int], order: str = "each"):
        super().__init__(x, y, batch_size, seeds[0], order)
        self.seeds, self.per_step = list(seeds), False

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.stack([epoch_permutation(self.n, s, epoch, self.order) for s in self.seeds])  # (S, n)

    def get(self, step: int):
        epoch, i = divmod(step, self.steps_per_epoch)
        if self._key(epoch) != self._epoch:
            self._reorder(epoch)
        lo = i * self.batch_size
        return self._xe[:, lo:lo + self.batch_size], self._ye[:, lo:lo + self.batch_size]
