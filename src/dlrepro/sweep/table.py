"""runs.csv: one row per trial of a sweep, beside its runs (OUT/runs/<study>/runs.csv).

Columns: `trial` (the run folder's name), every config setting (a list such as hidden is written as JSON,
[64, 32]; the data location is left out), then `status` (completed | diverged | failed), `already_done`,
`trained_steps` (optimizer steps taken), `wall_time_s`, the final evaluation's `final_train_loss`,
`final_train_acc`, `final_test_loss`, `final_test_acc`, then `best_test_acc` and `error`. A missing value is
an empty cell, so `pandas.read_csv` reads the metrics as floats (NaN where missing).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from dlrepro.run_format import METRIC_KEYS
from dlrepro.train.config import LOCATION_FIELDS, RunConfig

RUNS_CSV = "runs.csv"


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    if isinstance(value, dict):  # a user's classes: plugins, plugin_info
        return json.dumps(value, sort_keys=True)
    return value


def runs_table(trials: list[tuple[RunConfig, Path]], results: list) -> tuple[list[str], list[dict]]:
    """(header, rows) for the trials and their `TrialResult`s (same order)."""
    settings: list[str] = []
    for cfg, _ in trials:
        settings += [k for k in cfg.to_dict() if k not in LOCATION_FIELDS and k not in settings]
    header = ["trial", *settings, "status", "already_done", "trained_steps", "wall_time_s",
              *(f"final_{m}" for m in METRIC_KEYS), "best_test_acc", "error"]
    rows = []
    for (cfg, run_dir), r in zip(trials, results, strict=True):
        summary = r.summary or {}
        final = summary.get("final") or {}
        row = {"trial": Path(run_dir).name, **{k: _cell(v) for k, v in cfg.to_dict().items() if k in settings},
               "status": r.status, "already_done": r.skipped, "trained_steps": _cell(summary.get("steps")),
               "wall_time_s": _cell(summary.get("wall_time_s")),
               **{f"final_{m}": _cell(final.get(m)) for m in METRIC_KEYS},
               "best_test_acc": _cell(summary.get("best_test_acc")), "error": r.error or summary.get("error", "")}
        rows.append(row)
    return header, rows


def write_runs_csv(path: Path, trials: list[tuple[RunConfig, Path]], results: list) -> Path:
    """Write runs.csv atomically and return its path."""
    from dlrepro.runs.rundir import atomic_write_bytes

    header, rows = runs_table(trials, results)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue().encode())
    return path
