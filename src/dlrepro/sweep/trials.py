"""What every backend shares: the sweep's options, a trial's result and its line, and "is it done already?".

A trial is a (config, run directory) pair. Both backends answer "already done?" the same way, from the run
directory's config.json and summary.json only (no worker, no torch), and print the same line per trial.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from dlrepro.errors import DlreproError
from dlrepro.runs.rundir import RunDir
from dlrepro.train.config import RunConfig

RUNNING_ELSEWHERE = "running elsewhere"  # a trial's status when another process holds its run directory

Trial = tuple[RunConfig, Path]
Log = Callable[[str], None]


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep runs its trials (never what they compute: that is the configs'). Built once by the CLI."""
    workers: int | None = None     # trials at a time (default: one per core, or trials_per_gpu per GPU)
    data: dict | None = None       # CIFAR-10 location fields (data_root, verify_data, cache_dir) for the
                                   # configs that read it; not part of a run's identity
    backend: str = "local"         # local: a process pool (dlrepro.sweep.local); ray: Ray Tune trials
    address: str | None = None     # with backend ray: the cluster to join (None: a local Ray)
    tensorboard: bool = False      # also write TensorBoard event files into each run
    vectorize: bool = True         # local pool: seeds of the kinds that vectorize train as one population
    trials_per_gpu: int = 1        # trials sharing each GPU at once
    quiet: bool = False            # print only failed trials and the closing lines
    status_every_s: float | None = None  # without a terminal: a status line this often (None: every 30 s,
                                         # dlrepro.sweep.progress.STATUS_EVERY_S)


DEFAULT_OPTIONS = SweepOptions()


@dataclass
class TrialResult:
    name: str
    run_dir: Path
    status: str            # completed | diverged | failed | running elsewhere (RUNNING_ELSEWHERE)
    summary: dict | None
    error: str | None = None
    skipped: bool = False  # it was already complete before this sweep


def already_done(cfg: RunConfig, run_dir: Path) -> TrialResult | None:
    """The result of a trial whose run directory holds this config's finished run (completed or diverged),
    read from config.json and summary.json only; None when it has to run (or be refused, with the reason,
    by the trial itself: an unreadable directory is left to it)."""
    run = RunDir(run_dir)
    try:
        summary = run.finished(cfg)
    except DlreproError:
        return None
    if summary is None:
        return None
    return TrialResult(run.path.name, run.path, summary["status"], summary, skipped=True)


def split_done(trials: list[Trial], log: Log) -> tuple[dict[int, TrialResult], list[int]]:
    """The pre-pass both backends run before starting anything: the results of the trials already done, by
    index (each logged with its line as it is found; a file read each, no worker, no torch), and the indices
    of the trials still to run."""
    results: dict[int, TrialResult] = {}
    for i, (cfg, run_dir) in enumerate(trials):
        finished = already_done(cfg, Path(run_dir))
        if finished is not None:
            results[i] = finished
            log(trial_line(len(results), len(trials), finished))
    return results, [i for i in range(len(trials)) if i not in results]


def trial_line(i: int, n: int, r: TrialResult) -> str:
    """The line printed when trial i of n is done."""
    if r.status in ("failed", RUNNING_ELSEWHERE) or r.summary is None:
        return f"[{i}/{n}] {r.status:<10} {r.name}: {r.error}"
    acc = r.summary["final"]["test_acc"]
    acc_text = "n/a" if acc is None else f"{acc:.4f}"
    how = "already done" if r.skipped else f"{r.summary['wall_time_s']:.1f} s"
    return f"[{i}/{n}] {r.status:<10} {r.name}  test_acc {acc_text}  ({how})"


def quiet_log(line: str) -> None:
    """--quiet: a trial's line only when it failed; the closing lines and Ray's retries as they are."""
    if not re.match(r"\[\d+/\d+\] (?!failed)", line):
        print(line, flush=True)


def log_elsewhere(results: Iterable[TrialResult], log: Log) -> None:
    """The sweep's closing word on trials another process was writing (they are not failures)."""
    elsewhere = [r.name for r in results if r.status == RUNNING_ELSEWHERE]
    if elsewhere:
        log(f"{len(elsewhere)} trial(s) running elsewhere (another process holds their run directory; rerun "
            f"the sweep once it is done to see them here): {', '.join(elsewhere)}")
