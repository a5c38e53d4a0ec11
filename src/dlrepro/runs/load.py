"""Read finished runs back for the report and the claims: config, summary and metrics of each run directory.

Every file is read through `dlrepro.runs.folder.Folder` (inside the results folder, regular files, bounded
sizes) and checked against the run format (`dlrepro.runs.rundir`) before any section or claim sees it: a run
whose files cannot be read is left out with the reason (file and line), which the report shows and which
makes its claims 'not run'. A metrics line that does not parse, other than a torn last one, makes the run
unreadable, never silently shorter.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from dlrepro.errors import ConfigError, one_line
from dlrepro.runs.folder import MB, Folder, Unreadable
from dlrepro.runs.rundir import CONFIG, METRICS, SUMMARY, TOY_DATA
from dlrepro.train.config import CONFIG_TYPES, config_from_dict
from dlrepro.train.engine import METRIC_KEYS

# The most a file of each kind can hold: a config and a summary are a few hundred bytes; a metrics row is
# about 200 bytes, so 512 MB is millions of evaluations; data.npz holds at most a toy data set's points.
LIMITS = {CONFIG: 4 * MB, SUMMARY: 1 * MB, METRICS: 512 * MB, TOY_DATA: 256 * MB}
STATUSES = ("completed", "diverged", "failed")
MAX_TOY_CLASSES = 16


@dataclass
class Run:
    path: Path
    cfg: dict
    summary: dict
    rows: list[dict] = field(default_factory=list)  # metrics.jsonl, one row per evaluation

    @property
    def final_test_acc(self) -> float | None:
        return self.summary["final"].get("test_acc")


def load_runs(run_dirs: list[Path], folder: Folder | None = None) -> list[Run]:
    """Runs that have a config and a summary (finished: completed, diverged or failed), in the given order;
    runs that cannot be read are left out (`read_runs` says why)."""
    return read_runs(run_dirs, folder)[0]


def read_runs(run_dirs: list[Path], folder: Folder | None = None) -> tuple[list[Run], dict[str, str]]:
    """(the finished runs in the given order, run folder name -> why it cannot be read). `folder`: the results
    folder every file must lie in (by default each run's parent folder)."""
    runs, unreadable = [], {}
    for d in run_dirs:
        d = Path(d)
        try:
            run = read_run(d, folder or Folder(d.parent))
        except Unreadable as exc:
            unreadable[d.name] = exc.short
            continue
        if run is not None:
            runs.append(run)
    return runs, unreadable


def read_run(d: Path, folder: Folder) -> Run | None:
    """The run in `d` with its metrics rows, None when it has no config or no summary (not finished), or
    Unreadable naming the file (and line) that does not hold what the run format says."""
    folder.check(d)
    paths = {name: d / name for name in (CONFIG, SUMMARY, METRICS, TOY_DATA)}
    if not folder.exists(paths[CONFIG]) or not folder.exists(paths[SUMMARY]):
        return None
    cfg = _read_config(folder, paths[CONFIG])
    summary = _checked_summary(folder, paths[SUMMARY], folder.read_json(paths[SUMMARY], LIMITS[SUMMARY]))
    rows = folder.read_jsonl(paths[METRICS], LIMITS[METRICS]) if folder.exists(paths[METRICS]) else []
    for number, row in enumerate(rows, 1):
        _check_row(folder, paths[METRICS], number, row)
    if folder.exists(paths[TOY_DATA]):
        _check_toy_data(folder, paths[TOY_DATA])
    return Run(d, cfg, summary, rows)


def stored_config(d: Path, folder: Folder) -> dict | None:
    """The valid config stored in run folder `d`, or None (none there, or not readable)."""
    try:
        return _read_config(folder, folder.check(d) / CONFIG)
    except Unreadable:
        return None


def _read_config(folder: Folder, path: Path) -> dict:
    stored = folder.read_json(path, LIMITS[CONFIG])
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise folder.error(path, "holds no 'config' table; not a run's config.json")
    return _checked_config(folder, path, stored["config"])


def _checked_config(folder: Folder, path: Path, cfg: dict) -> dict:
    """The config as stored, once it is a valid config of its model (the same checks a run gets); keys an
    older version wrote and this one does not know are kept, they are not read."""
    try:
        cls = CONFIG_TYPES.get(cfg.get("model"))  # type: ignore[arg-type]
        known = {f.name for f in fields(cls)} if cls is not None else set(cfg)
        config_from_dict({k: v for k, v in cfg.items() if k in known})
    except (ConfigError, TypeError, ValueError, OverflowError, AttributeError) as exc:
        raise folder.error(path, f"not a valid run config ({one_line(exc, limit=200)})") from None
    return cfg


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _checked_summary(folder: Folder, path: Path, summary) -> dict:
    if not isinstance(summary, dict):
        raise folder.error(path, f"holds a {type(summary).__name__}, not a run summary (a JSON object)")
    if summary.get("status") not in STATUSES:
        raise folder.error(path, f"status {short(summary.get('status'))} is none of {', '.join(STATUSES)}")
    final = summary.get("final")
    if not isinstance(final, dict) or any(final.get(k) is not None and not _number(final.get(k))
                                          for k in METRIC_KEYS):
        raise folder.error(path, "'final' is not a table of metric values (numbers or null)")
    for key in ("best_test_acc", "steps", "wall_time_s"):
        if summary.get(key) is not None and not _number(summary[key]):
            raise folder.error(path, f"{key} {short(summary[key])} is not a number")
    return summary


def _check_row(folder: Folder, path: Path, number: int, row) -> None:
    if not isinstance(row, dict):
        raise folder.error(path, f"line {number}: {short(row)} is not a metrics row (a JSON object)")
    if not isinstance(row.get("step"), int) or isinstance(row.get("step"), bool):
        raise folder.error(path, f"line {number}: step {short(row.get('step'))} is not an integer")
    for key in ("epoch", "elapsed_s", *METRIC_KEYS):
        if key not in row and key != "elapsed_s":
            raise folder.error(path, f"line {number}: has no {key}")
        if row.get(key) is not None and not _number(row[key]):
            raise folder.error(path, f"line {number}: {key} {short(row[key])} is not a number")


def _check_toy_data(folder: Folder, path: Path) -> None:
    """data.npz holds a toy split the scatter figure can draw: 2-D points and small class labels."""
    import numpy as np

    data = folder.read_bytes(path, LIMITS[TOY_DATA])
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as exc:  # zipfile, NumPy's format reader and KeyError all raise for a damaged archive
        raise folder.error(path, f"not a toy data archive ({type(exc).__name__})") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        ok = (x.ndim == 2 and x.shape[1] == 2 and x.dtype.kind == "f" and y.ndim == 1 and y.dtype.kind in "iu"
              and len(x) == len(y) > 0 and 0 <= y.min() and y.max() < MAX_TOY_CLASSES)
        if not ok:
            raise folder.error(path, f"the {split} split is not 2-D points with small class labels")


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
