"""How many torch threads `dlrepro train` gives a run: by model kind (dlrepro.registry.MODEL_KINDS, its
`threads`), from measurements.

Torch's default is one thread per core. The small models gain nothing from more (the RNN at batch 128, the
batch-1 MLPs: bound by per-call overhead), and two such runs started side by side then put four spinning
threads on two cores and each runs several times slower. So they take one thread; the ConvNet, measured
faster with every core, takes them all. `benchmarks/threads.py` measures each kind at 1 and at all threads
and the side-by-side case (BENCHMARKS.md, "Threads"). `--threads N` overrides the table, and an
OMP_NUM_THREADS the user set is respected (torch reads it itself). A sweep sets its workers' threads itself
(cores // workers, dlrepro.sweep.local; one per Ray trial).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dlrepro.registry import ALL_CORES, MODEL_KINDS
from dlrepro.train.config import RunConfig

# a seed population (train --seeds, several members at once) does several times the arithmetic of one run
# and takes every core
POPULATION_THREADS = ALL_CORES


def train_threads(configs: list[RunConfig], requested: int | None = None, population: bool = False,
                  env: Mapping[str, str] = os.environ) -> int | None:
    """The torch threads for `train` to set, or None to leave torch alone (a NumPy run, which never imports
    torch, or a user's OMP_NUM_THREADS). `requested`: --threads."""
    if requested is not None:
        return requested
    kind = MODEL_KINDS.get(configs[0].model)
    if kind is None or kind.threads is None or env.get("OMP_NUM_THREADS", "").strip():
        return None
    n = POPULATION_THREADS if population and len(configs) > 1 else kind.threads
    return n or (os.cpu_count() or 1)


def set_threads(n: int | None) -> None:
    """torch.set_num_threads(n) unless n is None (then torch is not even imported)."""
    if n is not None:
        import torch

        torch.set_num_threads(n)
