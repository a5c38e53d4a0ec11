"""One seed, independent random streams per purpose.

A run's seed fixes its initial weights directly (`np.random.default_rng(seed)` for the NumPy MLP,
`torch.Generator().manual_seed(seed)` / `torch.manual_seed(seed)` for the PyTorch nets). Every other
purpose draws from its own child of `np.random.SeedSequence(seed)`, `SeedSequence(seed, spawn_key=(purpose,
...))` (what `SeedSequence(seed).spawn` hands out), so no two purposes share draws: before this, the RNN's
first training batch and its weights came from the same generator state, and the MLP's first epoch order
from the same NumPy state as its weights (`default_rng(seed)` equals `default_rng([seed, 0])`).

    ORDER    the sample order of each epoch (`train.batches.epoch_permutation`), NumPy and PyTorch twins alike
    DATA     the palindromes a recurrent net trains on
    AUGMENT  the ConvNet's random crops and flips

`seed_globals` seeds the generators a model may draw from without being handed one (Python's `random`,
NumPy's global, torch's global): a run calls it with its seed before building any model, so that a user's
class with an `nn.Linear` inside gives the same numbers on every run of the same config. The built-in models
draw nothing from them (their draws come from the generators above), so their numbers do not change.
"""

from __future__ import annotations

import random
import sys

import numpy as np

ORDER, DATA, AUGMENT = 1, 2, 3


def seed_sequence(seed: int, purpose: int, *keys: int) -> np.random.SeedSequence:
    """The child of `SeedSequence(seed)` for `purpose` (and optional sub-keys, e.g. the epoch)."""
    return np.random.SeedSequence(seed, spawn_key=(purpose, *keys))


def numpy_rng(seed: int, purpose: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(seed_sequence(seed, purpose, *keys))


def torch_seed(seed: int, purpose: int, *keys: int) -> int:
    """A 63-bit seed for `torch.Generator.manual_seed`, drawn from the purpose's child sequence."""
    return int(seed_sequence(seed, purpose, *keys).generate_state(1, np.uint64)[0] >> np.uint64(1))


def torch_generator(seed: int, purpose: int, device="cpu"):
    import torch

    return torch.Generator(device=device).manual_seed(torch_seed(seed, purpose))


def seed_globals(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and, when torch is loaded, torch's global generator
    (which also seeds every GPU's) from `seed`. A NumPy-only run does not import torch for this."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
