"""Seed populations against single runs: does training S seeds at once pay, per model kind, on this machine?

    .venv/bin/python benchmarks/population.py [--seeds 8] [--workers N] [--only mlp-numpy,mlp-torch,rnn]

For each model kind it times, in one run, three ways of getting the same results into run directories:
    population   `execute_population` of S seeds in this process (torch threads: all cores)
    one single   `execute` of seed 0 in this process (torch threads: all cores)
    S singles    the S single runs through the local process pool (`dlrepro.sweep.local.run_local`, one
                 worker per core, cores // workers torch threads each), as a sweep without vectorising runs
The kinds: the batch-1 NumPy and PyTorch MLPs (moons, 1,000 points, hidden 20, SGD lr 0.01,
float64, 20 epochs, evaluated every 10) and the vanilla RNN (L = 20, batch 128, hidden 128, RMSprop 1e-3,
1,000 steps, evaluated every 10 steps on 1,024 held-out palindromes).

It prints end-to-end wall times (training plus everything a run writes: S checkpoints, S curves.png at
about 0.2 s each, ...) and the training time alone (the engine's wall_time_s in summary.json), the ratio
population / one single for training (target for the batch-1 MLPs: <= 2x), and pool / population end to
end: the rule `dlrepro sweep` follows when it groups seeds into populations
(`vectorize` of dlrepro.registry.MODEL_KINDS: kinds where the population is at least 1.2x faster than the pool).
A small run of each kind goes first, untimed, so imports and first-use costs are not charged to anyone.
Every population member is checked to end with the same final test loss as its single run (to 1e-6, 1e-4
for the float32 RNN).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch

from dlrepro.registry import MODEL_KINDS
from dlrepro.runs.execute import execute, execute_population
from dlrepro.sweep.local import run_local
from dlrepro.sweep.trials import SweepOptions
from dlrepro.train.config import MLPConfig, RNNConfig

KINDS = {
    "mlp-numpy": (MLPConfig(model="mlp-numpy", dataset="moons", epochs=20), 1e-6),
    "mlp-torch": (MLPConfig(model="mlp-torch", dataset="moons", epochs=20), 1e-6),
    "rnn": (RNNConfig(cell="rnn", input_length=20, steps=1000), 1e-4),
}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench(kind: str, seeds: int, workers: int, tmp: Path) -> dict:
    base, tol = KINDS[kind]
    cfgs = [dataclasses.replace(base, seed=s) for s in range(seeds)]
    torch.set_num_threads(os.cpu_count() or 1)
    warm = dataclasses.replace(base, **({"epochs": 1} if kind.startswith("mlp") else {"steps": 20}))
    execute_population([dataclasses.replace(warm, seed=s) for s in (0, 1)], [tmp / kind / "w0", tmp / kind / "w1"],
                       progress=False)
    execute(warm, tmp / kind / "w", progress=False)
    pop, t_pop = timed(lambda: execute_population(cfgs, [tmp / kind / "pop" / str(c.seed) for c in cfgs],
                                                  progress=False))
    (_, one), t_one = timed(lambda: execute(cfgs[0], tmp / kind / "one", progress=False))
    pool, t_pool = timed(lambda: run_local([(c, tmp / kind / "pool" / str(c.seed)) for c in cfgs],
                                           SweepOptions(workers=workers, vectorize=False), log=lambda s: None))
    for (_, summary), r in zip(pop, pool, strict=True):
        a, b = summary["final"]["test_loss"], r.summary["final"]["test_loss"]
        assert abs(a - b) <= tol, f"{kind}: population member {a} != single run {b}"
    return {"kind": kind, "pop": t_pop, "one": t_one, "pool": t_pool,
            "pop_train": max(summary["wall_time_s"] for _, summary in pop), "one_train": one["wall_time_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", default=",".join(KINDS))
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in a.only.split(","):
            rows.append(bench(kind, a.seeds, a.workers, Path(tmp)))
            r = rows[-1]
            print(f"{kind}: population {r['pop']:.2f} s (training {r['pop_train']:.2f} s), one single "
                  f"{r['one']:.2f} s (training {r['one_train']:.2f} s), {a.seeds} singles through the pool "
                  f"{r['pool']:.2f} s", flush=True)
    print(f"\nS = {a.seeds} seeds, {os.cpu_count()} core(s), pool of {a.workers} worker(s), torch "
          f"{torch.__version__}\n")
    print(f"| kind | training: population of {a.seeds} / one single (s) | ratio | end to end: population / "
          f"one single / {a.seeds} singles in the pool (s) | pool / population | sweep vectorises |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['pop_train']:.2f} / {r['one_train']:.2f} | {r['pop_train'] / r['one_train']:.2f}x | "
              f"{r['pop']:.2f} / {r['one']:.2f} / {r['pool']:.2f} | {r['pool'] / r['pop']:.2f}x | "
              f"{'yes' if MODEL_KINDS[r['kind']].vectorize else 'no'} |")


if __name__ == "__main__":
    main()
