"""Read finished runs back for the report: config, summary and metrics of each run directory."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dlrepro.report.document import Table
from dlrepro.runs.rundir import RunDir
from dlrepro.train.config import LOCATION_FIELDS


@dataclass
class Run:
    path: Path
    cfg: dict
    summary: dict

    @cached_property
    def rows(self) -> list[dict]:
        return RunDir(self.path).metrics()

    @property
    def final_test_acc(self) -> float | None:
        return self.summary["final"].get("test_acc")


def load_runs(run_dirs: list[Path]) -> list[Run]:
    """Runs that have a config and a summary (finished: completed, diverged or failed), in the given order."""
    runs = []
    for d in run_dirs:
        rd = RunDir(d)
        cfg, summary = rd.stored_config(), rd.summary()
        if cfg is not None and summary is not None:
            runs.append(Run(Path(d), cfg, summary))
    return runs


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

    def trial_configs(self, match: dict) -> list[tuple[str, dict]]:
        return [(tid, cfg) for tid, cfg in self.trials.items() if matches(cfg, match)]

    def usable(self) -> list[Run]:
        return [r for tid, r in self.runs.items() if tid in self.trials and problem(r) is None]


def evidence(study_dir: Path, profile: str, trials: dict[str, dict] | None, not_run: str | None = None) -> Evidence:
    """Load the runs of `trials` (trial id -> config) under study_dir. Without trials (no profile recorded),
    every run found there counts as a trial."""
    found = {d.name: d for d in sorted(study_dir.iterdir()) if d.is_dir()} if study_dir.is_dir() else {}
    if trials is None:
        trials = {}
        for run in load_runs(list(found.values())):
            trials[run.path.name] = run.cfg
    runs = {r.path.name: r for r in load_runs([found[t] for t in trials if t in found])}
    return Evidence(profile, dict(trials), runs, not_run)


def setup_table(runs: list[Run]) -> Table:
    """Every setting of the runs: its value when shared, the values it took when it varied (a grid axis)."""
    keys = [k for k in runs[0].cfg if k not in LOCATION_FIELDS] if runs else []
    rows = []
    for key in keys:
        values = []
        for r in runs:
            v = r.cfg.get(key)
            if v not in values:
                values.append(v)
        text = ", ".join(str(v) for v in values)
        rows.append([key, text, "varied" if len(values) > 1 else ""])
    return Table(["setting", "value(s)", ""], rows, caption=f"{len(runs)} run(s).")
