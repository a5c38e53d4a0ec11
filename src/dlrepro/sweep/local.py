"""Run a list of trials on a local process pool: cores // workers torch threads each, a line per trial.

Each trial is `execute(config, run_dir, resume=True)`: a completed run is skipped, an interrupted one
resumes from its checkpoint, a failed one is retried. A trial that raises is recorded as failed and the
others go on; a diverged trial is a result, not a failure. A trial whose run directory another process is
writing (another sweep on the same folder) is left to it: "running elsewhere", not a failure either.

Trials that differ only in their seed train as one population (one standard run directory per seed) when
their model kind is in VECTORIZE, unless `vectorize=False` (`--no-vectorize`). The rule is a measurement:
`benchmarks/population.py` on the 2-core CPU, recorded in BENCHMARKS.md ("Seed populations"): the batch-1
MLPs train much faster as populations than as single runs through the pool, and the RNN (batch 128, close
to compute-bound) gains nothing, so it is not grouped.
On a GPU (trials with --device cuda or auto, when GPUs are present) the PyTorch MLP, the RNN and the ConvNet
are grouped (VECTORIZE_GPU; ConvNet trials also across optimizer and lr, `dlrepro.train.build.population_key`):
one such model at the reference's batch size leaves a GPU almost idle. That is issue 6's expectation, not yet a
measurement (BENCHMARKS.md, "GPU"; benchmarks/gpu.sh measures it).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

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

VECTORIZE = frozenset({"mlp-numpy", "mlp-torch"})  # model kinds whose seeds a sweep trains as populations
VECTORIZE_GPU = frozenset({"mlp-torch", "rnn", "cnn"})  # the same for trials on a GPU (not measured yet: see above)


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
    """Run one unit of work (`execute_seeds`: one trial, or trials that differ only in seed as one
    population). An exception is recorded as failed for each of them, never raised."""
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
    except Exception as exc:  # recorded, never fatal for the sweep
        return [TrialResult(d.name, d, "failed", summary_of(d), error=error_text(exc)) for d in run_dirs]
    return [TrialResult(d.name, d, RUNNING_ELSEWHERE, None, error=f"run {d} is being written by another process")
            if summary is None else
            TrialResult(d.name, d, summary["status"], summary,
                        skipped=b is not None and b["status"] in ("completed", "diverged"))
            for d, (_, summary), b in zip(run_dirs, results, before, strict=True)]


def _run_unit(unit: list[Trial], tensorboard: bool) -> list[TrialResult]:
    return run_trials([c for c, _ in unit], [Path(d) for _, d in unit], tensorboard)


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
    """Trial indices grouped into units of work: a seed population (kinds in VECTORIZE, or VECTORIZE_GPU
    for trials on a GPU when `gpus`), or one trial."""
    from dlrepro.train.build import population_key, population_kind

    units: list[list[int]] = []
    group_of: dict[str, int] = {}
    for i, (cfg, _) in enumerate(trials):
        rule = VECTORIZE_GPU if gpus and cfg.uses_gpu else VECTORIZE
        if vectorize and population_kind(cfg) in rule:
            key = population_key(cfg)  # the ConvNet's members may differ in optimizer and lr too
            if key in group_of:
                units[group_of[key]].append(i)
                continue
            group_of[key] = len(units)
        units.append([i])
    return units


def run_local(trials: list[Trial], options: SweepOptions = DEFAULT_OPTIONS, log: Log = print) -> list[TrialResult]:
    """Run every (config, run_dir) and return their results in the given order. With `options.vectorize`,
    seeds of the kinds in VECTORIZE train as populations (see the module docstring). When the trials train on
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

    if workers == 1:
        init_worker(threads)  # one trial at a time: it sees every GPU and picks the first
        for unit in units:
            done(unit, _run_unit([trials[i] for i in unit], tensorboard))
    else:
        # spawn, not fork: the parent has imported torch, whose thread pools must not be forked
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker,
                                 initargs=(threads, ctx.Value("i", 0), gpus, os.getpid())) as pool:
            futures = {pool.submit(_run_unit, [trials[i] for i in unit], tensorboard): unit for unit in units}
            for fut in as_completed(futures):
                unit = futures[fut]
                try:
                    unit_results = fut.result()
                except Exception as exc:  # a worker that died (killed, out of memory) fails its trials only
                    dirs = [Path(trials[i][1]) for i in unit]
                    unit_results = [TrialResult(d.name, d, "failed", None, error=f"{type(exc).__name__}: {exc}")
                                    for d in dirs]
                done(unit, unit_results)
    populations = sum(len(u) > 1 for u in units)
    grouped = f" ({populations} seed population(s))" if populations else ""
    on_gpus = f", sharing {len(gpus)} GPU(s)" if gpus and workers > 1 else ""
    log(f"{len(trials)} trials{grouped} in {time.perf_counter() - start:.1f} s on {workers} worker(s) x "
        f"{threads} thread(s){on_gpus}")
    log_elsewhere(results.values(), log)
    sys.stdout.flush()
    return [results[i] for i in range(len(trials))]
