"""ConvNet training throughput on this machine: plain fp32 NCHW eager with torch's default (for-loop) Adam,
the baseline, against dlrepro's fused Adam, channels_last, bf16 autocast and both, measured in the same
run; plus the input pipeline's images/s.

    .venv/bin/python benchmarks/cnn.py [--batch-size 32] [--steps 30] [--threads N] [--quick]

Each configuration trains the real `CifarTask` (Adam 1e-4) on random uint8 images for --steps steps after
--warmup steps; the table shows images/s and the ratio to fp32 NCHW. The pipeline row times what a step
does before the model: take the batch by the epoch permutation, flip-crop it and normalise it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from dlrepro.data import cifar10
from dlrepro.models.convnet import ConvNet
from dlrepro.train.cifar_task import CifarTask, make_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import synthetic_cifar10  # noqa: E402  (tests/helpers.py, shared with the tests)


def make_task(data, batch_size: int, plain_adam: bool = False, **kw) -> CifarTask:
    torch.manual_seed(0)
    model = ConvNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4) if plain_adam else make_optimizer("adam", model.parameters(),
                                                                                           1e-4)
    return CifarTask(model, opt, data, device=torch.device("cpu"), batch_size=batch_size, epochs=1,
                     eval_every=1, seed=0, **kw)


def images_per_s(task: CifarTask, batch_size: int, steps: int, warmup: int) -> float:
    for s in range(warmup):
        task.train_step(s)
    start = time.perf_counter()
    for s in range(warmup, warmup + steps):
        task.train_step(s)
    return steps * batch_size / (time.perf_counter() - start)


def pipeline_per_s(task: CifarTask, steps: int) -> float:
    start = time.perf_counter()
    n = 0
    for s in range(steps):
        x, _ = task.batches.get(s)
        task._inputs(cifar10.flip_crop(x, task.augment_stream))
        n += len(x)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument("--quick", action="store_true", help="8 timed steps per configuration")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    steps = 8 if a.quick else a.steps
    data = synthetic_cifar10(max(4096, a.batch_size * (steps + a.warmup)), 1000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, batch {a.batch_size}, {steps} timed steps\n")
    configs = [("fp32 NCHW, loop Adam (baseline)", {"plain_adam": True}), ("fp32 NCHW, fused Adam", {}),
               ("fp32 channels_last", {"channels_last": True}), ("bf16 autocast NCHW", {"precision": "bf16"}),
               ("bf16 autocast channels_last", {"precision": "bf16", "channels_last": True})]
    base = None
    print(f"{'configuration':<32} {'images/s':>10} {'vs baseline':>12}   (all but the baseline: fused Adam)")
    for name, kw in configs:
        rate = images_per_s(make_task(data, a.batch_size, **kw), a.batch_size, steps, a.warmup)
        base = base or rate
        print(f"{name:<32} {rate:>10.1f} {rate / base:>11.2f}x")
    rate = pipeline_per_s(make_task(data, a.batch_size), 200)
    print(f"{'input pipeline (flipcrop+norm)':<32} {rate:>10.0f} {rate / base:>11.0f}x")


if __name__ == "__main__":
    main()
