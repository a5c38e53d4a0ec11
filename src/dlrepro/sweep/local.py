"""Run a list of trials on a local process pool: cores // workers torch threads each, a line per trial.

Each trial is `execute(config, run_dir, resume=True)`: a completed run is skipped, an interrupted one
resumes from its checkpoint, a failed one is retried. A trial that raises is recorded as failed and the
others go on; a diverged trial is a result, not a failure. A trial whose run directory another process is
writing (another sweep on the same folder) is left to it: "running elsewhere", not a failure either.

Several workers, trials naming a user's class, or a trial time limit (`options.trial_timeout`) run in
worker processes of `dlrepro.sweep.pool`, one unit of work each at a time: a worker that dies (os._exit, a
signal) or runs past the limit fails that unit only, with one line, and Ctrl-C starts nothing queued. One
worker with built-in trials and no limit trains in this process.

Trials that differ only in their seed train as one population (one standard run directory per seed) when
their model kind says so (dlrepro.registry.MODEL_KINDS: `vectorize`), unless `vectorize=False`
(`--no-vectorize`). The rule is a measurement:
`benchmarks/population.py` on the 2-core CPU, recorded in BENCHMARKS.md ("Seed populations"): the batch-1
MLPs train much faster as populations than as single runs through the pool, and the RNN (batch 128, close
to compute-bound) gains nothing, so it is not grouped.
On a GPU (trials with --device cuda or auto, when GPUs are present) the PyTorch MLP, the RNN and the ConvNet
are grouped (`vectorize_gpu`; ConvNet trials also across optimizer and lr, its kind's `member_settings`, which
`RunConfig.population_key` leaves out): one such model at the reference's batch size leaves a GPU almost
idle. That is an expectation, not yet a measurement (BENCHMARKS.md, "GPU"; benchmarks/gpu.sh and
benchmarks/gpu_part2.sh measure it).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path

from dlrepro.registry import MODEL_KINDS
from dlrepro.sweep.pool import run_pool
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
from dlrepro.train.plugins import user_fields


def gpu_ids() -> list[str]:
    """The GPUs this process may use (CUDA_VISIBLE_DEVICES, or all of them); [] without CUDA."""
    import torch

    n = torch.cuda.device_count()  # does not create a CUDA context, so spawning workers stays safe
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else [str(i) for i in range(n)]
    return ids[:n]


def exit_with_parent(parent: int | None = None, every_s: float = 1.0) -> None:
    """Make this worker process exit when the sweep's main process dies, even by SIGKILL (which runs no
    cleanup in it): on Linux the kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG), and on
    any system a daemon thread checks the parent's pid every `every_s` seconds (the fallback)."""
    parent = os.getppid() if parent is None else parent
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)  # the run directory stays resumable: every write is atomic or an appended row

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def init_worker(threads: int = 1, counter=None, gpus: tuple[str, ...] = (), parent: int | None = None) -> None:
    """Pin a pool worker: `threads` torch threads and, with `gpus`, the next GPU in turn (worker k gets
    gpus[k % len(gpus)], so --trials-per-gpu K puts K concurrent trials on each GPU). With `parent` (the
    sweep's pid), the worker exits when that process dies (`exit_with_parent`)."""
    if parent is not None:
        exit_with_parent(parent)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if counter is not None and gpus:
        with counter.get_lock():
            k = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]
    import torch

    torch.set_num_threads(threads)  # cores // workers threads each: no oversubscription of the cores


def run_trials(configs: list[RunConfig], run_dirs: list[Path], tensorboard: bool = False) -> list[TrialResult]:
    """Run one unit of work (`execute_seeds`: one trial, or trials that share a population key as one
    population). An exception is recorded as failed for each of them, never raised."""
    from dlrepro.run_format import finished
    from dlrepro.runs.execute import error_text, execute_seeds
    from dlrepro.runs.rundir import RunDir

    def summary_of(d: Path) -> dict | None:
        try:
            return RunDir(d).summary()
        except Exception:  # a corrupt summary: the trial's own error says so
            return None

    before = [summary_of(d) for d in run_dirs]
    try:
        results = execute_seeds(configs, run_dirs, tensorboard=tensorboard, skip_busy=True, resume=True,
                                progress=False)
    except (Exception, SystemExit) as exc:  # recorded, never fatal for the sweep (SystemExit: a user's class)
        return [TrialResult(d.name, d, "failed", summary_of(d), error=error_text(exc)) for d in run_dirs]
    return [TrialResult(d.name, d, RUNNING_ELSEWHERE, None, error=f"run {d} is being written by another process")
            if summary is None else
            TrialResult(d.name, d, summary["status"], summary,
                        skipped=finished(b))
            for d, (_, summary), b in zip(run_dirs, results, before, strict=True)]


def _run_unit(unit: list[Trial], tensorboard: bool) -> list[TrialResult]:
    return run_trials([c for c, _ in unit], [Path(d) for _, d in unit], tensorboard)


def _run_packed(job: tuple[list[Trial], bool]) -> list[TrialResult]:
    return _run_unit(*job)


def _failed(run_dir: Path, error: str) -> TrialResult:
    """A trial whose worker did not report back: failed, with its run directory's summary if any."""
    from dlrepro.runs.rundir import RunDir

    try:
        summary = RunDir(run_dir).summary()
    except Exception:
        summary = None
    return TrialResult(run_dir.name, run_dir, "failed", summary, error=error)


def pool_shape(trials: list[Trial], n_units: int, workers: int | None = None,
               trials_per_gpu: int = 1) -> tuple[int, int, tuple[str, ...]]:
    """(workers, torch threads per worker, GPUs to pin workers to) for a pool running `n_units` units."""
    cores = os.cpu_count() or 1
    gpus = tuple(gpu_ids()) if any(c.uses_gpu for c, _ in trials) else ()
    if workers is None:
        workers = len(gpus) * trials_per_gpu if gpus else cores
    workers = max(1, min(workers, n_units or 1))
    return workers, max(1, cores // workers), gpus


def plan_units(trials: list[Trial], vectorize: bool = True,
               gpus: bool = False) -> list[list[int]]:
    """Trial indices grouped into units of work: a seed population (kinds whose `vectorize`, or for trials on
    a GPU when `gpus` whose `vectorize_gpu`, is set: dlrepro.registry.MODEL_KINDS), or one trial."""
    from dlrepro.train.build import population_kind

    units: list[list[int]] = []
    group_of: dict[str, int] = {}
    for i, (cfg, _) in enumerate(trials):
        kind = MODEL_KINDS.get(population_kind(cfg) or "")
        if vectorize and kind is not None and (kind.vectorize_gpu if gpus and cfg.uses_gpu else kind.vectorize):
            key = cfg.population_key()
            if key in group_of:
                units[group_of[key]].append(i)
                continue
            group_of[key] = len(units)
        units.append([i])
    return units


def run_local(trials: list[Trial], options: SweepOptions = DEFAULT_OPTIONS, log: Log = print) -> list[TrialResult]:
    """Run every (config, run_dir) and return their results in the given order. With `options.vectorize`,
    seeds of the kinds that say so train as populations (see the module docstring). When the trials train on
    a GPU and GPUs are present, the pool has (by default) `options.trials_per_gpu` workers per GPU, each
    pinned to one: several small trials then share a GPU that one alone would leave underused."""
    tensorboard = options.tensorboard
    start = time.perf_counter()
    results, todo = split_done(trials, log)

    def done(unit: list[int], unit_results: list[TrialResult]) -> None:
        for i, r in zip(unit, unit_results, strict=True):
            results[i] = r
            log(trial_line(len(results), len(trials), r))

    if not todo:
        log(f"{len(trials)} trials in {time.perf_counter() - start:.1f} s: none left to run")
        return [results[i] for i in range(len(trials))]
    on_gpu = any(trials[i][0].uses_gpu for i in todo) and bool(gpu_ids())
    units = [[todo[j] for j in unit]
             for unit in plan_units([trials[i] for i in todo], options.vectorize, gpus=on_gpu)]
    workers, threads, gpus = pool_shape([trials[i] for i in todo], len(units), options.workers,
                                        options.trials_per_gpu)

    isolate = options.trial_timeout is not None or any(user_fields(trials[i][0]) for i in todo)
    if workers == 1 and not isolate:
        init_worker(threads)  # one trial at a time: it sees every GPU and picks the first
        for unit in units:
            done(unit, _run_unit([trials[i] for i in unit], tensorboard))
    else:
        # a process per worker, one unit at a time (dlrepro.sweep.pool): a crash, a hang past the time limit
        # or a Ctrl-C costs the units it stops, nothing queued
        counter = mp.get_context("spawn").Value("i", 0)

        def ended(k: int, unit_results: list[TrialResult] | None, error: str | None) -> None:
            unit = units[k]
            if unit_results is None:  # the worker died, ran past the limit, or the unit raised
                unit_results = [_failed(Path(trials[i][1]), error or "failed") for i in unit]
            done(unit, unit_results)

        run_pool([([trials[i] for i in unit], tensorboard) for unit in units], _run_packed, workers, ended,
                 initializer=init_worker, initargs=(threads, counter, gpus, os.getpid()),
                 limit_s=options.trial_timeout)
    populations = sum(len(u) > 1 for u in units)
    grouped = f" ({populations} seed population(s))" if populations else ""
    on_gpus = f", sharing {len(gpus)} GPU(s)" if gpus and workers > 1 else ""
    log(f"{len(trials)} trials{grouped} in {time.perf_counter() - start:.1f} s on {workers} worker(s) x "
        f"{threads} thread(s){on_gpus}")
    log_elsewhere(results.values(), log)
    if sys.stdout is not None:
        sys.stdout.flush()
    return [results[i] for i in range(len(trials))]
