"""Run a list of trials as Ray Tune trials, on a local Ray or a cluster, into the usual run directories.

Each trial is one Tune trial running `execute(config, run_dir, resume=True)`, so the run directory, not
Ray, holds the results: the report reads the same files whichever backend ran them. Tune is told every
metrics row (`tune.report`), with a `Checkpoint` when the run saved one. A trial that Ray restarts (a
crashed worker, a lost node) continues from its own checkpoint, as `--resume` does. Completed trials are
skipped without asking Ray; a trial that raises is recorded as failed and the others go on. A trial whose
run directory another process holds (another sweep on the same folder, or the first attempt of a trial Ray
retried because its worker only looked dead) ends at once as "running elsewhere", without touching it.

Ray is imported lazily: it is an optional extra (`pip install 'dlrepro[ray]'`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from dlrepro.errors import DlreproError
from dlrepro.runs.rundir import RunDir, RunObserver
from dlrepro.sweep.trials import (
    DEFAULT_OPTIONS,
    RUNNING_ELSEWHERE,
    Log,
    SweepOptions,
    Trial,
    TrialResult,
    log_elsewhere,
    split_done,
    trial_line,
)
from dlrepro.train.config import RunConfig

MAX_FAILURES = 2  # Ray restarts of a failed trial (crashed worker, lost node, error); each resumes the run dir

# Tune's console output: our line per trial replaces its tables and per-attempt tracebacks; the warning
# about frequent experiment snapshots is the price of keeping one Ray checkpoint per trial (num_to_keep=1).
# Ctrl-C raises KeyboardInterrupt as with the local pool, instead of Tune's graceful stop for
# Tuner.restore: the run directories are what a rerun resumes from.
_ENV = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0", "TUNE_DISABLE_SIGINT_HANDLER": "1"}


def require_ray():
    """Import Ray (with Tune), or raise the one-line DlreproError telling how to install it."""
    try:
        import ray
        import ray.tune  # noqa: F401
    except ImportError:
        raise DlreproError("--backend ray needs Ray: pip install 'dlrepro[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, workers: int | None = None):
    """Ray for the block: join the cluster at `address`, or start a local Ray with `workers` CPUs (default:
    all cores) and shut it down after. A Ray already initialised in this process is used as it is."""
    ray = require_ray()
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)
    if ray.is_initialized():
        yield ray
        return
    cifar = os.environ.get("DLREPRO_CIFAR10")  # workers may not inherit our environment (on a cluster)
    ray.init(address=address, num_cpus=None if address else workers or os.cpu_count(), include_dashboard=False,
             logging_level=logging.WARNING, log_to_driver=False,  # errors reach us through Tune instead
             runtime_env={"env_vars": {"DLREPRO_CIFAR10": str(Path(cifar).resolve())} if cifar else {}})
    try:
        yield ray
    finally:
        ray.shutdown()


class _Reporter(RunObserver):
    """A run observer inside a trial: each metrics row goes to `tune.report`, with a Ray
    Checkpoint when the engine saved one at that evaluation (it saves right after logging the row)."""

    def __init__(self) -> None:
        self.pending: dict | None = None

    def on_metrics(self, row: dict) -> None:
        self.flush()
        self.pending = dict(row)

    def on_checkpoint(self, path: Path, last_row: dict | None) -> None:
        from ray import tune

        # Ray copies a checkpoint directory into its storage: give it a temp dir beside checkpoint.pt holding
        # a hard link to it, so Ray's copy is the only one.
        tmp = Path(tempfile.mkdtemp(prefix=".ray-checkpoint-", dir=path.parent))
        try:
            try:
                os.link(path, tmp / path.name)
            except OSError:  # no hard links on this filesystem
                shutil.copy2(path, tmp / path.name)
            self.flush(tune.Checkpoint.from_directory(str(tmp)), last_row)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def flush(self, checkpoint=None, row: dict | None = None) -> None:
        from ray import tune

        row = self.pending or row
        if row is not None:
            tune.report(dict(row), checkpoint=checkpoint)
        self.pending = None


def _trainable(params: dict, trials: list[tuple[RunConfig, str]], tensorboard: bool = False) -> None:
    """One Tune trial, in a Ray worker: trials[params["index"]] into its run directory."""
    import torch
    from ray import tune

    from dlrepro.errors import RunBusy
    from dlrepro.runs.execute import execute_seeds

    config, run_dir = trials[params["index"]]
    torch.set_num_threads(int(tune.get_context().get_trial_resources().required_resources.get("CPU", 1)))
    reporter = _Reporter()
    try:
        execute_seeds([config], [run_dir], tensorboard=tensorboard, observers=[[reporter]], resume=True,
                      progress=False)
    except RunBusy as exc:  # not an error for Ray to retry: the run is in other hands
        tune.report({RUNNING_ELSEWHERE: str(exc)})
        return
    reporter.flush()


def _absolute(config: RunConfig) -> RunConfig:
    # Tune runs a trial in a working directory of its own, maybe on another node: no relative data path.
    root = config.to_dict().get("data_root")
    return config.with_location({"data_root": str(Path(root).resolve())}) if root else config


def run_ray(trials: list[Trial], options: SweepOptions = DEFAULT_OPTIONS, log: Log = print, *,
            storage_path: str | os.PathLike | None = None, name: str = "dlrepro",
            max_failures: int = MAX_FAILURES) -> list[TrialResult]:
    """Run every (config, run_dir) as a Ray Tune trial and return their results in the given order.

    options.address: the Ray cluster to join ("auto", "HEAD_IP:6379"); None: a local Ray (see `ray_session`).
    options.workers: most trials at a time (default: one per CPU). Each trial takes 1 CPU and runs 1 torch
    thread (these models gain little from more, and lose much when cores are shared); a ConvNet trial also
    takes 1 / options.trials_per_gpu of a GPU when the cluster has any (so that many share one GPU).
    storage_path: where Ray Tune keeps its own results and checkpoints, as storage_path/name/<trial id>
    (default: DIR/ray_results for run dirs under DIR/runs/).
    """
    require_ray()
    from ray import tune

    workers, address, tensorboard = options.workers, options.address, options.tensorboard
    trials_per_gpu = options.trials_per_gpu
    trials = [(_absolute(cfg), Path(d).resolve()) for cfg, d in trials]  # absolute: workers run elsewhere
    results, todo = split_done(trials, log)
    if not todo:
        return [results[i] for i in range(len(trials))]
    first = trials[todo[0]][1]
    storage = Path(storage_path or next((p.parent for p in first.parents if p.name == "runs"), first.parent)
                   / "ray_results")

    start = time.perf_counter()
    with ray_session(address, workers) as ray:
        gpus = ray.cluster_resources().get("GPU", 0) > 0
        payload = [(trials[i][0], str(trials[i][1])) for i in todo]

        def resources(params: dict) -> dict:  # per trial
            cfg = payload[params["index"]][0]
            return {"cpu": 1, "gpu": (1 / trials_per_gpu) if gpus and cfg.uses_gpu else 0}

        def trial_id(trial) -> str:  # Tune's name and folder for a trial: our trial id
            return Path(payload[trial.config["index"]][1]).name

        tuner = tune.Tuner(
            # Ray documents (and accepts) a function returning a resource dict; its annotation names only
            # PlacementGroupFactory, so the library's type is too narrow here
            tune.with_resources(tune.with_parameters(_trainable, trials=payload, tensorboard=tensorboard),
                                resources),  # type: ignore[arg-type]
            # the grid is the list of trials; the configs travel by tune.with_parameters (object store)
            param_space={"index": tune.grid_search(list(range(len(todo))))},
            tune_config=tune.TuneConfig(max_concurrent_trials=workers, trial_name_creator=trial_id,
                                        trial_dirname_creator=trial_id,
                                        reuse_actors=True),  # saves a worker start (torch import) per trial
            run_config=tune.RunConfig(
                name=name, storage_path=str(storage), verbose=0,
                # a time limit: Tune checks it at each metrics row the trial reports
                stop={"time_total_s": options.trial_timeout} if options.trial_timeout else None,
                failure_config=tune.FailureConfig(max_failures=max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),  # the run dir has the real one
                callbacks=[_lines(trials, todo, results, log, max_failures, options.trial_timeout)]),
        )
        tuner.fit()
    for i in todo:  # a trial Tune did not finish: failed for now, resumed by the next sweep
        if i not in results:
            d = trials[i][1]
            results[i] = TrialResult(d.name, d, "failed", RunDir(d).summary(), error="not finished by Ray")
    log(f"{len(todo)} trials in {time.perf_counter() - start:.1f} s on Ray, 1 CPU and torch thread each")
    log_elsewhere(results.values(), log)
    return [results[i] for i in range(len(trials))]


def _lines(ours, todo: list[int], results: dict, log, max_failures: int, limit_s: float | None = None):
    """A Tune callback on the driver: a line per finished trial, its result read back from its run dir.
    ours: every (config, run dir) of the sweep; todo: the indices in `ours` of Tune's trials, in grid order."""
    from ray import tune

    class Lines(tune.Callback):
        def _finish(self, trial, error: str | None = None) -> None:
            i = todo[trial.config["index"]]
            d = ours[i][1]
            elsewhere = (trial.last_result or {}).get(RUNNING_ELSEWHERE)
            try:
                summary = RunDir(d).summary()
            except DlreproError:
                summary = None
            if error is None and elsewhere:
                results[i] = TrialResult(d.name, d, RUNNING_ELSEWHERE, None, error=elsewhere)
            elif error is None and summary is not None:
                results[i] = TrialResult(d.name, d, summary["status"], summary)
            else:
                stopped = limit_s is not None and (trial.last_result or {}).get("time_total_s", 0) >= limit_s
                reason = (f"did not finish within the trial time limit ({limit_s:g} s); stopped" if stopped
                          else "no summary written")
                results[i] = TrialResult(d.name, d, "failed", summary, error=error or reason)
            log(trial_line(len(results), len(ours), results[i]))

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._finish(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._finish(trial, _error_text(trial))

        def on_trial_recover(self, iteration, trials, trial, **info):
            log(f"      {trial}: {_error_text(trial)}; Ray retries it "
                f"({trial.run_metadata.num_failures}/{max_failures})")

    return Lines()


def _error_text(trial) -> str:
    """'Type: message' of the exception a trial raised, as the local backend records it."""
    from ray import cloudpickle

    try:  # the driver's own copy, written before the callbacks run (the one in storage may lag)
        with open(trial.pickled_error_file, "rb") as f:
            err = cloudpickle.load(f)
    except (OSError, TypeError):
        return "failed in Ray (see its error.txt)"
    err = getattr(err, "cause", None) or err  # Ray wraps the trial's exception in a RayTaskError
    if isinstance(err, OSError) and err.filename is not None:  # a full disk: the path and the reason
        from dlrepro.runs.execute import error_text

        return error_text(err)
    first = (str(err).strip().splitlines() or [""])[0]  # a dead worker's message runs over many lines
    return f"{type(err).__name__}: {first}"
