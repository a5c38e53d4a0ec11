"""Time the Part 3 study (or a stated fraction of it) and compare it with its fp32 arithmetic floor.

    .venv/bin/python benchmarks/rnn_study.py [--fraction 0.1] [--workers 2]

Runs every (cell, lr, input length) configuration of the palindrome study's full grid for seed 0 only
and `fraction` of its 10,000 steps, through the same local pool as `dlrepro sweep` (one torch thread per
worker), then extrapolates to the full study (x 1/fraction steps, x 3 seeds). The floor is the study's
matmul FLOPs (training forward + backward ~ 3x forward, plus the held-out evaluations) divided by the
measured single-thread sgemm rate times the number of workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from dlrepro.studies.spec import load_study
from dlrepro.sweep.local import run_local
from dlrepro.sweep.trials import SweepOptions


def sgemm_rate(n: int = 128, reps: int = 2000) -> float:
    torch.set_num_threads(1)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(50):
        a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - start)


def forward_flops(cfg) -> float:
    """Matmul FLOPs of one forward pass over a batch: the recurrence dominates (4 gates for the LSTM)."""
    gates = 4 if cfg.cell == "lstm" else 1
    recurrent = 2 * cfg.batch_size * cfg.hidden * gates * cfg.hidden * (cfg.input_length - 1)
    inputs = 2 * cfg.batch_size * 1 * gates * cfg.hidden * cfg.input_length
    output = 2 * cfg.batch_size * cfg.hidden * 10
    return recurrent + inputs + output


def study_flops(cfg) -> float:
    train = 3 * forward_flops(cfg) * cfg.steps
    evals = forward_flops(cfg) * (cfg.test_size / cfg.batch_size) * (cfg.steps // cfg.eval_every + 1)
    return train + evals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fraction", type=float, default=0.1, help="share of the 10,000 steps to run (default 0.1)")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    full = load_study("palindrome").trials("full")
    seeds = sorted({c.seed for c in full})
    sample = [dataclasses.replace(c, steps=max(10, int(c.steps * a.fraction))) for c in full if c.seed == seeds[0]]
    rate = sgemm_rate()
    with tempfile.TemporaryDirectory() as tmp:
        trials = [(c, Path(tmp) / c.default_name()) for c in sample]
        start = time.perf_counter()
        results = run_local(trials, SweepOptions(workers=a.workers), log=lambda s: None)
        wall = time.perf_counter() - start
    assert all(r.status != "failed" for r in results), [r.error for r in results if r.error]
    scale = len(seeds) / a.fraction
    projected = wall * scale
    floor = sum(study_flops(c) for c in full) / (rate * a.workers)
    print(f"ran {len(sample)} configurations x {sample[0].steps} steps (seed {seeds[0]}, {a.fraction:g} of the "
          f"steps) on {a.workers} worker(s): {wall:.1f} s")
    print(f"single-thread sgemm 128^3: {rate / 1e9:.0f} GFLOP/s")
    print(f"full study ({len(full)} runs x {full[0].steps} steps): projected {projected / 60:.1f} min; "
          f"fp32 arithmetic floor {floor / 60:.1f} min on {a.workers} core(s) -> {projected / floor:.2f}x the floor")
    per_run = {}
    for r, c in zip(results, sample, strict=True):
        per_run.setdefault(c.cell, []).append(r.summary["wall_time_s"] / a.fraction)
    for cell, times in per_run.items():
        print(f"  {cell}: a 10,000-step run takes {min(times):.0f}-{max(times):.0f} s (projected, 2 runs side by side)")


if __name__ == "__main__":
    main()
