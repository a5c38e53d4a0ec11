"""Run one config (or a seed population of configs) end to end into run directories: lock, check, build
the task, train, plot, summarise. `execute_seeds` is the one entry for the CLI and both sweep backends: it
decides "one population or single runs" and owns the observers' lifetime.

Everything a run writes happens while its directory's writer lock is held (`RunDir.writing`), and the
"is it finished already?" check is repeated under the lock: two processes given the same run (two sweeps
on one folder, a Ray retry of a trial that only looked dead) never both train it. The second one gets
RunBusy, naming the holder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from dlrepro.errors import ConfigError, RunBusy, naming, os_error_text
from dlrepro.files import atomic_write_bytes
from dlrepro.run_format import CURVES, METRICS, TOY_DATA, too_large
from dlrepro.runs.curves import plot_curves
from dlrepro.runs.rundir import RunDir, RunObserver
from dlrepro.runs.tensorboard import run_observers
from dlrepro.seeds import seed_globals
from dlrepro.train.build import build_population, build_task, population_kind
from dlrepro.train.config import RunConfig
from dlrepro.train.engine import Sink, fit, fit_population
from dlrepro.train.plugins import PluginFailed, blame, resolve, resolve_all


def default_run_dir(config: RunConfig, root: str | os.PathLike = "runs") -> Path:
    return Path(root) / config.default_name()


def _check(run: RunDir, config: RunConfig, resume: bool) -> dict | None:
    """The run's summary if it is already finished; refuses (ConfigError) what must not run. Read-only."""
    run.check(config)
    done = run.finished(config)
    if done is not None:
        return done
    if run.file(METRICS).exists() and not resume:
        raise ConfigError(f"--out {run.path} holds an unfinished run of this config; pass --resume to "
                          "continue it or choose another --out")
    return None


def error_text(exc: BaseException) -> str:
    """One line for a failed run: 'PATH: reason' for an I/O error (a full disk), the line of a user's class
    that failed (PluginFailed), else 'Type: message'."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return os_error_text(exc)
    if isinstance(exc, PluginFailed):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _user_code(config: RunConfig):
    """What a user's class raises while its run is built or trained (or a sys.exit() in it) leaves as one
    PluginFailed line (`dlrepro.train.plugins.blame`); anything else passes through."""
    try:
        yield
    except (Exception, SystemExit) as exc:
        text = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else error_text(exc)
        failed = blame(config, exc, text)
        if failed is None:
            raise
        raise failed from exc


def _save_toy_data(run: RunDir, task) -> None:
    """A toy-set run keeps the split its task trains on (data.npz): the report plots it without scikit-learn. A
    split larger than the run format lets data.npz be is not kept (the report draws no scatter of it)."""
    from dlrepro.data.toy import save_toy

    data = getattr(task, "toy_data", None)
    if data is not None and not run.file(TOY_DATA).exists():
        blob = save_toy(data)
        if too_large(TOY_DATA, len(blob)) is None:
            atomic_write_bytes(run.file(TOY_DATA), blob)


def _fail(run: RunDir, exc: BaseException) -> None:
    """Record the failure in summary.json if the disk still lets us (on a full one it may not: then the
    run has no summary, which reads as unfinished, and --resume continues it all the same)."""
    with contextlib.suppress(OSError):
        run.write_summary("failed", steps=0, wall_time_s=0.0, error=error_text(exc))


def _finish(run: RunDir, config: RunConfig, outcome) -> dict:
    """The figure, then summary.json last: a run with a summary has all its files."""
    with naming(run.file(CURVES)):
        plot_curves(run.metrics(), run.file(CURVES), title=config.default_name())
    return run.write_summary(outcome.status, outcome.steps, outcome.wall_time_s)


def execute(config: RunConfig, out: str | os.PathLike | None = None, *, resume: bool = False,
            progress: bool | None = None, checkpoint_every_s: float = 10.0,
            observers: list[RunObserver] | None = None) -> tuple[RunDir, dict]:
    """Train `config` into `out` and return (run dir, summary).

    `observers` see each metrics row and checkpoint as it is written (see `RunDir`).
    A completed run in `out` with the same config is left as it is. An unfinished one is continued from its
    checkpoint when `resume` is set; without it, it is refused (ConfigError) so nothing is overwritten.
    A run another process is writing raises RunBusy. A failure while training or finishing (a full disk)
    is recorded as status `failed` when possible and raised; the last checkpoint stays, for --resume.
    A user's class (an import path) is checked, or re-hashed, first (`dlrepro.train.plugins.resolve`).
    """
    config = resolve(config.validate())
    run = RunDir(out if out is not None else default_run_dir(config), observers)
    done = _check(run, config, resume)  # before the lock: a directory that is not ours is not touched
    if done is not None:
        return run, done
    with run.writing():
        done = _check(run, config, resume)  # again, now that nobody else can write it
        if done is not None:
            return run, done
        seed_globals(config.seed)  # before any model is built: a user's class may draw from them
        with _user_code(config):
            task = build_task(config)  # before anything is written: a missing dataset leaves no trace
        run.set_up(config)
        _save_toy_data(run, task)
        with _user_code(config):
            try:
                outcome = fit(task, run, progress=progress, checkpoint_every_s=checkpoint_every_s,
                              desc=config.default_name())
                return run, _finish(run, config, outcome)
            except KeyboardInterrupt:
                raise  # left resumable: no summary, the last checkpoint stays
            except (Exception, SystemExit) as exc:  # SystemExit: a sys.exit() in a user's class
                _fail(run, exc)
                raise


def execute_population(configs: list[RunConfig], outs: list | None = None, *, resume: bool = False,
                       progress: bool | None = None, checkpoint_every_s: float = 10.0,
                       observers: list[list[RunObserver]] | None = None,
                       skip_busy: bool = False) -> list[tuple[RunDir, dict | None]]:
    """`execute` for configs that share a population key (RunConfig.population_key: they differ only in seed, or
    in their kind's member_settings), trained together as one population.

    Each config gets its own standard run directory (outs[i], or its default), exactly as its single run
    would write it, and each is locked for the whole population's training. Finished members are skipped;
    unfinished ones resume from their checkpoints, in groups that were checkpointed at the same step.
    A member another process is writing raises RunBusy before anything trains, or with `skip_busy` is
    left alone and gets summary None. Returns (run dir, summary) per config, in order.
    """
    outs = outs or [None] * len(configs)
    observers = observers or [[] for _ in configs]
    runs = []
    configs = [resolve(c.validate()) for c in configs]
    for c, o, obs in zip(configs, outs, observers, strict=True):
        runs.append(RunDir(o if o is not None else default_run_dir(c), obs))
    paths = [run.path.resolve() for run in runs]
    if len(set(paths)) != len(paths):
        raise ConfigError("two members of the population would share one run directory")
    results: list = [None] * len(configs)
    todo = []
    for i, (run, cfg) in enumerate(zip(runs, configs, strict=True)):
        done = _check(run, cfg, resume)
        if done is not None:
            results[i] = (run, done)
        else:
            todo.append(i)
    with contextlib.ExitStack() as locks:
        for i in list(todo):
            try:
                locks.enter_context(runs[i].writing())
            except RunBusy:
                if not skip_busy:
                    raise
                results[i] = (runs[i], None)
                todo.remove(i)
        groups: dict[int | None, list[int]] = {}
        for i in todo:
            done = _check(runs[i], configs[i], resume)  # again, under the lock
            if done is not None:
                results[i] = (runs[i], done)
                continue
            checkpoint = runs[i].load_checkpoint()
            groups.setdefault(None if checkpoint is None else checkpoint["step"], []).append(i)
        for members in groups.values():
            cfgs, group = [configs[i] for i in members], [runs[i] for i in members]
            seed_globals(cfgs[0].seed)  # each member's model is built after seeding with its own seed
            with _user_code(cfgs[0]):
                task = build_population(cfgs)
            for run, cfg in zip(group, cfgs, strict=True):
                run.set_up(cfg)
                _save_toy_data(run, task)
            with _user_code(cfgs[0]):
                try:
                    sinks: list[Sink] = list(group)
                    outcomes = fit_population(task, sinks, progress=progress, checkpoint_every_s=checkpoint_every_s,
                                              desc=f"{cfgs[0].default_name()} (+{len(cfgs) - 1} members)")
                    for i, run, cfg, outcome in zip(members, group, cfgs, outcomes, strict=True):
                        results[i] = (run, _finish(run, cfg, outcome))
                except KeyboardInterrupt:
                    raise
                except (Exception, SystemExit) as exc:
                    for i, run in zip(members, group, strict=True):
                        if results[i] is None:
                            _fail(run, exc)
                    raise
    return results


def execute_seeds(configs: list[RunConfig], outs: list | None = None, *, vectorize: bool = True,
                  tensorboard: bool = False, observers: list[list[RunObserver]] | None = None, skip_busy: bool = False,
                  resume: bool = False, progress: bool | None = None,
                  checkpoint_every_s: float = 10.0) -> list[tuple[RunDir, dict | None]]:
    """Train configs that differ only in seed (or one config) into outs[i] (or each one's default): as one
    population when there are several, `vectorize` is set and their kind trains as one
    (`dlrepro.train.build.population_kind`), else one single run after another.

    Opens each run's observers (TensorBoard with `tensorboard`; `observers[i]`, the caller's, are added and
    left open) and closes them when done. A run another process is writing raises RunBusy, or with
    `skip_busy` is left alone and gets summary None. Returns (run dir, summary) per config, in order.
    """
    configs = resolve_all(configs)  # a user's class: its hash is part of the default run dir's name
    outs = outs or [None] * len(configs)
    extra = observers or [[] for _ in configs]
    opened: list[list[RunObserver]] = []
    try:
        for c, o in zip(configs, outs, strict=True):
            opened.append(run_observers(o if o is not None else default_run_dir(c), tensorboard))
        attached = [[*mine, *theirs] for mine, theirs in zip(extra, opened, strict=True)]
        if vectorize and len(configs) > 1 and population_kind(configs[0]) is not None:
            return execute_population(configs, outs, observers=attached, skip_busy=skip_busy, resume=resume,
                                      progress=progress, checkpoint_every_s=checkpoint_every_s)
        results: list[tuple[RunDir, dict | None]] = []
        for c, o, obs in zip(configs, outs, attached, strict=True):
            try:
                results.append(execute(c, o, observers=obs, resume=resume, progress=progress,
                                       checkpoint_every_s=checkpoint_every_s))
            except RunBusy:
                if not skip_busy:
                    raise
                results.append((RunDir(o if o is not None else default_run_dir(c)), None))
        return results
    finally:
        for obs in opened:
            for o in obs:
                o.close()
