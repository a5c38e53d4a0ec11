"""What a study's claims are judged from: the trials of the profile that ran and their runs (`Evidence`),
and the statistics of a run a rule compares (its length, the first evaluation reaching a value, the dips below
it, a final or best metric). The runs are read through dlrepro.runs.load (untrusted input, checked against
the run format); a trial whose run cannot be judged says why (`Evidence.problem`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from dlrepro.runs.folder import Folder
from dlrepro.runs.load import Run, read_runs, stored_config


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
