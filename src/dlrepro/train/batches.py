"""Epoch-based minibatches shared by every epoch-based task, NumPy or PyTorch.

The order of epoch e is a permutation drawn from the seed's ORDER stream for epoch e
(`dlrepro.seeds.numpy_rng(seed, ORDER, e)`, independent of the weights the seed draws): it depends only on
(seed, epoch), so two implementations with the same seed visit the samples in the same order, and a
resumed run needs no sampler state.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from dlrepro import seeds

if TYPE_CHECKING:
    import torch


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return seeds.numpy_rng(seed, seeds.ORDER, epoch).permutation(n)


class EpochBatches:
    """`get(step)` -> (x, y) of the step's minibatch; the last batch of an epoch may be smaller.

    Works on NumPy arrays and torch tensors alike. The data is re-ordered once per epoch, so each step
    takes a contiguous slice (cheaper than gathering indices at batch size 1).
    """

    def __init__(self, x, y, batch_size: int, seed: int):
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.n = len(y)
        self.steps_per_epoch = math.ceil(self.n / batch_size)
        self._epoch = -1

    def _permutation(self, epoch: int) -> np.ndarray:
        return epoch_permutation(self.n, self.seed, epoch)

    def _reorder(self, epoch: int) -> None:
        perm: np.ndarray | torch.Tensor = self._permutation(epoch)
        if not isinstance(self.x, np.ndarray):  # a tensor: torch is imported only by the tasks that use it
            import torch

            perm = torch.from_numpy(perm).to(self.x.device)
        self._xe, self._ye, self._epoch = self.x[perm], self.y[perm], epoch

    def get(self, step: int):
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._reorder(epoch)
        lo = i * self.batch_size
        return self._xe[lo:lo + self.batch_size], self._ye[lo:lo + self.batch_size]


class PopulationBatches(EpochBatches):
    """`EpochBatches` for S seeds at once: `get(step)` -> x (S, B, ...), y (S, B), where row s is exactly
    what `EpochBatches(x, y, batch_size, seeds[s]).get(step)` returns. One gather per epoch, then each step
    is a slice, so S members cost no more NumPy / torch calls per step than one."""

    def __init__(self, x, y, batch_size: int, seeds: list[int]):
        super().__init__(x, y, batch_size, seeds[0])
        self.seeds = list(seeds)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.stack([epoch_permutation(self.n, s, epoch) for s in self.seeds])  # (S, n)

    def get(self, step: int):
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._reorder(epoch)
        lo = i * self.batch_size
        return self._xe[:, lo:lo + self.batch_size], self._ye[:, lo:lo + self.batch_size]
