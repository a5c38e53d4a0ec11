"""The on-disk run format, a contract that studies, sweeps and the report read.

    <run>/config.json     the resolved config plus package / torch / numpy versions
    <run>/metrics.jsonl   one row per evaluation: step, epoch, train_loss, train_acc, test_loss, test_acc,
                          elapsed_s (non-finite values are written as null)
    <run>/summary.json    status (completed | diverged | failed), final, best_test_acc, steps, wall_time_s
    <run>/checkpoint.pt   the latest checkpoint, replaced atomically: torch.save format, or for the NumPy MLP
                          (which never imports torch) a NumPy .npz archive (see dlrepro.runs.checkpoint)
    <run>/curves.png      accuracy and loss, train and test
    <run>/data.npz        toy-dataset MLP runs only: the train/test split the run trained on (x_train,
                          y_train, x_test, y_test), which the report plots without regenerating it
    <run>/.lock           present while a process writes the run: its pid and host (see `RunDir.writing`)
Every file except metrics.jsonl (append-only) is written to a temp file and moved into place
(`dlrepro.files`, re-exported here for the run's writers); a failed
write (a full disk) removes its temp file and leaves the previous file as it was. summary.json is written
last, after the figure: a run with a summary has all its files.

One writer per run: every write happens inside `RunDir.writing()`, which holds an exclusive `flock` on
<run>/.lock. The kernel drops the lock when the process dies (even by SIGKILL), so no lock goes stale on
a local disk. A second process finding it held raises RunBusy naming the holder, and touches nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import socket
import time
from pathlib import Path

import numpy as np

import dlrepro
from dlrepro.errors import ConfigError, RunBusy, naming
from dlrepro.files import atomic_write_bytes, atomic_write_json, is_temp_of
from dlrepro.readfile import FileRefused, read_regular
from dlrepro.runs import checkpoint as checkpoint_file
from dlrepro.train.config import RunConfig
from dlrepro.train.engine import METRIC_KEYS

CONFIG, METRICS, SUMMARY, CHECKPOINT, CURVES, LOCK = (
    "config.json", "metrics.jsonl", "summary.json", "checkpoint.pt", "curves.png", ".lock")
TOY_DATA = "data.npz"
RUN_FILES = (CONFIG, METRICS, SUMMARY, CHECKPOINT, CURVES, TOY_DATA)


def _torch_version() -> str | None:
    """torch's version without importing it (a NumPy run does not); None when it is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


MAX_JSON_BYTES, MAX_METRICS_BYTES = 2**24, 2**30  # config.json and summary.json are a few KB


def read_json(path: Path, limit: int = MAX_JSON_BYTES):
    """The JSON in `path`, a regular file (a FIFO is refused, not waited on); ConfigError when corrupt."""
    data = _read_run_file(path, limit)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deeply
        raise ConfigError(f"{path} is corrupt ({type(exc).__name__}); delete it, or the run directory, "
                          "to restart the run from scratch") from None


def _read_run_file(path: Path, limit: int) -> bytes:
    try:
        return read_regular(path, limit, "run file")
    except FileRefused as exc:
        raise ConfigError(f"{exc}: move it away, or delete the run directory to restart the run from scratch") \
            from None


def read_metrics(path: Path) -> list[dict]:
    """Rows of a metrics.jsonl; a torn last line (a run killed mid-write: no newline after it) is ignored.
    Any other line that is not a metrics row is a ConfigError naming it."""
    if not path.exists():
        return []
    lines = _read_run_file(path, MAX_METRICS_BYTES).split(b"\n")
    rows: list[dict] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            if number == len(lines):  # torn
                break
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise ConfigError(f"{path} line {number} is not a metrics row; remove that line (or delete the run "
                              "directory to restart the run from scratch)")
        rows.append(row)
    return rows


class RunObserver:
    """Something that watches a run as it is written (TensorBoard's event files, Ray Tune's reporting). Each
    hook is a documented no-op: an observer overrides the ones it needs. A run directory calls the hooks after
    the file is on disk; whoever opened the observer closes it (`dlrepro.runs.execute.execute_seeds`)."""

    def on_metrics(self, row: dict) -> None:
        """A metrics row was appended to metrics.jsonl."""

    def on_checkpoint(self, path: Path, last_row: dict | None) -> None:
        """checkpoint.pt (`path`) was replaced; `last_row` is the metrics row it was saved after."""

    def close(self) -> None:
        """The run is over (finished, failed or interrupted): release writers and files."""


class RunDir:
    """One run directory. Also the engine's `Sink`: it stores checkpoints and metric rows."""

    def __init__(self, path: str | os.PathLike, observers: list[RunObserver] | None = None):
        """observers: told after each metrics row and each checkpoint is on disk (see `RunObserver`)."""
        self.path = Path(path)
        self.observers = list(observers or [])

    def file(self, name: str) -> Path:
        return self.path / name

    # --- one writer ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self):
        """Hold the run's writer lock for the block (creating the directory if needed), or raise RunBusy
        without touching anything when another process holds it. The lock file is removed on the way out,
        and a directory this call created is removed again if nothing was written into it."""
        created = [p for p in (self.path, *self.path.parents) if not p.exists()]
        self.path.mkdir(parents=True, exist_ok=True)

        def tidy() -> None:  # the folders this call created, if they stayed empty
            for p in created:
                with contextlib.suppress(OSError):
                    p.rmdir()

        try:
            fd = self._lock()
        except BaseException:
            tidy()
            raise
        try:
            yield self
        finally:
            with contextlib.suppress(OSError):
                self.file(LOCK).unlink()  # while still holding it: see _lock
            os.close(fd)
            tidy()

    def _lock(self) -> int:
        path = self.file(LOCK)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OSError(exc.errno, f"cannot lock the run ({exc.strerror})", str(path)) from None
                raise RunBusy(f"run {self.path} is being written by {self._holder()}") from None
            # A holder that was finishing may have unlinked the file we opened before we locked it: then
            # we hold a lock nobody else can see, so start again on the file now at `path`.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            with naming(path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            return fd

    def _holder(self) -> str:
        for _ in range(20):  # the holder writes its name right after locking
            try:
                text = self.file(LOCK).read_text().strip()
            except OSError:
                text = ""
            if text:
                return text
            time.sleep(0.01)
        return "another process"

    # --- reading -------------------------------------------------------------------------------------
    def stored_config(self) -> dict | None:
        p = self.file(CONFIG)
        if not p.exists():
            return None
        record = read_json(p)
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise ConfigError(f"{p} is not a run's config.json (no 'config' table); restore it from a backup, or "
                              f"delete the run directory {self.path} to restart the run from scratch")
        return record["config"]

    def summary(self) -> dict | None:
        p = self.file(SUMMARY)
        if not p.exists():
            return None
        summary = read_json(p)
        finished = isinstance(summary, dict) and summary.get("status") in ("completed", "diverged")
        if not isinstance(summary, dict) or summary.get("status") not in ("completed", "diverged", "failed") or (
                finished and not isinstance(summary.get("final"), dict)):
            raise ConfigError(f"{p} is not a run summary (status completed, diverged or failed); delete it, and "
                              "the run resumes from its last checkpoint (--resume)")
        return summary

    def metrics(self) -> list[dict]:
        return read_metrics(self.file(METRICS))

    # --- starting ------------------------------------------------------------------------------------
    def finished(self, config: RunConfig) -> dict | None:
        """The summary of a completed or diverged run of `config` here, else None. Needs no lock: such a
        run's files never change again."""
        stored = self.stored_config()
        if stored is None or {k: v for k, v in stored.items() if k not in config.NOT_IDENTITY} != config.identity():
            return None
        summary = self.summary()
        return summary if summary is not None and summary.get("status") in ("completed", "diverged") else None

    def check(self, config: RunConfig) -> None:
        """Refuse (ConfigError) if this directory holds a different run or unrelated files."""
        stored = self.stored_config()
        if stored is not None:
            stored = {k: v for k, v in stored.items() if k not in config.NOT_IDENTITY}
        if stored is not None and stored != config.identity():
            diff = sorted(k for k in set(stored) | set(config.identity())
                          if stored.get(k) != config.identity().get(k))
            raise ConfigError(f"--out {self.path} holds a different run (differs in: {', '.join(diff)}); "
                              "choose another --out")
        if stored is None and self.path.exists() and any(p.name != LOCK and not is_temp_of(p.name, RUN_FILES)
                                                         for p in self.path.iterdir()):
            raise ConfigError(f"--out {self.path} is not empty and holds no dlrepro run; choose another --out")

    def claim(self, config: RunConfig) -> None:
        """Make this directory hold `config`'s run (writes config.json the first time). Inside `writing()`."""
        self.check(config)
        self.path.mkdir(parents=True, exist_ok=True)
        for leftover in self.path.iterdir():  # a killed writer's temp file; we hold the lock, nobody writes it
            if is_temp_of(leftover.name, RUN_FILES):
                leftover.unlink(missing_ok=True)
        if not self.file(CONFIG).exists():
            atomic_write_json(self.file(CONFIG), {
                "config": config.to_dict(),
                "config_hash": config.config_hash(),
                "versions": {"dlrepro": dlrepro.__version__, "torch": _torch_version(),
                             "numpy": np.__version__, "python": platform.python_version()},
            })

    # --- the engine's Sink ---------------------------------------------------------------------------
    def load_checkpoint(self) -> dict | None:
        p = self.file(CHECKPOINT)
        if not p.exists():
            return None
        try:
            checkpoint = checkpoint_file.load(p)
        except Exception as exc:  # zipfile, NumPy and torch raise several types for a damaged file
            raise ConfigError(f"checkpoint {p} is corrupt ({type(exc).__name__}); delete it to restart the "
                              "run from scratch, or restore it from a backup") from None
        if not (isinstance(checkpoint, dict) and isinstance(checkpoint.get("step"), int)
                and isinstance(checkpoint.get("task"), dict) and isinstance(checkpoint.get("elapsed_s"), int | float)
                and isinstance(checkpoint.get("last"), dict | None)):
            raise ConfigError(f"checkpoint {p} is not a dlrepro checkpoint (it needs step, elapsed_s, last and "
                              "task); delete it to restart the run from scratch, or restore it from a backup")
        return checkpoint

    def save_checkpoint(self, checkpoint: dict) -> None:
        atomic_write_bytes(self.file(CHECKPOINT), checkpoint_file.dumps(checkpoint))
        for obs in self.observers:
            obs.on_checkpoint(self.file(CHECKPOINT), checkpoint.get("last"))

    def restart_metrics(self, up_to_step: int) -> None:
        kept = [r for r in self.metrics() if r["step"] <= up_to_step]
        atomic_write_bytes(self.file(METRICS), "".join(json.dumps(r) + "\n" for r in kept).encode())

    def log_metrics(self, row: dict) -> None:
        with naming(self.file(METRICS)), open(self.file(METRICS), "a") as f:
            f.write(json.dumps(row) + "\n")
        for obs in self.observers:
            obs.on_metrics(row)

    # --- finishing -----------------------------------------------------------------------------------
    def write_summary(self, status: str, steps: int, wall_time_s: float, error: str | None = None) -> dict:
        rows = self.metrics()
        last = rows[-1] if rows else {}
        accs = [r["test_acc"] for r in rows if r.get("test_acc") is not None]
        summary = {
            "status": status,
            "final": {k: last.get(k) for k in METRIC_KEYS},
            "best_test_acc": max(accs) if accs else None,
            "steps": steps,
            "wall_time_s": round(wall_time_s, 3),
        }
        if error is not None:
            summary["error"] = error
        atomic_write_json(self.file(SUMMARY), summary)
        return summary
