"""The one training loop. NumPy and PyTorch models plug into it through the small `Task` interface.

The engine owns the schedule (steps, epochs, evaluation cadence), the metrics, divergence detection,
checkpoints and resume. It knows nothing about files: a `Sink` (see `dlrepro.runs`) stores what it emits.

It trains populations: S models that step together (parameters stacked along a leading model axis, see
`dlrepro.train.population`), each member with its own sink, metrics, checkpoints and status. A single run
is a population of one (`Solo`), so both go through the same loop. A member whose running loss turns
non-finite is marked diverged, checkpointed, and frozen, while the others go on.

Resume is exact: a task's `state_dict` holds everything that shapes the future (weights, optimizer state,
random streams), checkpoints are taken right after an evaluation, and on resume the metrics logged after
the checkpoint are dropped, so a resumed run logs the same rows as an uninterrupted one. A population
member's checkpoint has the same format as the single run's, so either can resume the other.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from dlrepro.errors import ConfigError

METRIC_KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")


def metrics_dict(train: tuple[float, float], test: tuple[float, float]) -> dict[str, float]:
    """(loss, acc) of the train and test splits -> the four METRIC_KEYS."""
    return dict(zip(METRIC_KEYS, (*train, *test), strict=True))


@dataclass(frozen=True)
class Schedule:
    total_steps: int
    eval_every: int                  # evaluate every this many steps (and at step 0 and at the end)
    steps_per_epoch: int | None = None  # None for step-based tasks: `epoch` is then logged as null

    def epoch(self, step: int) -> float | None:
        return None if self.steps_per_epoch is None else step / self.steps_per_epoch


def as_numpy(x) -> np.ndarray:
    """A float, NumPy array or tensor (on any device) as a float64 NumPy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


@dataclass
class BatchStats:
    """Running sums over the training batches since the last evaluation: floats or 0-d tensors for a
    single run, arrays / tensors of shape (S,) for a population (one entry per member)."""
    loss_sum: Any = 0.0
    correct: Any = 0.0
    count: int = 0

    def add(self, loss_sum, correct, count: int) -> None:
        self.loss_sum = self.loss_sum + loss_sum
        self.correct = self.correct + correct
        self.count += count

    def means(self) -> tuple[Any, Any]:
        """(mean loss, accuracy): floats for a single run, (S,) arrays for a population."""
        if self.count == 0:
            return math.nan, math.nan
        loss, correct = as_numpy(self.loss_sum) / self.count, as_numpy(self.correct) / self.count
        return (float(loss), float(correct)) if loss.ndim == 0 else (loss, correct)


class Task(Protocol):
    """What the engine trains. `train_step` returns (sum of losses, number correct, batch size)."""
    schedule: Schedule

    def train_step(self, step: int) -> tuple[Any, Any, int]: ...

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        """The four METRIC_KEYS, in eval mode without gradients. `batches` are the training batches
        since the previous evaluation, for tasks whose train metrics average them (step-based ones)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class PopulationTask(Protocol):
    """S members trained at once. `train_step` returns per-member (S,) loss sums and numbers correct,
    and the (shared) batch size; `evaluate` returns one METRIC_KEYS dict per member. Member states use
    the single task's `state_dict` format. `freeze(m)` stops member m's updates for good."""
    schedule: Schedule
    size: int

    def train_step(self, step: int) -> tuple[Any, Any, int]: ...

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]: ...

    def state_dict(self, member: int) -> dict: ...

    def load_state_dict(self, member: int, state: dict) -> None: ...

    def freeze(self, member: int) -> None: ...


class Solo:
    """A single `Task` as a population of one."""
    size = 1

    def __init__(self, task: Task):
        self.task, self.schedule, self.train_step = task, task.schedule, task.train_step

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        return [self.task.evaluate(batches)]

    def state_dict(self, member: int) -> dict:
        return self.task.state_dict()

    def load_state_dict(self, member: int, state: dict) -> None:
        self.task.load_state_dict(state)

    def freeze(self, member: int) -> None:
        pass  # the loop ends when its only member stops

class Sink(Protocol):
    def load_checkpoint(self) -> dict | None: ...

    def save_checkpoint(self, checkpoint: dict) -> None: ...

    def restart_metrics(self, up_to_step: int) -> None: ...

    def log_metrics(self, row: dict) -> None: ...


@dataclass
class Outcome:
    status: str      # "completed" or "diverged"
    steps: int
    wall_time_s: float
    last: dict       # the last metrics row


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)


def fit(task: Task, sink: Sink, *, progress: bool | None = None, checkpoint_every_s: float = 10.0,
        check_every: int = 50, desc: str = "train") -> Outcome:
    """Train one `task` to the end of its schedule, logging metrics and checkpoints to `sink`.

    progress: show a tqdm bar (None: only when stderr is a terminal).
    checkpoint_every_s: least wall time between checkpoints at evaluations; the last one is always saved.
    check_every: steps between divergence checks (the running loss is inspected for NaN/inf).
    """
    return fit_population(Solo(task), [sink], progress=progress, checkpoint_every_s=checkpoint_every_s,
                          check_every=check_every, desc=desc)[0]


def fit_population(task: PopulationTask, sinks: list[Sink], *, progress: bool | None = None,
                   checkpoint_every_s: float = 10.0, check_every: int = 50, desc: str = "train") -> list[Outcome]:
    """Train every member of `task` to the end of the schedule (or to its divergence); member m logs
    to sinks[m]. Arguments as for `fit`. Returns one Outcome per member."""
    sched, n = task.schedule, task.size
    if len(sinks) != n:
        raise ValueError(f"{n} members but {len(sinks)} sinks")
    start = time.perf_counter()
    checkpoints = [sink.load_checkpoint() for sink in sinks]
    resumed = checkpoints[0] is not None
    if any((c is not None) != resumed or (c is not None and c["step"] != checkpoints[0]["step"])
           for c in checkpoints):
        raise ConfigError("the members of this population were checkpointed at different steps; "
                          "resume them in groups of equal steps")
    step, before, last = 0, [0.0] * n, [None] * n
    if resumed:
        for m, c in enumerate(checkpoints):
            task.load_state_dict(m, c["task"])
            before[m], last[m] = c["elapsed_s"], c["last"]
        step = checkpoints[0]["step"]
    for sink in sinks:
        sink.restart_metrics(up_to_step=step if resumed else -1)

    def elapsed(m: int) -> float:
        return before[m] + time.perf_counter() - start

    batches = BatchStats()

    def evaluate(members: list[int]) -> None:
        metrics = task.evaluate(batches)
        for m in members:
            row = {"step": step, "epoch": sched.epoch(step)}
            row.update({k: (float(metrics[m][k]) if _finite(metrics[m][k]) else None) for k in METRIC_KEYS})
            row["elapsed_s"] = round(elapsed(m), 4)
            sinks[m].log_metrics(row)
            last[m] = row

    def save(members: list[int]) -> None:
        for m in members:
            sinks[m].save_checkpoint({"step": step, "elapsed_s": elapsed(m), "last": last[m],
                                      "task": task.state_dict(m)})

    if not resumed:
        evaluate(list(range(n)))
    status, steps, wall = ["completed"] * n, [sched.total_steps] * n, [None] * n
    active = list(range(n))
    last_save = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=sched.total_steps, initial=step, desc=desc, disable=not show, leave=False,
               dynamic_ncols=True, file=sys.stderr)
    check_every = max(1, min(check_every, sched.eval_every))
    try:
        while step < sched.total_steps and active:
            batches.add(*task.train_step(step))
            step += 1
            at_eval = step % sched.eval_every == 0 or step == sched.total_steps
            if step % check_every == 0 or at_eval:
                bar.update(step - bar.n)
                finite = np.isfinite(as_numpy(batches.loss_sum)).reshape(-1)
                diverged = [m for m in active if not finite[m]]
                if diverged:
                    evaluate(diverged)
                    save(diverged)
                    for m in diverged:
                        status[m], steps[m], wall[m] = "diverged", step, elapsed(m)
                        task.freeze(m)
                    active = [m for m in active if finite[m]]
            if at_eval and active:
                evaluate(active)
                batches = BatchStats()
                accs = [last[m]["test_acc"] for m in active if last[m]["test_acc"] is not None]
                if accs:
                    bar.set_postfix(test_acc=f"{accs[0]:.3f}" if n == 1 else f"{min(accs):.3f}-{max(accs):.3f}")
                if step == sched.total_steps or time.perf_counter() - last_save >= checkpoint_every_s:
                    save(active)
                    last_save = time.perf_counter()
    finally:
        bar.close()
    return [Outcome(status=status[m], steps=steps[m], wall_time_s=wall[m] if wall[m] is not None else elapsed(m),
                    last=last[m]) for m in range(n)]
