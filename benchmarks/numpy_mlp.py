"""NumPy MLP, batch-1 SGD: dlrepro's real training path against a bare NumPy loop doing the same updates.

What is measured
    dlrepro: `NumpyMLPTask` (moons, 1,000 samples -> 800 train / 200 test, hidden 20, lr 0.01, batch 1,
    float64) trained by `dlrepro.train.engine.fit` into an in-memory sink (tests/helpers.py), with the
    default evaluation every 10 epochs (full train and test splits, plus the one at step 0).
    bare: the same training written inline as a plain NumPy loop over 1-D sample vectors: the same initial
    weights (copied from `numpy_nn.MLP(seed)`), the same per-epoch sample order
    (`dlrepro.train.batches.epoch_permutation`), forward, fused softmax-cross-entropy loss value and
    gradient, backward, SGD, and the same full-split evaluations at the same cadence. Its weight gradients
    are np.outer products; written as `a[:, None] * d` instead they save ~1.5 us/step on a 2-core CPU, which
    raises the ratio below from ~1.15x to ~1.27x.

Both are run once to check that they end with identical weights (np.allclose, rtol 1e-12) and identical
evaluation metrics, then timed alternately `--repeats` times each in the same process; the table shows the
best and the median wall time, microseconds per training step (evaluations included) and the ratio
dlrepro / bare (best and median).

Run:   .venv/bin/python benchmarks/numpy_mlp.py            (20 epochs = 16,000 steps, 5 repeats each)
       .venv/bin/python benchmarks/numpy_mlp.py --quick    (5 epochs, 3 repeats)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from dlrepro import numpy_nn
from dlrepro.data.toy import make_toy
from dlrepro.train.batches import epoch_permutation
from dlrepro.train.config import MLPConfig
from dlrepro.train.engine import METRIC_KEYS, fit
from dlrepro.train.numpy_mlp_task import NumpyMLPTask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import MemorySink  # noqa: E402  (tests/helpers.py: the engine sink tests use too)

TARGET_RATIO = 1.2


def run_dlrepro(cfg: MLPConfig, data, sink: MemorySink | None = None) -> tuple[list[np.ndarray], float]:
    task = NumpyMLPTask(cfg, data.x_train, data.y_train, data.x_test, data.y_test, data.n_classes)
    start = time.perf_counter()
    fit(task, sink or MemorySink(), progress=False)
    wall = time.perf_counter() - start
    return [value.copy() for value, _ in task.model.parameters()], wall


def run_bare(cfg: MLPConfig, data, log: list | None = None) -> tuple[list[np.ndarray], float]:
    """The same training as a hand-written loop. `log` (if given) receives the evaluation metrics."""
    x_train, y_train = np.ascontiguousarray(data.x_train, np.float64), data.y_train.astype(np.int64)
    x_test, y_test = np.ascontiguousarray(data.x_test, np.float64), data.y_test.astype(np.int64)
    init = numpy_nn.MLP(x_train.shape[1], cfg.hidden, data.n_classes, seed=cfg.seed, dtype=np.float64)
    W1, b1, W2, b2 = (value.copy() for value, _ in init.parameters())
    lr, n = cfg.lr, len(y_train)

    def evaluate(x, y):
        logits = np.maximum(x @ W1 + b1, 0.0) @ W2 + b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        loss = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(y)), y])
        return float(loss), float(np.mean(logits.argmax(axis=1) == y))

    start = time.perf_counter()
    loss_sum = 0.0
    for epoch in range(cfg.epochs + 1):
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            metrics = (*evaluate(x_train, y_train), *evaluate(x_test, y_test))
            if log is not None:
                log.append(metrics)
            loss_sum = 0.0
        if epoch == cfg.epochs:
            break
        perm = epoch_permutation(n, cfg.seed, epoch)
        xs, ys = x_train[perm], y_train[perm]
        for i in range(n):
            x, t = xs[i], ys[i]
            # forward
            z1 = x @ W1 + b1
            a1 = np.maximum(z1, 0.0)
            logits = a1 @ W2 + b2
            # fused softmax + cross-entropy: loss = log sum exp(s) - s_t, dloss/dlogits = softmax - onehot
            shifted = logits - logits.max()
            e = np.exp(shifted)
            sum_e = e.sum()
            loss_sum += np.log(sum_e) - shifted[t]
            dlogits = e / sum_e
            dlogits[t] -= 1.0
            # backward
            dW2, db2 = np.outer(a1, dlogits), dlogits
            dz1 = (W2 @ dlogits) * (z1 > 0)
            dW1, db1 = np.outer(x, dz1), dz1
            # SGD
            W1 -= lr * dW1
            b1 -= lr * db1
            W2 -= lr * dW2
            b2 -= lr * db2
    wall = time.perf_counter() - start
    return [W1, b1, W2, b2], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 epochs, 3 repeats")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 20, 5 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each (default 5, 3 with --quick)")
    args = parser.parse_args()
    epochs = args.epochs or (5 if args.quick else 20)
    repeats = args.repeats or (3 if args.quick else 5)

    cfg = MLPConfig(model="mlp-numpy", dataset="moons", n_samples=1000, hidden=(20,), lr=0.01, batch_size=1,
                    epochs=epochs, dtype="float64", seed=0).validate()
    data = make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed)
    steps = cfg.epochs * len(data.y_train)

    # Correctness first: both must end with the same weights (and log the same evaluations).
    recording, bare_log = MemorySink(), []
    weights_dl, _ = run_dlrepro(cfg, data, recording)
    weights_bare, _ = run_bare(cfg, data, bare_log)
    for name, a, b in zip(("W1", "b1", "W2", "b2"), weights_dl, weights_bare, strict=True):
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=0), f"{name} differs"
    logged = [tuple(row[k] for k in METRIC_KEYS) for row in recording.rows]
    assert np.allclose(logged, bare_log, rtol=1e-12, atol=0), (logged, bare_log)
    max_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(weights_dl, weights_bare, strict=True))

    times: dict[str, list[float]] = {"dlrepro": [], "bare": []}
    for _ in range(repeats):
        times["dlrepro"].append(run_dlrepro(cfg, data)[1])
        times["bare"].append(run_bare(cfg, data)[1])

    evals = len(range(0, cfg.epochs, cfg.eval_every)) + 1
    print(f"NumPy MLP, moons {cfg.n_samples} (train {len(data.y_train)}), hidden {cfg.hidden[0]}, lr {cfg.lr}, "
          f"batch 1, float64: {cfg.epochs} epochs = {steps:,} steps + {evals} full-split evaluations")
    print(f"weights identical: yes (allclose rtol 1e-12; max |diff| = {max_diff:.1e}); "
          f"{repeats} alternating repeats each, best and median")
    print()
    print(f"{'path':<9} {'best s':>8} {'median s':>9} {'best us/step':>13} {'median us/step':>15}")
    for name, ts in times.items():
        best, med = min(ts), statistics.median(ts)
        print(f"{name:<9} {best:8.3f} {med:9.3f} {best / steps * 1e6:13.2f} {med / steps * 1e6:15.2f}")
    ratio_best = min(times["dlrepro"]) / min(times["bare"])
    ratio_med = statistics.median(times["dlrepro"]) / statistics.median(times["bare"])
    print()
    print(f"ratio dlrepro/bare: {ratio_best:.2f}x (best), {ratio_med:.2f}x (median); target <= {TARGET_RATIO}x")


if __name__ == "__main__":
    main()
