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
Every file except metrics.jsonl (append-only) is written to a temp file and moved into place.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

import dlrepro
from dlrepro.errors import ConfigError
from dlrepro.runs import checkpoint as checkpoint_file
from dlrepro.train.config import RunConfig
from dlrepro.train.engine import METRIC_KEYS

CONFIG, METRICS, SUMMARY, CHECKPOINT, CURVES = (
    "config.json", "metrics.jsonl", "summary.json", "checkpoint.pt", "curves.png")
TOY_DATA = "data.npz"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def _torch_version() -> str | None:
    """torch's version without importing it (a NumPy run does not); None when it is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def read_json(path: Path):
    with open(path) as f:
        return json.load(f)


def read_metrics(path: Path) -> list[dict]:
    """Rows of a metrics.jsonl; a torn last line (a run killed mid-write) is ignored."""
    rows = []
    if not path.exists():
        return rows
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows


class RunDir:
    """One run directory. Also the engine's `Sink`: it stores checkpoints and metric rows."""

    def __init__(self, path: str | os.PathLike, observers: list | None = None):
        """observers: objects with optional `on_metrics(row)` and `on_checkpoint(path, row)` methods, told
        after each metrics row and each checkpoint is on disk (TensorBoard, Ray Tune reporting)."""
        self.path = Path(path)
        self.observers = list(observers or [])

    def _notify(self, event: str, *args) -> None:
        for obs in self.observers:
            if hasattr(obs, event):
                getattr(obs, event)(*args)

    def file(self, name: str) -> Path:
        return self.path / name

    # --- reading -------------------------------------------------------------------------------------
    def stored_config(self) -> dict | None:
        p = self.file(CONFIG)
        return read_json(p)["config"] if p.exists() else None

    def summary(self) -> dict | None:
        p = self.file(SUMMARY)
        return read_json(p) if p.exists() else None

    def metrics(self) -> list[dict]:
        return read_metrics(self.file(METRICS))

    # --- starting ------------------------------------------------------------------------------------
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
        if stored is None and self.path.exists() and any(self.path.iterdir()):
            raise ConfigError(f"--out {self.path} is not empty and holds no dlrepro run; choose another --out")

    def claim(self, config: RunConfig) -> None:
        """Make this directory hold `config`'s run (writes config.json the first time)."""
        self.check(config)
        self.path.mkdir(parents=True, exist_ok=True)
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
            return checkpoint_file.load(p)
        except Exception as exc:  # zipfile, NumPy and torch raise several types for a damaged file
            raise ConfigError(f"{p} is unreadable ({type(exc).__name__}); delete it to restart the run "
                              "from scratch") from None

    def save_checkpoint(self, checkpoint: dict) -> None:
        tmp = self.file(f".{CHECKPOINT}.tmp")
        checkpoint_file.dump(checkpoint, tmp)
        os.replace(tmp, self.file(CHECKPOINT))
        self._notify("on_checkpoint", self.file(CHECKPOINT), checkpoint.get("last"))

    def restart_metrics(self, up_to_step: int) -> None:
        kept = [r for r in self.metrics() if r["step"] <= up_to_step]
        atomic_write_bytes(self.file(METRICS), "".join(json.dumps(r) + "\n" for r in kept).encode())

    def log_metrics(self, row: dict) -> None:
        with open(self.file(METRICS), "a") as f:
            f.write(json.dumps(row) + "\n")
        self._notify("on_metrics", row)

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
