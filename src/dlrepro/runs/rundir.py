"""One run directory: its writer lock (`RunDir.writing`), its files written (atomically, `dlrepro.files`) and
read back for --resume, and the engine's Sink (checkpoints, metrics rows). What each file holds, and the
checks and limits both this side and the report apply, are dlrepro.run_format's; in prose: docs/run-format.md.
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
from dlrepro import run_format
from dlrepro.errors import ConfigError, RunBusy, naming
from dlrepro.files import atomic_write_bytes, is_temp_of
from dlrepro.readfile import FileRefused, read_regular
from dlrepro.run_format import CHECKPOINT, CONFIG, ERROR_CHARS, LIMITS, LOCK, METRIC_KEYS, METRICS, RUN_FILES, SUMMARY
from dlrepro.runs import checkpoint as checkpoint_file
from dlrepro.train.config import RunConfig


def _torch_version() -> str | None:
    """torch's version without importing it (a NumPy run does not); None when it is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def read_json(path: Path, limit: int):
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
    lines = _read_run_file(path, LIMITS[METRICS]).split(b"\n")
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
        if run_format.row_problem(row) is not None:
            raise ConfigError(f"{path} line {number} is not a metrics row; remove that line (or delete the run "
                              "directory to restart the run from scratch)")
        rows.append(row)
    return rows


def write_run_file(path: Path, data: bytes) -> None:
    """Write a whole run file atomically, refusing (ConfigError) more than a file of its kind may hold: the
    report never meets a run file it would refuse for its size."""
    why = run_format.too_large(path.name, len(data))
    if why is not None:
        raise ConfigError(f"{path} {why}; not written")
    atomic_write_bytes(path, data)


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
        record = read_json(p, LIMITS[CONFIG])
        why = run_format.config_problem(record)
        if why is not None:
            raise ConfigError(f"{p} is not a run's config.json ({why}); restore it from a backup, or "
                              f"delete the run directory {self.path} to restart the run from scratch")
        return record["config"]

    def summary(self) -> dict | None:
        p = self.file(SUMMARY)
        if not p.exists():
            return None
        summary = read_json(p, LIMITS[SUMMARY])
        why = run_format.summary_problem(summary)
        if why is not None:
            raise ConfigError(f"{p} is not a run summary ({why}); delete it, and the run resumes from its last "
                              "checkpoint (--resume)")
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
        return summary if run_format.finished(summary) else None

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

    def set_up(self, config: RunConfig) -> None:
        """Make this directory hold `config`'s run: refuse another run's folder, clear a killed writer's temp
        files, write config.json the first time. Inside `writing()`."""
        self.check(config)
        self.path.mkdir(parents=True, exist_ok=True)
        for leftover in self.path.iterdir():  # a killed writer's temp file; we hold the lock, nobody writes it
            if is_temp_of(leftover.name, RUN_FILES):
                leftover.unlink(missing_ok=True)
        if not self.file(CONFIG).exists():
            write_run_file(self.file(CONFIG), (json.dumps({
                "config": config.to_dict(),
                "config_hash": config.config_hash(),
                "versions": {"dlrepro": dlrepro.__version__, "torch": _torch_version(),
                             "numpy": np.__version__, "python": platform.python_version()},
            }, indent=2) + "\n").encode())

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
        line = json.dumps(row) + "\n"
        with naming(self.file(METRICS)), open(self.file(METRICS), "a") as f:
            why = run_format.too_large(METRICS, os.fstat(f.fileno()).st_size + len(line.encode()))
            if why is not None:
                raise ConfigError(f"{self.file(METRICS)} {why}; not written (evaluate less often)")
            f.write(line)
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
            summary["error"] = error if len(error) <= ERROR_CHARS else error[:ERROR_CHARS - 3] + "..."
        write_run_file(self.file(SUMMARY), (json.dumps(summary, indent=2) + "\n").encode())
        return summary
