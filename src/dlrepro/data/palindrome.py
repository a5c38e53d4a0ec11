"""Palindromes of digits for Part 3: the net reads the first L digits and must predict the last one.

A palindrome of L + 1 digits is fixed by its first ceil((L + 1) / 2) digits (drawn uniformly, leading
zeros allowed); the rest mirrors them. The target, the last digit, equals the first, so the net must
carry the first digit across the whole sequence.
"""

from __future__ import annotations

import torch

from dlrepro.errors import ConfigError


def sample(batch_size: int, input_length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(digits (batch_size, input_length) int64, target (batch_size,) int64) drawn from `generator`."""
    if input_length < 1:
        raise ConfigError(f"--input-length must be >= 1, got {input_length}")
    total = input_length + 1
    half = (total + 1) // 2
    left = torch.randint(0, 10, (batch_size, half), generator=generator)
    full = torch.cat([left, left[:, : total // 2].flip(1)], dim=1)
    return full[:, :input_length], full[:, input_length]


def encode(digits: torch.Tensor, one_hot: bool = False, dtype=torch.float32) -> torch.Tensor:
    """(batch, time) digits -> (batch, time, 1) scalar values, or (batch, time, 10) one-hot vectors."""
    if one_hot:
        return torch.nn.functional.one_hot(digits, 10).to(dtype)
    return digits.unsqueeze(-1).to(dtype)


def input_dim(one_hot: bool) -> int:
    return 10 if one_hot else 1
