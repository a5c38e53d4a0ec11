"""Read finished runs back for the report: config, summary and metrics of each run directory."""

from __future__ import annotations

from dataclasses import dataclass
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
