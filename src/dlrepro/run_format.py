"""The run format in one place: the names of a run's files, the most each may hold, how a run ends and which
endings count as finished, the metric keys, and the checks of what config.json, summary.json, a metrics row
and data.npz hold. Each check is pure and returns why a value is not what the format says (None when it is):
the writer and resume side (dlrepro.runs.rundir) turns a reason into its error, the report and the claims
(dlrepro.runs.load) into a run left out, whose claims are then not run. The format in prose:
docs/run-format.md.
"""

from __future__ import annotations

import math

from dlrepro.readfile import MiB

CONFIG, METRICS, SUMMARY, CHECKPOINT, CURVES, LOCK, TOY_DATA = (
    "config.json", "metrics.jsonl", "summary.json", "checkpoint.pt", "curves.png", ".lock", "data.npz")
RUN_FILES = (CONFIG, METRICS, SUMMARY, CHECKPOINT, CURVES, TOY_DATA)

# The most a file of each kind can hold, for whoever writes it and whoever reads it back: a config and a
# summary are a few hundred bytes; a metrics row is about 200 bytes, so 512 MiB is millions of evaluations;
# data.npz holds at most a toy data set's points.
LIMITS = {CONFIG: 4 * MiB, SUMMARY: 1 * MiB, METRICS: 512 * MiB, TOY_DATA: 256 * MiB}
ERROR_CHARS = 10_000   # a failed run's error text in summary.json is cut to this many characters

STATUSES = ("completed", "diverged", "failed")   # how a run ends: summary.json's status
FINISHED = ("completed", "diverged")             # a run that ended so is never run again (a failed one is)
METRIC_KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")   # every evaluation's metrics, every model
SUMMARY_NUMBERS = ("best_test_acc", "steps", "wall_time_s")
MAX_TOY_CLASSES = 16


def finished(summary: dict | None) -> bool:
    """Whether a run with this summary (None: no summary yet) is done for good: completed or diverged."""
    return isinstance(summary, dict) and summary.get("status") in FINISHED


def short(value) -> str:
    """A value as an error names it: its repr, cut to 40 characters (an integer too long for repr, one of
    thousands of digits, named as such)."""
    text = repr(value) if not (isinstance(value, int) and value.bit_length() > 200) else "a very long integer"
    return text if len(text) <= 40 else text[:37] + "..."


def is_number(v) -> bool:
    """A finite int or float (not a bool): what a metric, a summary number or a row's epoch holds."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def too_large(name: str, size: int) -> str | None:
    """Why `size` bytes are too many for the run file `name` (one of LIMITS), or None."""
    limit = LIMITS[name]
    return f"would be {size:,} bytes, more than the {limit:,} a {name} can be" if size > limit else None


def config_problem(stored) -> str | None:
    """Why `stored` (config.json as parsed) is not a run's config.json: the reason after 'holds'. Whether the
    config is valid for its model is dlrepro.train.config's to say."""
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        return "no 'config' table"
    return None


def summary_problem(summary) -> str | None:
    """Why `summary` (summary.json as parsed) is not a run summary."""
    if not isinstance(summary, dict):
        return f"holds a {type(summary).__name__}, not a JSON object"
    if summary.get("status") not in STATUSES:
        return f"status {short(summary.get('status'))} is none of {', '.join(STATUSES)}"
    final = summary.get("final")
    if not isinstance(final, dict) or any(final.get(k) is not None and not is_number(final.get(k))
                                          for k in METRIC_KEYS):
        return "'final' is not a table of metric values (numbers or null)"
    for key in SUMMARY_NUMBERS:
        if summary.get(key) is not None and not is_number(summary[key]):
            return f"{key} {short(summary[key])} is not a number"
    return None


def row_problem(row) -> str | None:
    """Why `row` (one line of metrics.jsonl as parsed) is not a metrics row."""
    if not isinstance(row, dict):
        return f"{short(row)} is not a metrics row (a JSON object)"
    if not isinstance(row.get("step"), int) or isinstance(row.get("step"), bool):
        return f"step {short(row.get('step'))} is not an integer"
    for key in ("epoch", "elapsed_s", *METRIC_KEYS):
        if key not in row and key != "elapsed_s":
            return f"has no {key}"
        if row.get(key) is not None and not is_number(row[key]):
            return f"{key} {short(row[key])} is not a number"
    return None


def toy_data_problem(arrays: dict) -> str | None:
    """Why data.npz's arrays (x_train, y_train, x_test, y_test) are not a toy split the report can draw: 2-D
    points and small class labels."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        ok = (x.ndim == 2 and x.shape[1] == 2 and x.dtype.kind == "f" and y.ndim == 1 and y.dtype.kind in "iu"
              and len(x) == len(y) > 0 and 0 <= y.min() and y.max() < MAX_TOY_CLASSES)
        if not ok:
            return f"the {split} split is not 2-D points with small class labels"
    return None
