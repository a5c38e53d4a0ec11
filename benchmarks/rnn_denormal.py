"""Denormal numbers and the vanilla RNN at lr 1e-2 (Part 3): step time with and without
`torch.set_flush_denormal(True)`, and what flushing changes in the numbers.

What is measured (palindromes, L = 10, batch 128, hidden 128, float32, RMSprop, clip 10, one thread):
    1. `PalindromeTask` runs at lr 1e-3 and 1e-2 from the same seed, trained --warm steps with denormals kept
       (torch's default): the slowdown at lr 1e-2 sets in as training goes on.
    2. From each run's state, --window steps timed with denormals kept and flushed to zero, alternately
       (each from a copy of the same state), --repeats times: ms per step (best and median) and the ratio to
       the plain baseline, lr 1e-3 with denormals kept, timed in the same rounds.
    3. What flushing changes: from each state, the same --window steps kept and flushed; the largest weight
       difference after them and the held-out loss / accuracy of each; and the share of denormal values
       among the gradients of one step.

Run:   .venv/bin/python benchmarks/rnn_denormal.py                  (~3 min on 2 busy cores)
       .venv/bin/python benchmarks/rnn_denormal.py --warm 500 --window 50
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from dlrepro.train.config import RNNConfig
from dlrepro.train.engine import BatchStats
from dlrepro.train.rnn_task import PalindromeTask

TINY = torch.finfo(torch.float32).tiny  # the smallest normal float32


def denormal_share(tensors: list[torch.Tensor]) -> float:
    flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
    return float(((flat != 0) & (flat.abs() < TINY)).double().mean())


def steps(task: PalindromeTask, start: int, n: int, flush: bool) -> float:
    """Train steps start..start+n-1 with denormals flushed or kept: seconds per step."""
    torch.set_flush_denormal(flush)
    try:
        t0 = time.perf_counter()
        for step in range(start, start + n):
            task.train_step(step)
        return (time.perf_counter() - t0) / n
    finally:
        torch.set_flush_denormal(False)


def from_state(cfg: RNNConfig, state: dict) -> PalindromeTask:
    task = PalindromeTask(cfg)
    task.load_state_dict(copy.deepcopy(state))
    return task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warm", type=int, default=2000, help="steps trained before timing")
    ap.add_argument("--window", type=int, default=100, help="steps per timing")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not torch.set_flush_denormal(False):
        raise SystemExit("this CPU / build cannot flush denormals (needs SSE3)")
    print(f"vanilla RNN, L=10, batch 128, hidden 128, RMSprop, clip 10, seed 0, torch {torch.__version__}, "
          f"1 thread, after {args.warm} steps")
    cfgs = {lr: RNNConfig(lr=lr, steps=args.warm + args.window) for lr in (1e-3, 1e-2)}
    states = {}
    for lr, cfg in cfgs.items():
        task = PalindromeTask(cfg)
        t = steps(task, 0, args.warm, False)
        states[lr] = task.state_dict()
        x, y = task._batch(task.stream)
        task.optimizer.zero_grad()
        torch.nn.functional.cross_entropy(task.model(x), y).backward()
        share = denormal_share([p.grad for p in task.model.parameters()])
        print(f"  lr {lr:g}: {args.warm} warm-up steps at {t * 1e3:.2f} ms/step (denormals kept); denormal share "
              f"of one step's gradients {share:.2e}")
    times: dict[tuple[float, bool], list[float]] = {(lr, f): [] for lr in cfgs for f in (False, True)}
    for _ in range(args.repeats):
        for key in times:
            lr, flush = key
            times[key].append(steps(from_state(cfgs[lr], states[lr]), args.warm, args.window, flush))
    base = times[1e-3, False]
    for (lr, flush), ts in times.items():
        print(f"  lr {lr:g} denormals {'flushed' if flush else 'kept   '}: best {min(ts) * 1e3:6.2f} ms/step, median "
              f"{statistics.median(ts) * 1e3:6.2f} ({statistics.median(ts) / statistics.median(base):.2f}x the "
              f"lr 1e-3 kept median)")
    for lr, cfg in cfgs.items():
        kept, flushed = from_state(cfg, states[lr]), from_state(cfg, states[lr])
        steps(kept, args.warm, args.window, False)
        steps(flushed, args.warm, args.window, True)
        diff = max(float((a - b).detach().abs().max())
                   for a, b in zip(kept.model.parameters(), flushed.model.parameters(), strict=True))
        mk, mf = kept.evaluate(BatchStats()), flushed.evaluate(BatchStats())
        print(f"  lr {lr:g}, {args.window} steps kept vs flushed: max |dw| {diff:.2e}; held-out loss "
              f"{mk['test_loss']:.6f} vs {mf['test_loss']:.6f}, acc {mk['test_acc']:.4f} vs {mf['test_acc']:.4f}")


if __name__ == "__main__":
    main()
