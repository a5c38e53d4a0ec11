"""Run a list of trials on a local process pool: cores // workers torch threads each, a line per trial.

Each trial is `execute(config, run_dir, resume=True)`: a completed run is skipped, an interrupted one
resumes from its checkpoint, a failed one is retried. A trial that raises is recorded as failed and the
others go on; a diverged trial is a result, not a failure. A trial whose run directory another process is
writing (another sweep on the same folder) is left to it: "running elsewhere", not a failure either.

Trials that differ only in their seed train as one population (`execute_population`, one standard run
directory per seed) when their model kind is in VECTORIZE, unless `vectorize=False` (`--no-vectorize`).
The rule comes from `benchmarks/population.py` on the 2-core CPU (BENCHMARKS.md, "Seed populations"):
8 seeds of a batch-1 MLP train as one population in 1.2-1.5x the time of one single run, and end to end
(run directories written) 2.75x (NumPy) and 3.5x (PyTorch) faster than 8 single runs through the pool on
both cores, so the MLPs are grouped; the toy study's full profile runs 2.15x faster for it. The RNN
(batch 128, hidden 128) is close to compute-bound: 8 seeds as a population took as long as 8 single runs
through the pool (1.00x), so it is not grouped.
On a GPU (trials with --device cuda or auto, when GPUs are present) the PyTorch MLP and the RNN are grouped:
one such small model leaves a GPU almost idle, so S members should cost about what one does. That is the
expectation issue 6 states; no GPU was lent to measure it yet (benchmarks/gpu.sh does, when one is).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from dlrepro.train.config import RunConfig

VECTORIZE = frozenset({"mlp-numpy", "mlp-torch"})  # model kinds whose seeds a sweep trains as populations
VECTORIZE_GPU = frozenset({"mlp-torch", "rnn"})    # the same for trials on a GPU (not measured yet: see above)
RUNNING_ELSEWHERE = "running elsewhere"  # a trial's status when another process holds its run directory


@dataclass
class TrialResult:
    name: str
    run_dir: Path
    status: str            # completed | diverged | failed | running elsewhere (RUNNING_ELSEWHERE)
    summary: dict | None
    error: str | None = None
    skipped: bool = False  # it was already complete before this sweep


def uses_gpu(cfg: RunConfig) -> bool:
    """Trials that train on a GPU when one is present: --device cuda or auto (the ConvNet's default)."""
    return getattr(cfg, "device", "cpu") != "cpu"


def gpu_ids() -> list[str]:
    """The GPUs this process may use (CUDA_VISIBLE_DEVICES, or all of them); [] without CUDA."""
    import torch

    n = torch.cuda.device_count()  # does not create a CUDA context, so spawning workers stays safe
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else [str(i) for i in range(n)]
    return ids[:n]


def _init_worker(threads: int = 1, counter=None, gpus: tuple[str, ...] = ()) -> None:
    """Pin a pool worker: `threads` torch threads and, with `gpus`, the next GPU in turn (worker k gets
    gpus[k % len(gpus)], so --trials-per-gpu K puts K concurrent trials on each GPU)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if counter is not None and gpus:
        with counter.get_lock():
            k = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]
    import torch

    torch.set_num_threads(threads)  # cores // workers threads each: no oversubscription of the cores


def run_trials(configs: list[RunConfig], run_dirs: list[Path], tensorboard: bool = False) -> list[TrialResult]:
    """Run one trial (`execute`), or trials that differ only in seed as one population
    (`execute_population`). An exception is recorded as failed for each of them, never raised."""
    from dlrepro.errors import RunBusy
    from dlrepro.runs.execute import error_text, execute, execute_population
    from dlrepro.runs.rundir import RunDir
    from dlrepro.runs.tensorboard import run_observers

    def summary_of(d: Path) -> dict | None:
        try:
            return RunDir(d).summary()
        except Exception:  # a corrupt summary: the trial's own error says so
            return None

    before = [summary_of(d) for d in run_dirs]
    observers: list[list] = [[] for _ in run_dirs]
    try:
        observers = [run_observers(d, tensorboard) for d in run_dirs]
        if len(configs) == 1:
            try:
                results = [execute(configs[0], run_dirs[0], resume=True, progress=False, observers=observers[0])]
            except RunBusy as exc:
                return [TrialResult(run_dirs[0].name, run_dirs[0], RUNNING_ELSEWHERE, None, error=str(exc))]
        else:
            results = execute_population(configs, run_dirs, resume=True, progress=False, observers=observers,
                                         skip_busy=True)
    except Exception as exc:  # recorded, never fatal for the sweep
        return [TrialResult(d.name, d, "failed", summary_of(d), error=error_text(exc)) for d in run_dirs]
    finally:
        for obs in observers:
            for o in obs:
                o.close()
    return [TrialResult(d.name, d, RUNNING_ELSEWHERE, None, error=f"run {d} is being written by another process")
            if summary is None else
            TrialResult(d.name, d, summary["status"], summary,
                        skipped=b is not None and b["status"] in ("completed", "diverged"))
            for d, (_, summary), b in zip(run_dirs, results, before, strict=True)]


def _run_unit(unit: list[tuple[RunConfig, Path]], tensorboard: bool) -> list[TrialResult]:
    return run_trials([c for c, _ in unit], [Path(d) for _, d in unit], tensorboard)


def pool_shape(trials: list[tuple[RunConfig, Path]], n_units: int, workers: int | None = None,
               trials_per_gpu: int = 1) -> tuple[int, int, tuple[str, ...]]:
    """(workers, torch threads per worker, GPUs to pin workers to) for a pool running `n_units` units."""
    cores = os.cpu_count() or 1
    gpus = tuple(gpu_ids()) if any(uses_gpu(c) for c, _ in trials) else ()
    if workers is None:
        workers = len(gpus) * trials_per_gpu if gpus else cores
    workers = max(1, min(workers, n_units or 1))
    return workers, max(1, cores // workers), gpus


def plan_units(trials: list[tuple[RunConfig, Path]], vectorize: bool = True,
               gpus: bool = False) -> list[list[int]]:
    """Trial indices grouped into units of work: a seed population (kinds in VECTORIZE, or VECTORIZE_GPU
    for trials on a GPU when `gpus`), or one trial."""
    from dlrepro.train.build import population_kind

    units: list[list[int]] = []
    group_of: dict[str, int] = {}
    for i, (cfg, _) in enumerate(trials):
        rule = VECTORIZE_GPU if gpus and uses_gpu(cfg) else VECTORIZE
        if vectorize and population_kind(cfg) in rule:
            key = cfg.population_key()
            if key in group_of:
                units[group_of[key]].append(i)
                continue
            group_of[key] = len(units)
        units.append([i])
    return units


def already_done(cfg: RunConfig, run_dir: Path) -> TrialResult | None:
    """The result of a trial whose run directory holds this config's finished run (completed or diverged),
    read from config.json and summary.json only; None when it has to run (or be refused) in a worker."""
    from dlrepro.runs.rundir import RunDir

    run = RunDir(run_dir)
    summary = run.finished(cfg)
    if summary is None:
        return None
    return TrialResult(run.path.name, run.path, summary["status"], summary, skipped=True)


def _line(i: int, n: int, r: TrialResult) -> str:
    if r.status in ("failed", RUNNING_ELSEWHERE):
        return f"[{i}/{n}] {r.status:<10} {r.name}: {r.error}"
    acc = r.summary["final"]["test_acc"]
    acc_text = "n/a" if acc is None else f"{acc:.4f}"
    how = "already done" if r.skipped else f"{r.summary['wall_time_s']:.1f} s"
    return f"[{i}/{n}] {r.status:<10} {r.name}  test_acc {acc_text}  ({how})"


def log_elsewhere(results, log) -> None:
    """The sweep's closing word on trials another process was writing (they are not failures)."""
    elsewhere = [r.name for r in results if r.status == RUNNING_ELSEWHERE]
    if elsewhere:
        log(f"{len(elsewhere)} trial(s) running elsewhere (another process holds their run directory; rerun "
            f"the sweep once it is done to see them here): {', '.join(elsewhere)}")


def run_local(trials: list[tuple[RunConfig, Path]], workers: int | None = None, log=print,
              tensorboard: bool = False, vectorize: bool = True, trials_per_gpu: int = 1) -> list[TrialResult]:
    """Run every (config, run_dir) and return their results in the given order. With `vectorize`, seeds
    of the kinds in VECTORIZE train as populations (see the module docstring). When the trials train on a
    GPU and GPUs are present, the pool has (by default) `trials_per_gpu` workers per GPU, each pinned to one:
    several small trials then share a GPU that one alone would leave underused."""
    results: dict[int, TrialResult] = {}
    start = time.perf_counter()

    def done(unit: list[int], unit_results: list[TrialResult]) -> None:
        for i, r in zip(unit, unit_results, strict=True):
            results[i] = r
            log(_line(len(results), len(trials), r))

    for i, (cfg, run_dir) in enumerate(trials):  # finished trials cost a file read, no worker, no torch
        finished = already_done(cfg, Path(run_dir))
        if finished is not None:
            done([i], [finished])
    todo = [i for i in range(len(trials)) if i not in results]
    if not todo:
        log(f"{len(trials)} trials in {time.perf_counter() - start:.1f} s: none left to run")
        return [results[i] for i in range(len(trials))]
    on_gpu = any(uses_gpu(trials[i][0]) for i in todo) and bool(gpu_ids())
    units = [[todo[j] for j in unit] for unit in plan_units([trials[i] for i in todo], vectorize, gpus=on_gpu)]
    workers, threads, gpus = pool_shape([trials[i] for i in todo], len(units), workers, trials_per_gpu)

    if workers == 1:
        _init_worker(threads)  # one trial at a time: it sees every GPU and picks the first
        for unit in units:
            done(unit, _run_unit([trials[i] for i in unit], tensorboard))
    else:
        # spawn, not fork: the parent has imported torch, whose thread pools must not be forked
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(threads, ctx.Value("i", 0), gpus)) as pool:
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
