"""The one training loop. NumPy and PyTorch models plug into it through the small `Task` interface.

The engine owns the schedule (steps, epochs, evaluation cadence), the metrics, divergence detection,
checkpoints and resume. It knows nothing about files: a `Sink` (see `dlrepro.runs`) stores what it emits.

Resume is exact: a task's `state_dict` holds everything that shapes the future (weights, optimizer state,
random streams), checkpoints are taken right after an evaluation, and on resume the metrics logged after
the checkpoint are dropped, so a resumed run logs the same rows as an uninterrupted one.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

from tqdm import tqdm

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


@dataclass
class BatchStats:
    """Running sums over the training batches since the last evaluation (floats or 0-d tensors)."""
    loss_sum: Any = 0.0
    correct: Any = 0.0
    count: int = 0

    def add(self, loss_sum, correct, count: int) -> None:
        self.loss_sum = self.loss_sum + loss_sum
        self.correct = self.correct + correct
        self.count += count

    def means(self) -> tuple[float, float]:
        if self.count == 0:
            return math.nan, math.nan
        return float(self.loss_sum) / self.count, float(self.correct) / self.count


class Task(Protocol):
    """What the engine trains. `train_step` returns (sum of losses, number correct, batch size)."""
    schedule: Schedule

    def train_step(self, step: int) -> tuple[Any, Any, int]: ...

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        """The four METRIC_KEYS, in eval mode without gradients. `batches` are the training batches
        since the previous evaluation, for tasks whose train metrics average them (step-based ones)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


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
    """Train `task` to the end of its schedule, logging metrics and checkpoints to `sink`.

    progress: show a tqdm bar (None: only when stderr is a terminal).
    checkpoint_every_s: least wall time between checkpoints at evaluations; the last one is always saved.
    check_every: steps between divergence checks (the running loss is inspected for NaN/inf).
    """
    sched = task.schedule
    start = time.perf_counter()
    step, elapsed_before, last_row = 0, 0.0, None
    checkpoint = sink.load_checkpoint()
    if checkpoint is not None:
        task.load_state_dict(checkpoint["task"])
        step, elapsed_before, last_row = checkpoint["step"], checkpoint["elapsed_s"], checkpoint["last"]
    sink.restart_metrics(up_to_step=step if checkpoint is not None else -1)

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - start

    batches = BatchStats()

    def evaluate() -> dict:
        metrics = task.evaluate(batches)
        row = {"step": step, "epoch": sched.epoch(step)}
        row.update({k: (float(metrics[k]) if _finite(metrics[k]) else None) for k in METRIC_KEYS})
        row["elapsed_s"] = round(elapsed(), 4)
        sink.log_metrics(row)
        return row

    def save() -> None:
        sink.save_checkpoint({"step": step, "elapsed_s": elapsed(), "last": last_row,
                              "task": task.state_dict()})

    if checkpoint is None:
        last_row = evaluate()
    status = "completed"
    last_save = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=sched.total_steps, initial=step, desc=desc, disable=not show, leave=False,
               dynamic_ncols=True, file=sys.stderr)
    check_every = max(1, min(check_every, sched.eval_every))
    try:
        while step < sched.total_steps:
            batches.add(*task.train_step(step))
            step += 1
            at_eval = step % sched.eval_every == 0 or step == sched.total_steps
            if step % check_every == 0 or at_eval:
                bar.update(step - bar.n)
                if not math.isfinite(float(batches.loss_sum)):
                    status = "diverged"
                    last_row = evaluate()
                    break
            if at_eval:
                last_row = evaluate()
                batches = BatchStats()
                if last_row["test_acc"] is not None:
                    bar.set_postfix(test_acc=f"{last_row['test_acc']:.3f}")
                if step == sched.total_steps or time.perf_counter() - last_save >= checkpoint_every_s:
                    save()
                    last_save = time.perf_counter()
    finally:
        bar.close()
    if status == "diverged":
        save()
    return Outcome(status=status, steps=step, wall_time_s=elapsed(), last=last_row)
