"""Palindromes of digits for Part 3: the net reads the first L digits and must predict the last one.

A palindrome of L + 1 digits is fixed by its first ceil((L + 1) / 2) digits (drawn uniformly, leading
zeros allowed); the rest mirrors them. The target, the last digit, equals the first, so the net must
carry the first digit across the whole sequence.

Held out, or not: there are only 10^ceil((L + 1) / 2) palindromes of length L + 1 (1,000 at L = 5), so a
test set drawn like the training data is mostly seen in training at short lengths. Where the test set
takes at most 1 % of all sequences (`held_out_is_disjoint`: L >= 10 for 1,024 test sequences) training
draws exclude it (`sample(..., exclude=keys(test_digits))` redraws any sequence of the test set), so the
test set is held out. Below that every sequence is needed for training and the test set overlaps it;
`held_out_overlap` says by how much, for the report. This module imports torch only where it samples.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

from dlrepro.errors import ConfigError

if TYPE_CHECKING:
    import torch

KEY_DIGITS = 18  # a key is the first up-to-18 free digits as one int64


def n_free(input_length: int) -> int:
    """Number of free (drawn) digits of a palindrome with `input_length` inputs + 1 target."""
    return (input_length + 2) // 2


def n_sequences(input_length: int) -> int:
    """Number of distinct palindromes (input + target) of this input length."""
    return 10 ** n_free(input_length)


def held_out_is_disjoint(input_length: int, n_test: int) -> bool:
    """True where training excludes the test set: its n_test sequences are at most 1 % of all sequences."""
    return 100 * n_test <= n_sequences(input_length)


class HeldOutOverlap(NamedTuple):
    disjoint: bool  # training never draws a test sequence
    expected_seen: float  # expected fraction of the test set also drawn in training (0.0 when disjoint)
    n_sequences: int  # distinct palindromes of this length


def held_out_overlap(input_length: int, n_test: int, n_train: int) -> HeldOutOverlap:
    """Whether a test set of n_test palindromes is disjoint from n_train training draws (steps x batch),
    and otherwise the expected fraction of test samples that training also draws: 1 - (1 - 1/N)^n_train."""
    n = n_sequences(input_length)
    if held_out_is_disjoint(input_length, n_test):
        return HeldOutOverlap(True, 0.0, n)
    return HeldOutOverlap(False, -math.expm1(n_train * math.log1p(-1.0 / n)), n)


def keys(digits: torch.Tensor) -> torch.Tensor:
    """One int64 per sequence of input digits (batch, L), equal for equal sequences: its first free digits
    (at most 18; beyond that, sequences sharing them share a key, so excluding a key excludes a superset)."""
    return _free_keys(digits[:, : n_free(digits.shape[1])])


def _free_keys(free: torch.Tensor) -> torch.Tensor:
    import torch

    free = free[:, :KEY_DIGITS]
    powers = 10 ** torch.arange(free.shape[1] - 1, -1, -1, dtype=torch.int64)
    return free @ powers


def sample(batch_size: int, input_length: int, generator: torch.Generator,
           exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(digits (batch_size, input_length) int64, target (batch_size,) int64) drawn from `generator`.

    With `exclude` (from `keys`), a drawn sequence whose key is excluded is redrawn until none is."""
    import torch

    if input_length < 1:
        raise ConfigError(f"--input-length must be >= 1, got {input_length}")
    total = input_length + 1
    left = torch.randint(0, 10, (batch_size, n_free(input_length)), generator=generator)
    if exclude is not None:
        while (bad := torch.isin(_free_keys(left), exclude)).any():
            left[bad] = torch.randint(0, 10, (int(bad.sum()), left.shape[1]), generator=generator)
    full = torch.cat([left, left[:, : total // 2].flip(1)], dim=1)
    return full[:, :input_length], full[:, input_length]


def encode(digits: torch.Tensor, one_hot: bool = False, dtype=None) -> torch.Tensor:
    """(batch, time) digits -> (batch, time, 1) scalar values, or (batch, time, 10) one-hot vectors."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if one_hot:
        return torch.nn.functional.one_hot(digits, 10).to(dtype)
    return digits.unsqueeze(-1).to(dtype)


def input_dim(one_hot: bool) -> int:
    return 10 if one_hot else 1
