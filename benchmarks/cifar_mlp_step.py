"""The CIFAR-10 MLP's training step on the CPU (Part 1, 3072-20-10, batch 32, SGD lr 1e-2, float32):
dlrepro's `CifarTask.train_step` against a plain eager PyTorch loop, and where a step's time goes.

What is measured (one thread, as a sweep worker trains; synthetic uint8 images of CIFAR-10's shape):
    dlrepro: one epoch of `CifarTask.train_step` (the MLP built as `dlrepro.train.build` builds it, with the
    NumPy MLP's seeded weights), epoch permutation and batch gather included.
    plain: the same epoch written inline: the same permutation, each step's 32 rows by index_select,
    `cifar10.normalize` with the same statistics, forward, F.cross_entropy, zero_grad, backward,
    torch.optim.SGD. Both are first checked to end an epoch with the same weights, then timed alternately
    (best and median of the repeats); the ratio dlrepro / plain is printed.
    Parts: each piece of a step timed alone (the normalisation, the forward pass, forward + loss +
    backward, the SGD update, model.train(), the per-epoch gather of the whole training split by
    advanced indexing and by index_select, a 32-row index_select), against which the step is read.

Run:   .venv/bin/python benchmarks/cifar_mlp_step.py            (~1 min on 2 busy cores: 50,000 images)
       .venv/bin/python benchmarks/cifar_mlp_step.py --quick    (10,000 images)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro.data import cifar10
from dlrepro.data.cifar10 import Cifar10
from dlrepro.train.batches import epoch_permutation
from dlrepro.train.cifar_task import CifarTask
from dlrepro.train.mlp_task import seeded_mlp

B, LR, SEED = 32, 1e-2, 0


def synthetic(n_train: int) -> Cifar10:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n_train, 32, 32, 3), dtype=np.uint8)
    return Cifar10(train_images=images, train_labels=rng.integers(0, 10, n_train),
                   test_images=images[:100], test_labels=rng.integers(0, 10, 100), source="synthetic",
                   format="synthetic")


def dlrepro_task(data: Cifar10) -> CifarTask:
    model = seeded_mlp(3072, (20,), 10, SEED, torch.float32)
    return CifarTask(model, torch.optim.SGD(model.parameters(), lr=LR), data, device=torch.device("cpu"),
                     batch_size=B, epochs=1000, eval_every=1000, seed=SEED)


class Plain:
    def __init__(self, task: CifarTask):
        self.x, self.y = task.train_xy
        self.mean, self.std = task.mean, task.std
        self.model = seeded_mlp(3072, (20,), 10, SEED, torch.float32)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)

    def epoch(self, epoch: int) -> None:
        perm = torch.from_numpy(epoch_permutation(len(self.y), SEED, epoch))
        for lo in range(0, len(self.y), B):
            rows = perm[lo:lo + B]
            x = cifar10.normalize(self.x.index_select(0, rows), self.mean, self.std)
            loss = F.cross_entropy(self.model(x), self.y.index_select(0, rows))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()


def timed(fn, n: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def parts(task: CifarTask) -> None:
    x8, y = task.train_xy[0][:B], task.train_xy[1][:B]
    model = seeded_mlp(3072, (20,), 10, SEED, torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xn = cifar10.normalize(x8, task.mean, task.std)

    def fwd_bwd() -> None:
        loss = F.cross_entropy(model(xn), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()

    fwd_bwd()
    perm = torch.randperm(len(task.train_xy[1]))
    rows = perm[:B]
    n = 2000
    print("  parts of a step (one at a time):")
    for name, fn, reps in (("normalise 32 images", lambda: cifar10.normalize(x8, task.mean, task.std), n),
                           ("forward", lambda: model(xn), n),
                           ("forward + loss + zero_grad + backward", fwd_bwd, n),
                           ("SGD update", opt.step, n),
                           ("model.train()", model.train, n),
                           ("index_select of 32 rows", lambda: task.train_xy[0].index_select(0, rows), n)):
        timed(fn, 100)
        print(f"    {name:40s} {timed(fn, reps) * 1e6:8.1f} us")
    for name, fn in (("x[perm]", lambda: task.train_xy[0][perm]),
                     ("x.index_select(0, perm)", lambda: task.train_xy[0].index_select(0, perm))):
        print(f"    epoch gather {name:27s} {timed(fn, 3) * 1e3:8.1f} ms per epoch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 images instead of 50,000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    n_train = 10_000 if args.quick else 50_000
    task = dlrepro_task(synthetic(n_train))
    plain = Plain(task)
    spe = task.batches.steps_per_epoch

    def task_epoch(epoch: int) -> None:
        for step in range(epoch * spe, (epoch + 1) * spe):
            task.train_step(step)

    task_epoch(0)
    plain.epoch(0)
    same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(task.model.parameters(), plain.model.parameters(),
                                                                strict=True))
    print(f"CIFAR-10 MLP 3072-20-10, batch {B}, {n_train:,} images ({spe} steps per epoch), torch "
          f"{torch.__version__}, 1 thread; same weights after an epoch: {same}")
    if not same:
        raise SystemExit("the two loops diverged: the comparison would be meaningless")
    times: dict[str, list[float]] = {"dlrepro": [], "plain": []}
    for r in range(1, args.repeats + 1):
        times["dlrepro"].append(timed(lambda r=r: task_epoch(r)) / spe)
        times["plain"].append(timed(lambda r=r: plain.epoch(r)) / spe)
    for name, ts in times.items():
        print(f"  {name:8s} best {min(ts) * 1e3:.3f} ms/step, median {statistics.median(ts) * 1e3:.3f} ms/step")
    print(f"  ratio dlrepro / plain: best {min(times['dlrepro']) / min(times['plain']):.2f}x, median "
          f"{statistics.median(times['dlrepro']) / statistics.median(times['plain']):.2f}x")
    parts(task)


if __name__ == "__main__":
    main()
