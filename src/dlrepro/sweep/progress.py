"""A sweep's live progress, read from its run directories: the same for the local pool and for Ray.

A trial is running while its run directory holds the writer's `.lock`, and its progress is the last row
of its `metrics.jsonl` (one row per evaluation, already written by every run): no channel between
processes, nothing a trial computes changes. On a terminal, a block at the bottom of the screen shows one
line for the whole sweep (trials done of all, elapsed, an estimate of the time left) and one per running
trial (its id, step or epoch of its total, its latest test accuracy), redrawn a few times a second; the
line of each finished trial is printed above it. Without a terminal, one plain `[status]` line every
`status_every_s` (30 s) says the sweep is alive. Quiet sweeps show neither.

The time left is measured from the sweep's own progress once it has some: work done so far (each trial
weighted by its cost in `dlrepro.sweep.estimate`, times the fraction of its steps done) against the time
it took; before that it is the plan's estimate.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from dlrepro.run_format import LOCK, METRICS, SUMMARY
from dlrepro.sweep.estimate import clock, duration, trial_seconds
from dlrepro.sweep.trials import Trial, already_done
from dlrepro.train.config import RNNConfig, RunConfig

REFRESH_S = 0.25        # the terminal block's redraw interval
# without a terminal: one status line this often (DLREPRO_STATUS_EVERY_S: for the tests, not documented)
STATUS_EVERY_S = float(os.environ.get("DLREPRO_STATUS_EVERY_S") or 30.0)
MIN_MEASURED_S = 5.0    # the time left comes from the sweep's own progress once it has run this long
MIN_MEASURED_WORK = 0.03  # ... and done this fraction of its work (the first rows come after the start-up)


def total_of(cfg: RunConfig) -> tuple[str, int]:
    """('step', steps) for a step-based run, ('epoch', epochs) for an epoch-based one."""
    if isinstance(cfg, RNNConfig):
        return "step", cfg.steps
    return "epoch", int(getattr(cfg, "epochs", 0) or getattr(cfg, "steps", 0) or 1)


def last_row(path: Path, tail: int = 4096) -> dict | None:
    """The last complete JSON row of a metrics.jsonl (reading only its tail), or None."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - tail))
            lines = f.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(lines[1:] if size > tail else lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            return row
    return None


@dataclass
class TrialView:
    name: str
    run_dir: Path
    unit: str            # "step" or "epoch"
    total: int
    cost: float          # its estimated seconds (a weight for the time left)
    skipped: bool        # finished before this sweep
    fraction: float = 0.0
    row: dict | None = None
    running: bool = False
    finished: bool = False

    def line(self, width: int) -> str:
        row = self.row or {}
        at = row.get(self.unit) if self.unit == "epoch" else row.get("step")
        pos = "starting" if at is None else f"{self.unit} {at:g}/{self.total}"
        acc = row.get("test_acc")
        acc_text = "" if acc is None else f"  test_acc {acc:.4f}"
        return f"  {self.name[:max(8, width - 40)]}  {pos}{acc_text}"


class Progress:
    """The live view of one sweep (see the module docstring). Use as a context manager around the backend's
    run; `log` prints a line (a finished trial's, a closing line) above the live block."""

    def __init__(self, trials: list[Trial], title: str, *, quiet: bool = False, stream: TextIO | None = None,
                 live: bool | None = None, prior_s: float | None = None, status_every_s: float | None = None,
                 refresh_s: float = REFRESH_S) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.live = (not quiet) and (self.stream.isatty() if live is None else live)
        self.title, self.prior_s = title, prior_s
        self.status_every_s = status_every_s or STATUS_EVERY_S
        self.refresh_s = refresh_s
        self.views = []
        for cfg, d in trials:
            unit, total = total_of(cfg)
            self.views.append(TrialView(Path(d).name, Path(d), unit, total, trial_seconds(cfg) or 1.0,
                                        skipped=already_done(cfg, Path(d)) is not None))
        self.start = time.time()
        self.first_running: float | None = None  # when a trial was first seen running (after the start-up)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = 0  # lines of the live block on the screen

    # --- reading the run directories ------------------------------------------------------------------
    def poll(self) -> None:
        """Update every trial's state from its run directory."""
        for v in self.views:
            if v.skipped or v.finished:
                continue
            try:
                v.finished = os.stat(v.run_dir / SUMMARY).st_mtime >= self.start
            except OSError:
                v.finished = False
            v.running = not v.finished and (v.run_dir / LOCK).exists()
            if v.running and self.first_running is None:
                self.first_running = time.time()
            if v.running or v.finished:
                row = last_row(v.run_dir / METRICS)
                if row is not None:
                    v.row = row
                    at = row.get("epoch") if v.unit == "epoch" else row.get("step")
                    v.fraction = min(1.0, (at or 0) / max(1, v.total))
            if v.finished:
                v.fraction = 1.0

    def counts(self) -> tuple[int, int, int]:
        """(done, running, left) trials."""
        done = sum(v.skipped or v.finished for v in self.views)
        running = sum(v.running for v in self.views)
        return done, running, len(self.views) - done - running

    def seconds_left(self, now: float | None = None) -> float | None:
        """The estimated time left: measured from this sweep's progress since its first trial started, else
        what is left of the prior estimate; None when neither says (0 when every trial is done)."""
        now = now or time.time()
        todo = [v for v in self.views if not v.skipped]
        done_work = sum(v.cost * v.fraction for v in todo)
        left_work = sum(v.cost * (1 - v.fraction) for v in todo)
        if left_work <= 0:
            return 0.0
        measured = now - self.first_running if self.first_running is not None else 0.0
        if measured >= MIN_MEASURED_S and done_work >= MIN_MEASURED_WORK * (done_work + left_work):
            return measured * left_work / done_work
        if self.prior_s is not None and self.prior_s > now - self.start:
            return self.prior_s - (now - self.start)
        return None

    def overall(self) -> str:
        done, running, left = self.counts()
        eta = self.seconds_left()
        eta_text = ("estimating the time left" if eta is None else "finishing" if eta == 0
                    else f"about {duration(eta)} left")
        return (f"{self.title}: {done}/{len(self.views)} trials done, {running} running, {left} to start, "
                f"elapsed {clock(time.time() - self.start)}, {eta_text}")

    def status_line(self) -> str:
        return f"[status] {self.overall()}"

    # --- the screen -----------------------------------------------------------------------------------
    def block(self) -> list[str]:
        width, height = shutil.get_terminal_size((100, 24))
        running = [v for v in self.views if v.running]
        room = max(1, height - 3)
        lines = [self.overall()] + [v.line(width) for v in running[:room]]
        if len(running) > room:
            lines.append(f"  ... and {len(running) - room} more running")
        return [line[:width - 1] for line in lines]

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        lines = self.block()
        self.stream.write("".join(f"{line}\x1b[K\n" for line in lines))
        self._drawn = len(lines)

    def refresh(self) -> None:
        with self._lock:
            self.poll()
            self._clear()
            self._draw()
            self.stream.flush()

    def log(self, line: str) -> None:
        """Print a line above the live block (or, without one, as it is)."""
        with self._lock:
            if self.live:
                self._clear()
            self.stream.write(line + "\n")
            if self.live and self._thread is not None:
                self.poll()
                self._draw()
            self.stream.flush()

    def _run(self) -> None:
        last_status = time.time()
        while not self._stop.wait(self.refresh_s if self.live else min(self.refresh_s * 4, self.status_every_s)):
            if self.live:
                self.refresh()
            elif time.time() - last_status >= self.status_every_s:
                last_status = time.time()
                with self._lock:
                    self.poll()
                line = self.status_line()
                self.log(line)

    def __getstate__(self) -> dict:
        """Ray Tune pickles its callbacks (ours logs through `log`): the copy keeps the trials, not the screen,
        the lock or the thread, and prints plain lines to stdout if it is ever used."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("stream", "_lock", "_stop", "_thread")}
        return {**state, "live": False, "_drawn": 0}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.stream, self._lock, self._stop, self._thread = sys.stdout, threading.Lock(), threading.Event(), None

    def __enter__(self) -> Progress:
        if not self.quiet:
            self._thread = threading.Thread(target=self._run, name="dlrepro-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self.live:
                self._clear()
            self.stream.flush()

