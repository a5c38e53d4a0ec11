"""How long a sweep's trials will take: a small table of per-kind costs, scaled by a one-second calibration.

The costs are seconds on the project's machine (2 cores, BENCHMARKS.md) for one trial in the local pool's
usual shape, two workers with one torch thread each, evaluations, the figure and the summary included:

- the vanilla RNN: per step (0.56 + 0.44 L) ms at batch 128, hidden 128, evaluated every 10 steps, the
  straight line through the palindrome study's 10,000-step runs of an idle quick reproduce (BENCHMARKS.md,
  "Whole studies"), divided by the calibration that run read (x0.7); the same at every learning rate (the
  lr 1e-2 runs took as long as the lr 1e-3 ones there); the LSTM 3.6x; other sizes in proportion to
  batch x hidden^2;
- the batch-1 MLPs: 20 us (NumPy) and 220 us (PyTorch) per step for one run, plus 1.4 and 7.7 us per
  further member of a seed population ("Seed populations");
- the PyTorch MLP on CIFAR-10: 12.8 us per training image and epoch, evaluations included (the quick
  profile's 50 epochs took 32 s);
- the ConvNet: 7.4 ms per training image at one thread, an evaluated image a third of that (the quick
  profile's 5 trials of 3 epochs on 2,000 images, each epoch evaluated on them and 1,000 test images, took
  221 s on 2 workers);
- 1 s per unit of work (a trial or a seed population: its start, checkpoint, figure and summary), and 4 s
  for starting the pool's workers (each imports torch; the first smoke reproduce takes 10.7 s).

`calibrate()` times two fixed workloads for about a second (a batch-1 NumPy MLP loop, bound by per-call
overhead like the small MLPs; a single-threaded float32 matmul, bound by arithmetic like the RNN and the
ConvNet) and divides by their times on the project's machine. On a loaded machine the calibration sees some
of the load, but a live sweep's estimate of the time left is measured from its own progress instead.
Each model kind names its cost function in dlrepro.registry.MODEL_KINDS (`cost`): `mlp_seconds`,
`rnn_seconds`, `cnn_seconds` below. A trial of a kind without one gets no estimate, and the plan says so.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import os
import statistics
import time
from dataclasses import dataclass

from dlrepro import registry
from dlrepro.data.cifar10 import TEST_SIZE, TRAIN_SIZE
from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig, RunConfig

UNIT_OVERHEAD_S = 1.0
POOL_START_S = 4.0                   # a sweep with work: starting its workers (each imports torch)
RNN_STEP_MS = (0.56, 0.44)           # (intercept, per input digit) at batch 128, hidden 128, eval every 10
CELL_FACTOR = {"rnn": 1.0, "lstm": 3.6}  # per step, relative to the vanilla RNN; other cells: the LSTM's
MLP_STEP_US = {"mlp-numpy": (20.0, 1.4), "mlp-torch": (220.0, 7.7)}  # (one run, each further member)
CIFAR_MLP_US_PER_IMAGE = 12.8
CNN_MS_PER_IMAGE = 7.4
CNN_EVAL_FRACTION = 1 / 3

# the calibration bursts' times on the project's machine (2-core AMD EPYC) when idle: the best of 3,000
# bursts a tenth (overhead) and a fifth (compute) the size, scaled up, taken while other sessions loaded the
# machine, so that the best bursts are the ones that had a core to themselves
REFERENCE_OVERHEAD_S = 0.00328
REFERENCE_COMPUTE_S = 0.00240


@dataclass(frozen=True)
class Scale:
    """This machine's speed relative to the project's: >1 is slower. `overhead` for the per-call-bound
    batch-1 MLPs, `compute` for the arithmetic-bound ConvNet and CIFAR-10 MLP, their mean for the RNNs."""
    overhead: float = 1.0
    compute: float = 1.0

    @property
    def mixed(self) -> float:
        return (self.overhead * self.compute) ** 0.5


# What bounds a kind's step time, and so which of the machine's Scale applies to it
OVERHEAD, COMPUTE, MIXED = "overhead", "compute", "mixed"


def _cost(cfg: RunConfig, members: int) -> tuple[float, str] | None:
    kind = registry.MODEL_KINDS.get(cfg.model)
    return None if kind is None or kind.cost is None else registry.load(kind.cost)(cfg, members)


def kind_scale(cfg: RunConfig, scale: Scale) -> float:
    bound = (_cost(cfg, 1) or (0.0, COMPUTE))[1]
    return getattr(scale, bound)


def _evaluations(epochs: int, every: int) -> int:
    return 1 + epochs // max(1, every) + (epochs % max(1, every) != 0)  # at 0, every N, and at the end


def trial_seconds(cfg: RunConfig, members: int = 1) -> float | None:
    """Seconds one trial (or a seed population of `members`) takes on the project's machine, in the pool's
    usual shape, without the unit's overhead; None for a kind without a cost."""
    cost = _cost(cfg, members)
    return None if cost is None else cost[0]


def rnn_seconds(cfg: RNNConfig, members: int = 1) -> tuple[float, str]:
    """The recurrent nets: (seconds, what bounds them), from the per-step line of the module docstring."""
    per_step_ms = (RNN_STEP_MS[0] + RNN_STEP_MS[1] * cfg.input_length)
    per_step_ms *= max(0.05, cfg.batch_size * cfg.hidden ** 2 / 128 ** 3)
    per_step_ms *= CELL_FACTOR.get(cfg.cell, CELL_FACTOR["lstm"])
    return cfg.steps * per_step_ms / 1000 * members, MIXED


def mlp_seconds(cfg: MLPConfig, members: int = 1) -> tuple[float, str] | None:
    """The MLPs: on CIFAR-10 per image (arithmetic), on a toy set per batch-1 step (per-call overhead)."""
    width = max(1.0, sum(cfg.hidden) / 20)
    if cfg.data_source is not None:
        return cfg.epochs * TRAIN_SIZE * CIFAR_MLP_US_PER_IMAGE * width / 1e6, COMPUTE
    if cfg.model not in MLP_STEP_US:
        return None
    one, more = MLP_STEP_US[cfg.model]
    n_train = round(cfg.n_samples * 0.8)
    steps = cfg.epochs * -(-n_train // cfg.batch_size)
    return steps * (one + more * (members - 1)) * width / 1e6, OVERHEAD


def cnn_seconds(cfg: CNNConfig, members: int = 1) -> tuple[float, str]:
    """The ConvNet: per training image, an evaluated image a fraction of that."""
    train = cfg.subset or TRAIN_SIZE
    test = cfg.test_subset or TEST_SIZE
    evaluated = _evaluations(cfg.epochs, cfg.eval_every) * (train + test)
    images = cfg.epochs * train + CNN_EVAL_FRACTION * evaluated
    return images * CNN_MS_PER_IMAGE / 1000 * members, COMPUTE


def unit_seconds(cfgs: list[RunConfig], scale: Scale = Scale()) -> float | None:
    """Seconds for one unit of work on this machine: one trial, or configs that train as one population
    (they differ only in seed, or in their kind's member_settings, so the population's cost is that of its first
    config's kind at len(cfgs))."""
    base = trial_seconds(cfgs[0], members=len(cfgs))
    return None if base is None else UNIT_OVERHEAD_S + base * kind_scale(cfgs[0], scale)


def makespan(durations: list[float], workers: int) -> float:
    """Wall time of `durations` on `workers` slots, longest first to the least loaded slot (as a pool that
    hands the next unit to the first free worker does, up to the order)."""
    slots = [0.0] * max(1, min(workers, len(durations) or 1))
    for d in sorted(durations, reverse=True):
        heapq.heapreplace(slots, slots[0] + d)
    return max(slots)


@dataclass(frozen=True)
class Estimate:
    seconds: float          # wall time of the units that have an estimate
    units: int              # units of work to run
    unknown: int = 0        # trials of kinds without a cost in the table

    def text(self) -> str:
        unknown = f" (+ {self.unknown} trial(s) of a kind without a cost estimate)" if self.unknown else ""
        return f"about {duration(self.seconds)}{unknown}"


def estimate_units(units: list[list[RunConfig]], workers: int, scale: Scale = Scale()) -> Estimate:
    """The wall time of these units of work on `workers` slots of this machine (`scale`)."""
    known: list[float] = []
    unknown = 0
    for unit in units:
        s = unit_seconds(unit, scale)
        if s is None:
            unknown += len(unit)
        else:
            known.append(s)
    start = POOL_START_S * scale.overhead if units else 0.0
    return Estimate(start + makespan(known, workers), len(units), unknown)


def duration(seconds: float) -> str:
    """'45 s', '12 min', '1 h 40 min', '3.5 days': as precise as an estimate deserves."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        h, m = divmod(round(seconds / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{seconds / 86400:.1f} days"


def clock(seconds: float) -> str:
    """Elapsed time for a live line: '42s', '3m05s', '1h02m'."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _overhead_workload(steps: int = 250) -> None:
    """`steps` SGD steps of a batch-1 2-16-2 MLP in plain NumPy, as the toy studies' inner loop."""
    import numpy as np

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(2, 16)), rng.normal(size=(16, 2))
    x = rng.normal(size=(1, 2))
    for _ in range(steps):
        h = np.maximum(x @ w1, 0.0)
        g = h @ w2
        g = g - g.max()
        dz = np.exp(g) / np.exp(g).sum()
        dz[0, 0] -= 1.0
        w2 -= 0.01 * h.T @ dz
        w1 -= 0.01 * x.T @ ((dz @ w2.T) * (h > 0))


def _compute_workload(matmuls: int = 5) -> None:
    """`matmuls` float32 256 x 256 matmuls on one thread: arithmetic, like the RNN's and the ConvNet's."""
    import numpy as np

    a = np.full((256, 256), 0.5, dtype=np.float32)
    b = np.full((256, 256), 0.25, dtype=np.float32)
    for _ in range(matmuls):
        a @ b


def time_workloads(budget_s: float = 1.0, least: int = 5) -> tuple[list[float], list[float]]:
    """Times of short bursts of the two workloads, alternating, for about `budget_s` (at least `least`
    of each), with NumPy's BLAS on one thread as a pool worker's torch is."""
    try:  # scikit-learn's dependency
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
        limit: contextlib.AbstractContextManager = threadpool_limits(1)
    except ImportError:
        limit = contextlib.nullcontext()
    overhead: list[float] = []
    compute: list[float] = []
    start = time.perf_counter()
    with limit:
        _overhead_workload()  # warm-up: NumPy's first calls
        _compute_workload()
        while len(overhead) < least or time.perf_counter() - start < budget_s:
            for fn, times in ((_overhead_workload, overhead), (_compute_workload, compute)):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
    return overhead, compute


@functools.cache
def calibrate(budget_s: float = 1.0) -> Scale:
    """This machine's Scale now: the median burst of each workload over its time on the project's machine
    when idle (so the load of other work on the machine counts in). About a second; cached for the process.
    DLREPRO_CALIBRATION=off skips it (Scale 1: the project's idle machine)."""
    if os.environ.get("DLREPRO_CALIBRATION") == "off":
        return Scale()
    overhead, compute = time_workloads(budget_s)
    return Scale(statistics.median(overhead) / REFERENCE_OVERHEAD_S, statistics.median(compute) / REFERENCE_COMPUTE_S)


def plan_estimate(trials: list, workers: int | None = None, vectorize: bool = True,
                  scale: Scale | None = None) -> Estimate:
    """The estimate for the trials of a sweep that still have to run, grouped into units of work as the
    local pool groups them, on `workers` slots (default: one per core). Calibrates when there is work."""
    from dlrepro.sweep.local import plan_units
    from dlrepro.sweep.trials import already_done

    todo = [(cfg, d) for cfg, d in trials if already_done(cfg, d) is None]
    if not todo:
        return Estimate(0.0, 0)
    units = [[todo[i][0] for i in unit] for unit in plan_units(todo, vectorize)]
    return estimate_units(units, workers or os.cpu_count() or 1, scale or calibrate())
