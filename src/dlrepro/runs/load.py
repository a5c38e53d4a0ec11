"""Read finished runs back for the report and the claims: config, summary and metrics of each run directory.

Every file is read through `dlrepro.runs.folder.Folder` (inside the results folder, regular files, bounded
sizes) and checked against the run format (`dlrepro.run_format`) before any section or claim sees it: a run
whose files cannot be read is left out with the reason (file and line), which the report shows and which
makes its claims 'not run'. A metrics line that does not parse, other than a torn last one, makes the run
unreadable, never silently shorter.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, fields
from pathlib import Path

from dlrepro import run_format
from dlrepro.errors import ConfigError, one_line
from dlrepro.run_format import CONFIG, LIMITS, METRICS, SUMMARY, TOY_DATA
from dlrepro.runs.folder import Folder, Unreadable
from dlrepro.train.config import CONFIG_TYPES, config_from_dict


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
    summary = folder.read_json(paths[SUMMARY], LIMITS[SUMMARY])
    why = run_format.summary_problem(summary)
    if why is not None:
        raise folder.error(paths[SUMMARY], why)
    rows = folder.read_jsonl(paths[METRICS], LIMITS[METRICS]) if folder.exists(paths[METRICS]) else []
    for number, row in enumerate(rows, 1):
        why = run_format.row_problem(row)
        if why is not None:
            raise folder.error(paths[METRICS], f"line {number}: {why}")
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
    why = run_format.config_problem(stored)
    if why is not None:
        raise folder.error(path, f"holds {why}; not a run's config.json")
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


def _check_toy_data(folder: Folder, path: Path) -> None:
    """data.npz holds a toy split the scatter figure can draw."""
    import numpy as np

    data = folder.read_bytes(path, LIMITS[TOY_DATA])
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as exc:  # zipfile, NumPy's format reader and KeyError all raise for a damaged archive
        raise folder.error(path, f"not a toy data archive ({type(exc).__name__})") from None
    why = run_format.toy_data_problem(arrays)
    if why is not None:
        raise folder.error(path, why)
