"""Run a list of trials on a local process pool: cores // workers torch threads each, a line per trial.

Each trial is `execute(config, run_dir, resume=True)`: a completed run is skipped, an interrupted one
resumes from its checkpoint, a failed one is retried. A trial that raises is recorded as failed and the
others go on; a diverged trial is a result, not a failure.
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


@dataclass
class TrialResult:
    name: str
    run_dir: Path
    status: str            # completed | diverged | failed
    summary: dict | None
    error: str | None = None
    skipped: bool = False  # it was already complete before this sweep


def _init_worker(threads: int = 1) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)  # cores // workers threads each: no oversubscription of the cores


def run_trial(config: RunConfig, run_dir: Path, tensorboard: bool = False) -> TrialResult:
    from dlrepro.runs.execute import execute
    from dlrepro.runs.rundir import RunDir
    from dlrepro.runs.tensorboard import run_observers

    before = RunDir(run_dir).summary()
    skipped = before is not None and before["status"] in ("completed", "diverged")
    observers = run_observers(run_dir, tensorboard)
    try:
        _, summary = execute(config, run_dir, resume=True, progress=False, observers=observers)
    except Exception as exc:  # recorded, never fatal for the sweep
        return TrialResult(run_dir.name, run_dir, "failed", RunDir(run_dir).summary(),
                           error=f"{type(exc).__name__}: {exc}")
    finally:
        for obs in observers:
            obs.close()
    return TrialResult(run_dir.name, run_dir, summary["status"], summary, skipped=skipped)


def _line(i: int, n: int, r: TrialResult) -> str:
    if r.status == "failed":
        return f"[{i}/{n}] failed     {r.name}: {r.error}"
    acc = r.summary["final"]["test_acc"]
    acc_text = "n/a" if acc is None else f"{acc:.4f}"
    how = "already done" if r.skipped else f"{r.summary['wall_time_s']:.1f} s"
    return f"[{i}/{n}] {r.status:<10} {r.name}  test_acc {acc_text}  ({how})"


def run_local(trials: list[tuple[RunConfig, Path]], workers: int | None = None, log=print,
              tensorboard: bool = False) -> list[TrialResult]:
    """Run every (config, run_dir) and return their results in the given order."""
    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, len(trials) or 1))
    threads = max(1, cores // workers)
    results: dict[int, TrialResult] = {}
    start = time.perf_counter()
    if workers == 1:
        _init_worker(threads)
        for i, (cfg, d) in enumerate(trials):
            results[i] = run_trial(cfg, Path(d), tensorboard)
            log(_line(len(results), len(trials), results[i]))
    else:
        # spawn, not fork: the parent has imported torch, whose thread pools must not be forked
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(threads,)) as pool:
            futures = {pool.submit(run_trial, cfg, Path(d), tensorboard): i for i, (cfg, d) in enumerate(trials)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as exc:  # a worker that died (killed, out of memory) fails its trial only
                    d = Path(trials[i][1])
                    results[i] = TrialResult(d.name, d, "failed", None, error=f"{type(exc).__name__}: {exc}")
                log(_line(len(results), len(trials), results[i]))
    log(f"{len(trials)} trials in {time.perf_counter() - start:.1f} s on {workers} worker(s) x {threads} thread(s)")
    sys.stdout.flush()
    return [results[i] for i in range(len(trials))]
