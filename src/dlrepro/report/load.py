"""Read finished runs back for the report: config, summary and metrics of each run directory.

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
from dlrepro.report.document import Table
from dlrepro.report.tables import setting_text
from dlrepro.runs.folder import MB, Folder, Unreadable
from dlrepro.runs.rundir import CONFIG, METRICS, SUMMARY, TOY_DATA
from dlrepro.train.config import CONFIG_TYPES, LOCATION_FIELDS, config_from_dict
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
        raise folder.error(path, f"status {_short(summary.get('status'))} is none of {', '.join(STATUSES)}")
    final = summary.get("final")
    if not isinstance(final, dict) or any(final.get(k) is not None and not _number(final.get(k))
                                          for k in METRIC_KEYS):
        raise folder.error(path, "'final' is not a table of metric values (numbers or null)")
    for key in ("best_test_acc", "steps", "wall_time_s"):
        if summary.get(key) is not None and not _number(summary[key]):
            raise folder.error(path, f"{key} {_short(summary[key])} is not a number")
    return summary


def _check_row(folder: Folder, path: Path, number: int, row) -> None:
    if not isinstance(row, dict):
        raise folder.error(path, f"line {number}: {_short(row)} is not a metrics row (a JSON object)")
    if not isinstance(row.get("step"), int) or isinstance(row.get("step"), bool):
        raise folder.error(path, f"line {number}: step {_short(row.get('step'))} is not an integer")
    for key in ("epoch", "elapsed_s", *METRIC_KEYS):
        if key not in row and key != "elapsed_s":
            raise folder.error(path, f"line {number}: has no {key}")
        if row.get(key) is not None and not _number(row[key]):
            raise folder.error(path, f"line {number}: {key} {_short(row[key])} is not a number")


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


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def run_length(cfg: dict, rows: list[dict]) -> tuple[int, int, str]:
    """(evaluated up to, planned, unit): epochs for the MLPs and the ConvNet, steps for the RNNs."""
    unit = "epochs" if "epochs" in cfg else "steps"
    key = "epoch" if unit == "epochs" else "step"
    done = rows[-1].get(key) if rows else None
    return int(done or 0), int(cfg[unit]), unit


def problem(run: Run | None) -> str | None:
    """Why a run of the profile cannot be judged (None when it can: completed, with all its steps)."""
    if run is None:
        return "has no finished run"
    status = run.summary.get("status")
    done, planned, unit = run_length(run.cfg, run.rows)
    if status != "completed":
        return f"{status} at {unit[:-1]} {done:,} of {planned:,}"
    if done < planned:
        return f"stopped at {unit[:-1]} {done:,} of {planned:,}"
    return None


def at(row: dict) -> float:
    """Where an evaluation lies in training: its epoch for epoch-based runs, else its step."""
    return row["epoch"] if row.get("epoch") is not None else row["step"]


def first(rows: list[dict], key: str, ok) -> float:
    """The epoch (or step) of the first evaluation whose `key` is present and `ok(value)`; inf when none is."""
    return next((at(r) for r in rows if r.get(key) is not None and ok(r[key])), math.inf)


def dips_below(rows: list[dict], key: str, threshold: float) -> tuple[int, int] | None:
    """(evaluations below `threshold` after `key` first reaches it, evaluations from then on); None if never."""
    start = first(rows, key, lambda v: v >= threshold)
    if math.isinf(start):
        return None
    later = [r.get(key) for r in rows if at(r) >= start]
    return sum(v is None or v < threshold for v in later), len(later)


STATISTICS = ("final", "best", "first_at_final", "reaching", "above")   # of a run, for claims


def value(run: Run, metric: str, statistic: str = "final", threshold: float | None = None) -> float | None:
    """One run's statistic of `metric`; the first epoch (or step) ones are inf when never reached."""
    if statistic == "final":
        return run.summary["final"].get(metric)
    vals = [r[metric] for r in run.rows if r.get(metric) is not None]
    if statistic == "best":
        return max(vals) if vals else None
    if statistic == "first_at_final":
        final = run.rows[-1].get(metric) if run.rows else None
        return None if final is None else first(run.rows, metric, lambda v: v >= final)
    assert threshold is not None
    return first(run.rows, metric, (lambda v: v >= threshold) if statistic == "reaching" else lambda v: v > threshold)


def matches(cfg: dict, match: dict) -> bool:
    """cfg has every value in `match` (a tuple means any of its values; floats compare to 1e-9)."""
    for key, want in match.items():
        options = want if isinstance(want, tuple) else (want,)
        have = cfg.get(key)
        if not any(have == w or (isinstance(have, float | int) and isinstance(w, float | int)
                                 and not isinstance(have, bool) and math.isclose(have, w, rel_tol=1e-9))
                   for w in options):
            return False
    return True


@dataclass
class Evidence:
    """What a study's claims may be judged from: the trials of the profile that was run (trial id -> config,
    and the run when its folder holds one). Runs of other profiles in the same folder are never read."""
    profile: str
    trials: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    not_run: str | None = None   # why the whole study was not run
    unreadable: dict[str, str] = field(default_factory=dict)  # trial id -> why its files cannot be read

    def trial_configs(self, match: dict) -> list[tuple[str, dict]]:
        return [(tid, cfg) for tid, cfg in self.trials.items() if matches(cfg, match)]

    def usable(self) -> list[Run]:
        return [r for tid, r in self.runs.items() if tid in self.trials and problem(r) is None]

    def problem(self, trial_id: str) -> str | None:
        """Why the trial's run cannot be judged (its files unreadable, missing, unfinished or short)."""
        if trial_id in self.unreadable:
            return f"is unreadable ({self.unreadable[trial_id]})"
        return problem(self.runs.get(trial_id))


def unreadable_note(unreadable: dict[str, str]) -> str:
    """The report's line on the run folders it could not read ('' when none)."""
    if not unreadable:
        return ""
    return (f"{len(unreadable)} run folder(s) not read, their runs count as not run: "
            + "; ".join(unreadable.values()) + ".")


def evidence(study_dir: Path, profile: str, trials: dict[str, dict] | None, not_run: str | None = None) -> Evidence:
    """Load the runs of `trials` (trial id -> config) under study_dir (OUT/runs/<study>: every file read lies
    inside OUT). Without trials (no profile recorded), every run found there counts as a trial."""
    folder = Folder(study_dir.parent.parent)
    why = folder.outside(study_dir)
    if why is not None:
        return Evidence(profile, dict(trials or {}), {}, not_run or why)
    found = {d.name: d for d in folder.subdirs(study_dir)}
    unreadable: dict[str, str] = {}
    if trials is None:
        trials = {}
        runs, unreadable = read_runs(list(found.values()), folder)
        for run in runs:
            trials[run.path.name] = run.cfg
        for tid in unreadable:  # an unreadable run with a valid config is a trial its claims cannot judge
            cfg = stored_config(found[tid], folder)
            if cfg is not None:
                trials[tid] = cfg
    else:
        runs, unreadable = read_runs([found[t] for t in trials if t in found], folder)
    return Evidence(profile, dict(trials), {r.path.name: r for r in runs}, not_run, unreadable)


def setup_table(runs: list[Run]) -> Table:
    """Every setting of the runs: its value when shared, the values it took when it varied (a grid axis)."""
    keys = list(dict.fromkeys(k for r in runs for k in r.cfg if k not in (*LOCATION_FIELDS, "plugin_info")))
    rows = []
    for key in keys:
        values = []
        for r in runs:
            v = r.cfg.get(key)
            if v not in values:
                values.append(v)
        text = ", ".join(setting_text(key, v) for v in values)
        rows.append([key, text, "varied" if len(values) > 1 else ""])
    return Table(["setting", "value(s)", ""], rows, caption=f"{len(runs)} run(s).")


REPRODUCE, REPRODUCE_LIMIT = "reproduce.json", 1 * MB
REPRODUCE_FIELDS = {"profile": str, "cifar_verified": bool, "cifar_source": str, "dlrepro_version": str,
                    "hardware": dict, "not_run": dict}


def reproduce_record(folder: Folder) -> dict:
    """OUT/reproduce.json ({} when there is none), or Unreadable naming it when it is not what `dlrepro
    reproduce` writes (the report then stops: the record is about the whole folder)."""
    path = folder.root / REPRODUCE
    if not folder.exists(path):
        return {}
    record = folder.read_json(path, REPRODUCE_LIMIT)
    fix = "delete it (the report then says the profile and hardware are unknown) or rerun `dlrepro reproduce`"
    if not isinstance(record, dict):
        raise folder.error(path, f"holds a {type(record).__name__}, not a JSON object; {fix}")
    for key, kind in REPRODUCE_FIELDS.items():
        value = record.get(key)
        if value is not None and not isinstance(value, kind):
            raise folder.error(path, f"{key} {_short(value)} is not a {kind.__name__}; {fix}")
    texts = [*(record.get("not_run") or {}).values(), *(record.get("hardware") or {}).values()]
    if any(v is not None and not isinstance(v, str | int) for v in texts):
        raise folder.error(path, f"not_run and hardware hold texts and numbers only; {fix}")
    return record
