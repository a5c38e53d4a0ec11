"""Run one config end to end into a run directory: claim it, build the task, train, summarise, plot."""

from __future__ import annotations

import os
from pathlib import Path

from dlrepro.errors import ConfigError
from dlrepro.runs.curves import plot_curves
from dlrepro.runs.rundir import CURVES, RunDir
from dlrepro.train.build import build_task
from dlrepro.train.config import RunConfig
from dlrepro.train.engine import fit


def default_run_dir(config: RunConfig, root: str | os.PathLike = "runs") -> Path:
    return Path(root) / config.default_name()


def execute(config: RunConfig, out: str | os.PathLike | None = None, *, resume: bool = False,
            progress: bool | None = None, checkpoint_every_s: float = 10.0,
            observers: list | None = None) -> tuple[RunDir, dict]:
    """Train `config` into `out` and return (run dir, summary).

    `observers` see each metrics row and checkpoint as it is written (see `RunDir`).
    A completed run in `out` with the same config is left as it is. An unfinished one is continued from its
    checkpoint when `resume` is set; without it, it is refused (ConfigError) so nothing is overwritten.
    """
    config.validate()
    run = RunDir(out if out is not None else default_run_dir(config), observers)
    run.check(config)
    summary = run.summary()
    if summary is not None and summary["status"] in ("completed", "diverged"):
        return run, summary
    if run.file("metrics.jsonl").exists() and not resume:
        raise ConfigError(f"--out {run.path} holds an unfinished run of this config; pass --resume to "
                          "continue it or choose another --out")
    task = build_task(config)  # before anything is written: a missing dataset leaves no trace
    run.claim(config)
    try:
        outcome = fit(task, run, progress=progress, checkpoint_every_s=checkpoint_every_s,
                      desc=config.default_name())
    except KeyboardInterrupt:
        raise  # left resumable: no summary, the last checkpoint stays
    except Exception as exc:
        run.write_summary("failed", steps=0, wall_time_s=0.0, error=f"{type(exc).__name__}: {exc}")
        raise
    summary = run.write_summary(outcome.status, outcome.steps, outcome.wall_time_s)
    plot_curves(run.metrics(), run.file(CURVES), title=config.default_name())
    return run, summary
