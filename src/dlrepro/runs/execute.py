"""Run one config (or a seed population of configs) end to end into run directories: claim, build the
task, train, summarise, plot."""

from __future__ import annotations

import os
from pathlib import Path

from dlrepro.errors import ConfigError
from dlrepro.runs.curves import plot_curves
from dlrepro.runs.rundir import CURVES, TOY_DATA, RunDir, atomic_write_bytes
from dlrepro.train.build import build_population, build_task
from dlrepro.train.config import MLPConfig, RunConfig
from dlrepro.train.engine import fit, fit_population


def default_run_dir(config: RunConfig, root: str | os.PathLike = "runs") -> Path:
    return Path(root) / config.default_name()


def _prepare(config: RunConfig, out, resume: bool, observers) -> tuple[RunDir, dict | None]:
    """The run dir for `config` and its summary if it is already finished; refuses what must not run."""
    config.validate()
    run = RunDir(out if out is not None else default_run_dir(config), observers)
    run.check(config)
    summary = run.summary()
    if summary is not None and summary["status"] in ("completed", "diverged"):
        return run, summary
    if run.file("metrics.jsonl").exists() and not resume:
        raise ConfigError(f"--out {run.path} holds an unfinished run of this config; pass --resume to "
                          "continue it or choose another --out")
    return run, None


def _save_toy_data(run: RunDir, config: RunConfig) -> None:
    """A toy-set run keeps the split it trains on (data.npz): the report plots it without scikit-learn."""
    from dlrepro.data.toy import TOY_DATASETS, make_toy, save_toy

    if isinstance(config, MLPConfig) and config.dataset in TOY_DATASETS and not run.file(TOY_DATA).exists():
        data = make_toy(config.dataset, n_samples=config.n_samples, seed=config.data_seed)
        atomic_write_bytes(run.file(TOY_DATA), save_toy(data))


def _fail(run: RunDir, exc: Exception) -> None:
    run.write_summary("failed", steps=0, wall_time_s=0.0, error=f"{type(exc).__name__}: {exc}")


def _finish(run: RunDir, config: RunConfig, outcome) -> dict:
    summary = run.write_summary(outcome.status, outcome.steps, outcome.wall_time_s)
    plot_curves(run.metrics(), run.file(CURVES), title=config.default_name())
    return summary


def execute(config: RunConfig, out: str | os.PathLike | None = None, *, resume: bool = False,
            progress: bool | None = None, checkpoint_every_s: float = 10.0,
            observers: list | None = None) -> tuple[RunDir, dict]:
    """Train `config` into `out` and return (run dir, summary).

    `observers` see each metrics row and checkpoint as it is written (see `RunDir`).
    A completed run in `out` with the same config is left as it is. An unfinished one is continued from its
    checkpoint when `resume` is set; without it, it is refused (ConfigError) so nothing is overwritten.
    """
    run, done = _prepare(config, out, resume, observers)
    if done is not None:
        return run, done
    task = build_task(config)  # before anything is written: a missing dataset leaves no trace
    run.claim(config)
    _save_toy_data(run, config)
    try:
        outcome = fit(task, run, progress=progress, checkpoint_every_s=checkpoint_every_s,
                      desc=config.default_name())
    except KeyboardInterrupt:
        raise  # left resumable: no summary, the last checkpoint stays
    except Exception as exc:
        _fail(run, exc)
        raise
    return run, _finish(run, config, outcome)


def execute_population(configs: list[RunConfig], outs: list | None = None, *, resume: bool = False,
                       progress: bool | None = None, checkpoint_every_s: float = 10.0,
                       observers: list[list] | None = None) -> list[tuple[RunDir, dict]]:
    """`execute` for configs that differ only in seed, trained together as one population.

    Each config gets its own standard run directory (outs[i], or its default), exactly as its single run
    would write it. Finished members are skipped; unfinished ones resume from their checkpoints, in groups
    that were checkpointed at the same step. Returns (run dir, summary) per config, in order.
    """
    outs = outs or [None] * len(configs)
    observers = observers or [None] * len(configs)
    prepared = [_prepare(c, o, resume, obs) for c, o, obs in zip(configs, outs, observers, strict=True)]
    paths = [run.path.resolve() for run, _ in prepared]
    if len(set(paths)) != len(paths):
        raise ConfigError("two members of the population would share one run directory")
    results: list = [(run, done) if done is not None else None for run, done in prepared]
    groups: dict[int | None, list[int]] = {}
    for i, (run, done) in enumerate(prepared):
        if done is None:
            checkpoint = run.load_checkpoint()
            groups.setdefault(None if checkpoint is None else checkpoint["step"], []).append(i)
    for members in groups.values():
        cfgs, runs = [configs[i] for i in members], [prepared[i][0] for i in members]
        task = build_population(cfgs)
        for run, cfg in zip(runs, cfgs, strict=True):
            run.claim(cfg)
            _save_toy_data(run, cfg)
        try:
            outcomes = fit_population(task, runs, progress=progress, checkpoint_every_s=checkpoint_every_s,
                                      desc=f"{cfgs[0].default_name()} (+{len(cfgs) - 1} seeds)")
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            for run in runs:
                _fail(run, exc)
            raise
        for i, run, cfg, outcome in zip(members, runs, cfgs, outcomes, strict=True):
            results[i] = (run, _finish(run, cfg, outcome))
    return results
