"""ConvNet throughput on a GPU, each configuration against fp32 NCHW eager in the same run, and the
projected time of the full optimizer study (5 configurations x 200 epochs x 50,000 images).

    bash benchmarks/gpu.sh            # one prepared command for a lent GPU (under 8 minutes)
    python3 benchmarks/gpu.py [--data data/cifar10-jpeg.tar.xz] [--batch-sizes 32,256] [--steps 60]

Uses the real `CifarTask` (data resident on the GPU as uint8, batched augmentation and normalisation on
the GPU, fused Adam 1e-4). It first times seed populations of the small models on the GPU (8 seeds of the
batch-1 PyTorch MLP and of the L=20 RNN against one run each). With --data it also trains the Adam 1e-4
run for --epochs real epochs on CIFAR-10 in the fastest configuration and reports the measured epoch
time and test accuracy.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from dlrepro.data import cifar10
from dlrepro.models.convnet import ConvNet
from dlrepro.train.cifar_task import CifarTask, make_optimizer
from numpy_mlp import NullSink  # benchmarks/ is on sys.path when a script here runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import synthetic_cifar10  # noqa: E402  (tests/helpers.py, shared with the tests)

CONFIGS = [("fp32 NCHW eager (baseline)", {}),
           ("fp32 channels_last", {"channels_last": True}),
           ("bf16 autocast channels_last", {"precision": "bf16", "channels_last": True}),
           ("bf16 channels_last + compile", {"precision": "bf16", "channels_last": True, "compile": True})]


DEVICE = torch.device("cuda")


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def make_task(data, batch_size: int, epochs: int = 1, **kw) -> CifarTask:
    torch.manual_seed(0)
    model = ConvNet()
    opt = make_optimizer("adam", model.parameters(), 1e-4)  # fused, as dlrepro trains
    return CifarTask(model, opt, data, device=DEVICE, batch_size=batch_size, epochs=epochs,
                     eval_every=epochs, seed=0, augment="none", **kw)


def images_per_s(task: CifarTask, batch_size: int, steps: int, warmup: int) -> float:
    for s in range(warmup):
        task.train_step(s)
    sync()
    start = time.perf_counter()
    for s in range(warmup, warmup + steps):
        task.train_step(s)
    sync()
    return steps * batch_size / (time.perf_counter() - start)


def populations(device: str, seeds: int = 8) -> None:
    """Seed populations of the small models on the GPU: training time of S seeds at once against one run."""
    from dlrepro.train.build import build_population, build_task
    from dlrepro.train.config import MLPConfig, RNNConfig
    from dlrepro.train.engine import fit, fit_population

    kinds = [("mlp-torch, moons, batch 1, 2 epochs", MLPConfig(model="mlp-torch", dataset="moons", epochs=2,
                                                             eval_every=1, device=device)),
             ("rnn, L=20, batch 128, 500 steps", RNNConfig(input_length=20, steps=500, device=device))]
    print(f"\nseed populations on {device}: training time (s)")
    for name, cfg in kinds:
        fit(build_task(dataclasses.replace(cfg, steps=20) if isinstance(cfg, RNNConfig) else
                       dataclasses.replace(cfg, epochs=1)), NullSink(), progress=False)  # warm-up
        start = time.perf_counter()
        fit(build_task(cfg), NullSink(), progress=False)
        one = time.perf_counter() - start
        start = time.perf_counter()
        fit_population(build_population([dataclasses.replace(cfg, seed=s) for s in range(seeds)]),
                       [NullSink() for _ in range(seeds)], progress=False)
        pop = time.perf_counter() - start
        print(f"  {name}: one run {one:.2f}, population of {seeds} {pop:.2f} ({pop / one:.2f}x one run, "
              f"{seeds * one / pop:.1f}x the throughput of runs one after another)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", default="32,256")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--data", default=None, help="CIFAR-10 archive or folder for the real-data run")
    ap.add_argument("--epochs", type=int, default=3, help="real epochs of Adam 1e-4 to time (default 3)")
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu only to check the script itself")
    ap.add_argument("--n-train", type=int, default=50_000, help="synthetic training images on the device")
    ap.add_argument("--no-populations", action="store_true", help="skip the seed-population timings")
    a = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(a.device)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU")
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name() if DEVICE.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {name}, {a.steps} timed steps\n")
    if not a.no_populations:
        populations(a.device)
    data = synthetic_cifar10(a.n_train, 1000)
    best = (0.0, None, None)
    print(f"{'batch':>5} {'configuration':<32} {'images/s':>10} {'vs baseline':>12}")
    for bs in (int(b) for b in a.batch_sizes.split(",")):
        base = None
        for name, kw in CONFIGS:
            rate = images_per_s(make_task(data, bs, **kw), bs, a.steps, a.warmup)
            base = base or rate
            print(f"{bs:>5} {name:<32} {rate:>10.0f} {rate / base:>11.2f}x", flush=True)
            if bs == min(int(b) for b in a.batch_sizes.split(",")) and rate > best[0]:
                best = (rate, name, kw)
    rate, name, kw = best
    study_s = 5 * 200 * 50_000 / rate
    print(f"\nfastest at the smallest batch (the reference's is 32): {name}, {rate:.0f} images/s")
    print(f"projected full optimizer study (5 x 200 epochs x 50,000 images, training only): "
          f"{study_s / 60:.1f} min on one GPU, {study_s / 60 / 5:.1f} min per configuration")
    if a.data:
        real = cifar10.load_cifar10(a.data, verify=False)
        task = make_task(real, min(int(b) for b in a.batch_sizes.split(",")), epochs=a.epochs, **kw)
        task.evaluate(None)  # warm-up (and compile) before timing
        sync()
        start = time.perf_counter()
        for step in range(task.schedule.total_steps):
            task.train_step(step)
        sync()
        elapsed = time.perf_counter() - start
        metrics = task.evaluate(None)
        print(f"real CIFAR-10 (JPEG copy), Adam 1e-4, batch 32, {name}: {a.epochs} epochs in {elapsed:.1f} s "
              f"({elapsed / a.epochs:.1f} s/epoch -> 200 epochs in {200 * elapsed / a.epochs / 60:.1f} min); "
              f"test acc after {a.epochs} epochs {metrics['test_acc']:.3f}")


if __name__ == "__main__":
    main()
