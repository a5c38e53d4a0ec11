"""Vanilla-RNN training speed on the CPU: dlrepro's training step against a plain eager PyTorch loop.

What is measured (palindromes, L = 20, batch 128, hidden 128, float32, RMSprop lr 1e-3, clip 10)
    dlrepro: `PalindromeTask(RNNConfig(input_length=20, hidden=128, batch_size=128)).train_step`: draw a
    batch, forward the `VanillaRNN`, cross-entropy, backward, clip_grad_norm_, RMSprop, batch metrics.
    plain: the same written inline: nn.Parameter tensors (copied from the task's initial model), a per-step
    Python loop h = tanh(x_t W_hx + h W_hh + b_h), logits = h W_ph + b_p, F.cross_entropy,
    loss.backward(), clip_grad_norm_, torch.optim.RMSprop. It draws its batches with the same
    `dlrepro.data.palindrome` functions from the seed's data stream (`dlrepro.seeds`), excluding the
    held-out set as the task does, so it sees the same data.
    Both are first checked to end with the same weights after a few steps, then timed alternately
    (best and median of the repeats) with torch.set_num_threads(1) and with 2 threads.
    Also: one evaluation (`PalindromeTask.evaluate` on the 1,024 held-out palindromes), the estimate of a
    full default run (10,000 steps x step time + 1,000 evaluations x evaluation time, eval every 10 steps),
    and the fp32 arithmetic floor: FLOPs per training step (forward 2*B*H*H*(T-1) plus the input,
    output and elementwise terms; backward counted as 2x forward) over a measured 128x128x128 sgemm rate.

Run:   .venv/bin/python benchmarks/rnn.py            (~20 s on 2 cores)
       .venv/bin/python benchmarks/rnn.py --quick    (~5 s)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlrepro import seeds
from dlrepro.data import palindrome
from dlrepro.train.config import RNNConfig
from dlrepro.train.engine import BatchStats
from dlrepro.train.rnn_task import PalindromeTask

L, B, H, C = 20, 128, 128, 10
FULL_STEPS, EVAL_EVERY = 10_000, 10


class PlainRNN:
    """The plain eager loop: parameters, forward, loss, backward, clip, RMSprop. No nn.Module."""

    def __init__(self, init: nn.Module, cfg: RNNConfig, exclude: torch.Tensor | None):
        self.cfg = cfg
        self.W_hx, self.W_hh, self.b_h, self.W_ph, self.b_p = (
            nn.Parameter(getattr(init, name).detach().clone()) for name in ("W_hx", "W_hh", "b_h", "W_ph", "b_p"))
        self.params = [self.W_hx, self.W_hh, self.b_h, self.W_ph, self.b_p]
        self.optimizer = torch.optim.RMSprop(self.params, lr=cfg.lr)
        self.generator, self.exclude = seeds.torch_generator(cfg.seed, seeds.DATA), exclude

    def step(self) -> None:
        digits, y = palindrome.sample(self.cfg.batch_size, self.cfg.input_length, self.generator, self.exclude)
        x = palindrome.encode(digits, self.cfg.one_hot)
        h = x.new_zeros(x.shape[0], H)
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ self.W_hx + h @ self.W_hh + self.b_h)
        loss = F.cross_entropy(h @ self.W_ph + self.b_p, y)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.cfg.clip)
        self.optimizer.step()


def time_steps(step, n: int) -> float:
    """Seconds per call of `step`, over `n` calls."""
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def sgemm_gflops(n: int = 128, calls: int = 300, repeats: int = 7) -> float:
    """Best measured rate of an n x n x n fp32 matmul (torch.mm) at the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    for _ in range(50):
        torch.mm(a, b, out=out)
    best = min(time_steps(lambda: torch.mm(a, b, out=out), calls) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def flops_per_step(T: int = L, batch: int = B, hidden: int = H, d_in: int = 1, classes: int = C) -> dict[str, float]:
    """FLOPs of one training step. h_0 = 0, so the recurrent matmul is needed only T - 1 times."""
    recurrent = 2 * batch * hidden * hidden * (T - 1)
    small = (2 * batch * d_in * hidden * T      # x_t W_hx
             + 3 * batch * hidden * T           # two adds and a tanh per unit and step
             + 2 * batch * hidden * classes     # h_T W_ph
             + 4 * batch * classes)             # bias, softmax, loss (roughly)
    forward = recurrent + small
    return {"recurrent": recurrent, "forward": forward, "backward": 2 * forward, "total": 3 * forward}


def draw_cost(cfg: RNNConfig, calls: int = 500) -> tuple[float, float]:
    """Seconds per training-batch draw without and with the held-out exclusion (redrawing test sequences)."""
    exclude = PalindromeTask(cfg).exclude
    assert exclude is not None, "L = 20 excludes the held-out set"
    plain_gen, excl_gen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    plain = min(time_steps(lambda: palindrome.sample(B, L, plain_gen), calls) for _ in range(5))
    excluding = min(time_steps(lambda: palindrome.sample(B, L, excl_gen, exclude), calls) for _ in range(5))
    return plain, excluding


def check_same_updates(cfg: RNNConfig, steps: int = 5) -> float:
    """Both implementations take `steps` steps from the same weights and data; return the largest difference."""
    task = PalindromeTask(cfg)
    plain = PlainRNN(task.model, cfg, task.exclude)
    for step in range(steps):
        task.train_step(step)
        plain.step()
    with torch.no_grad():
        diff = max(float((p - q).abs().max()) for p, q in zip(task.model.parameters(), plain.params, strict=True))
    assert diff <= 1e-5, f"dlrepro and the plain loop diverged: max |dW| = {diff}"
    return diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (~5 s)")
    args = parser.parse_args()
    wall_start, load = time.perf_counter(), os.getloadavg()[0]
    steps, repeats, eval_repeats = (30, 3, 5) if args.quick else (200, 5, 20)

    cfg = RNNConfig(input_length=L, hidden=H, batch_size=B).validate()
    assert (cfg.lr, cfg.clip, cfg.optimizer, cfg.one_hot, cfg.test_size) == (1e-3, 10.0, "rmsprop", False, 1024)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    max_diff = check_same_updates(cfg)

    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        task = PalindromeTask(cfg)
        plain = PlainRNN(task.model, cfg, task.exclude)
        counter = iter(range(10**9))

        def dl_step(task=task, counter=counter):
            task.train_step(next(counter))

        for _ in range(5):  # warm up both
            dl_step()
            plain.step()
        times = {"dlrepro": [], "plain": []}
        for _ in range(repeats):
            times["dlrepro"].append(time_steps(dl_step, steps))
            times["plain"].append(time_steps(plain.step, steps))
        batches = BatchStats(loss_sum=torch.tensor(100.0), correct=torch.tensor(50), count=B)
        eval_times = [time_steps(lambda task=task, batches=batches: task.evaluate(batches), 1)
                      for _ in range(eval_repeats)]
        results[threads] = (times, eval_times, sgemm_gflops())
    torch.set_num_threads(saved_threads)

    flops = flops_per_step()
    print(f"Vanilla RNN, palindromes L={L}, batch {B}, hidden {H}, fp32, RMSprop + clip 10; torch "
          f"{torch.__version__}; {steps} steps x {repeats} alternating repeats (best / median); "
          f"load average at start {load:.2f} on {os.cpu_count()} CPUs")
    print(f"same updates: yes (5 steps from the same weights and data, max |dW| = {max_diff:.1e})")
    print()
    print(f"{'threads':>7} {'path':<8} {'ms/step best':>13} {'median':>7} {'steps/s':>8} "
          f"{'ratio dlrepro/plain':>20}")
    for threads, (times, _, _) in results.items():
        ratio_best = min(times["dlrepro"]) / min(times["plain"])
        ratio_med = statistics.median(times["dlrepro"]) / statistics.median(times["plain"])
        for name, ts in times.items():
            ratio = f"{ratio_best:.2f}x / {ratio_med:.2f}x" if name == "dlrepro" else ""
            print(f"{threads:>7} {name:<8} {min(ts) * 1e3:13.2f} {statistics.median(ts) * 1e3:7.2f} "
                  f"{1 / min(ts):8.1f} {ratio:>20}")
    print()
    print(f"{'threads':>7} {'eval ms (1,024)':>16} {'full run estimate':>18}   "
          f"({FULL_STEPS:,} steps + {FULL_STEPS // EVAL_EVERY:,} evaluations, dlrepro best times)")
    for threads, (times, eval_times, _) in results.items():
        step_s, eval_s = min(times["dlrepro"]), min(eval_times)
        total = FULL_STEPS * step_s + FULL_STEPS // EVAL_EVERY * eval_s
        print(f"{threads:>7} {eval_s * 1e3:16.2f} {total:16.1f} s   "
              f"(= {FULL_STEPS * step_s:.1f} s training + {FULL_STEPS // EVAL_EVERY * eval_s:.1f} s evaluating)")
    print()
    gflops_1 = results[1][2]
    floor_s = flops["total"] / (gflops_1 * 1e9)
    print(f"fp32 floor: {flops['total'] / 1e6:.1f} MFLOP/step (forward {flops['forward'] / 1e6:.1f}, of which "
          f"recurrent matmuls {flops['recurrent'] / 1e6:.1f}; backward 2x forward)")
    print(f"  single-thread sgemm 128x128x128: {gflops_1:.1f} GFLOP/s (2 threads: {results[2][2]:.1f}) -> "
          f"floor {floor_s * 1e3:.2f} ms/step = {1 / floor_s:.0f} steps/s")
    for threads, (times, _, _) in results.items():
        print(f"  dlrepro at {threads} thread{'s' if threads > 1 else ''}: {min(times['dlrepro']) / floor_s:.2f}x "
              f"the single-thread floor")
    if min(results[2][0]["dlrepro"]) > 1.2 * min(results[1][0]["dlrepro"]):
        print("note: 2 threads ran slower than 1: another process is probably busy on a core (OpenMP threads "
              "then wait for each other); rerun on an idle machine for the 2-thread numbers")
    plain_draw, excluding_draw = draw_cost(cfg)
    print(f"batch draw: {plain_draw * 1e6:.0f} us, excluding the 1,024 held-out sequences "
          f"{excluding_draw * 1e6:.0f} us "
          f"(+{(excluding_draw - plain_draw) * 1e6:.0f} us/step, inside the dlrepro and plain times above)")
    print(f"(benchmark wall time {time.perf_counter() - wall_start:.0f} s)")


if __name__ == "__main__":
    main()
