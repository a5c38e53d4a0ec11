"""The one training loop. NumPy and PyTorch models plug into it through the small `Task` interface.

The engine owns the schedule (steps, epochs, evaluation cadence), the metrics, divergence detection,
checkpoints and resume. It knows nothing about files: a `Sink` (see `dlrepro.runs`) stores what it emits.

It trains populations: S models that step together (parameters stacked along a leading model axis, see
`dlrepro.models.stacked`; each population task sits beside its single-run twin, e.g.
`dlrepro.train.rnn_task`), each member with its own sink, metrics, checkpoints and status. A single run
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import numpy as np
from tqdm import tqdm

from dlrepro.errors import ConfigError
from dlrepro.run_format import METRIC_KEYS

if TYPE_CHECKING:
    import torch


# A training statistic: a number for a single run, an (S,) array or tensor for a population (any device).
Stat: TypeAlias = "float | np.ndarray | torch.Tensor"
Row: TypeAlias = "dict[str, float | None]"  # one metrics row: step, epoch, the METRIC_KEYS, elapsed_s
State: TypeAlias = "dict[str, Any]"  # a task's (or a member's) state_dict, and a checkpoint


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


def as_numpy(x: Stat) -> np.ndarray:
    """A float, NumPy array or tensor (on any device) as a float64 NumPy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


@dataclass
class BatchStats:
    """Running sums over the training batches since the last evaluation: floats or 0-d tensors for a
    single run, arrays / tensors of shape (S,) for a population (one entry per member)."""
    loss_sum: Stat = 0.0
    correct: Stat = 0.0
    count: int = 0

    def add(self, loss_sum: Stat, correct: Stat, count: int) -> None:
        self.loss_sum = self.loss_sum + loss_sum
        self.correct = self.correct + correct
        self.count += count

    def means(self) -> tuple[float, float]:
        """(mean loss, accuracy) of a single run's batches (NaN before any)."""
        if self.count == 0:
            return math.nan, math.nan
        loss, acc = self.member_means()
        return float(loss), float(acc)

    def member_means(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean loss, accuracy) of a population's batches: (S,) arrays, one entry per member."""
        return as_numpy(self.loss_sum) / self.count, as_numpy(self.correct) / self.count


class Task(Protocol):
    """What the engine trains. `train_step` returns (sum of losses, number correct, batch size)."""
    schedule: Schedule

    def train_step(self, step: int) -> tuple[Stat, Stat, int]: ...

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        """The four METRIC_KEYS, in eval mode without gradients. `batches` are the training batches
        since the previous evaluation, for tasks whose train metrics average them (step-based ones)."""
        ...

    def state_dict(self) -> State: ...

    def load_state_dict(self, state: State) -> None: ...


class PopulationTask(Protocol):
    """S members trained at once. `train_step` returns per-member (S,) loss sums and numbers correct,
    and the (shared) batch size; `evaluate` returns one METRIC_KEYS dict per member. Member states use
    the single task's `state_dict` format. `freeze(m)` stops member m's updates for good."""
    schedule: Schedule
    size: int

    def train_step(self, step: int) -> tuple[Stat, Stat, int]: ...

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]: ...

    def state_dict(self, member: int) -> State: ...

    def load_state_dict(self, member: int, state: State) -> None: ...

    def freeze(self, member: int) -> None: ...


class Solo:
    """A single `Task` as a population of one."""
    size = 1

    train_step: Callable[[int], tuple[Stat, Stat, int]]

    def __init__(self, task: Task):
        self.task, self.schedule = task, task.schedule
        self.train_step = task.train_step  # the task's own method: no extra call per step

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        return [self.task.evaluate(batches)]

    def state_dict(self, member: int) -> State:
        return self.task.state_dict()

    def load_state_dict(self, member: int, state: State) -> None:
        self.task.load_state_dict(state)

    def freeze(self, member: int) -> None:
        pass  # the loop ends when its only member stops


class Sink(Protocol):
    """Where one run's metrics and checkpoints go (`dlrepro.runs.rundir.RunDir`, or memory in tests).
    A checkpoint holds "step", "elapsed_s", "last" (the last metrics row) and "task" (its state_dict)."""

    def load_checkpoint(self) -> State | None: ...

    def save_checkpoint(self, checkpoint: State) -> None: ...

    def restart_metrics(self, up_to_step: int) -> None: ...

    def log_metrics(self, row: Row) -> None: ...


@dataclass
class Outcome:
    status: str      # "completed" or "diverged"
    steps: int
    wall_time_s: float


@dataclass
class Member:
    """One population member's progress in `fit_population`."""
    index: int
    sink: Sink
    before_s: float = 0.0            # wall time of the sessions before a resume
    last: Row | None = None          # the last metrics row logged
    outcome: Outcome | None = None   # set when it diverges


def _finite(x: float | None) -> bool:
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
    sched = task.schedule
    if len(sinks) != task.size:
        raise ValueError(f"{task.size} members but {len(sinks)} sinks")
    start = time.perf_counter()
    members = [Member(m, sink) for m, sink in enumerate(sinks)]
    checkpoints = [sink.load_checkpoint() for sink in sinks]
    if len({None if c is None else c["step"] for c in checkpoints}) > 1:
        raise ConfigError("the members of this population were checkpointed at different steps; "
                          "resume them in groups of equal steps")
    resumed, step = False, 0
    for member, c in zip(members, checkpoints, strict=True):
        if c is not None:
            task.load_state_dict(member.index, c["task"])
            member.before_s, member.last = c["elapsed_s"], c["last"]
            resumed, step = True, c["step"]
    for member in members:
        member.sink.restart_metrics(up_to_step=step if resumed else -1)

    def elapsed(member: Member) -> float:
        return member.before_s + time.perf_counter() - start

    batches = BatchStats()

    def evaluate(which: list[Member]) -> None:
        metrics = task.evaluate(batches)
        for member in which:
            values = metrics[member.index]
            row: Row = {"step": step, "epoch": sched.epoch(step)}
            row.update({k: (float(values[k]) if _finite(values[k]) else None) for k in METRIC_KEYS})
            row["elapsed_s"] = round(elapsed(member), 4)
            member.sink.log_metrics(row)
            member.last = row

    def save(which: list[Member]) -> None:
        for member in which:
            member.sink.save_checkpoint({"step": step, "elapsed_s": elapsed(member), "last": member.last,
                                         "task": task.state_dict(member.index)})

    if not resumed:
        evaluate(members)
    active = members
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
                diverged = [member for member in active if not finite[member.index]]
                if diverged:
                    evaluate(diverged)
                    save(diverged)
                    for member in diverged:
                        member.outcome = Outcome(status="diverged", steps=step, wall_time_s=elapsed(member))
                        task.freeze(member.index)
                    active = [member for member in active if finite[member.index]]
            if at_eval and active:
                evaluate(active)
                batches = BatchStats()
                accs = [acc for member in active if member.last and (acc := member.last["test_acc"]) is not None]
                if accs:
                    bar.set_postfix(test_acc=f"{accs[0]:.3f}" if task.size == 1 else f"{min(accs):.3f}-{max(accs):.3f}")
                if step == sched.total_steps or time.perf_counter() - last_save >= checkpoint_every_s:
                    save(active)
                    last_save = time.perf_counter()
    finally:
        bar.close()
    return [member.outcome or Outcome(status="completed", steps=sched.total_steps, wall_time_s=elapsed(member))
            for member in members]
