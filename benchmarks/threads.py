"""torch threads for `dlrepro train`: each kind at 1 thread against all cores, and two RNN runs side by side.

    .venv/bin/python benchmarks/threads.py [--steps 500] [--repeats 2] [--cifar ../shared/data/cifar10-jpeg.tar.xz]
                                           [--groups side-by-side,oversubscribed,kinds]

Every case is `dlrepro train ...` in fresh processes; the time is the run's own training time
(summary.json's wall_time_s, without the process start). Cases alternate within each repeat, and the
table shows the best (and median) of the repeats and the ratios within this run, which are what to read on
a shared machine. The side-by-side case starts two `train rnn --input-length 20` at once, first with
torch's old default of one thread per core (`--threads CORES`), then with train's default (1), each
against one run alone. The ConvNet rows need a CIFAR-10 copy (--cifar; skipped when absent).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CORES = os.cpu_count() or 1


def start(args: list[str], out: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # train picks the threads
    return subprocess.Popen([sys.executable, "-m", "dlrepro", "train", *args, "--quiet", "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait(proc: subprocess.Popen, out: Path) -> float:
    _, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{' '.join(proc.args)} failed: {err}")
    return json.loads((out / "summary.json").read_text())["wall_time_s"]


def timed(args: list[str], tmp: Path, together: int = 1) -> list[float]:
    outs = [Path(tempfile.mkdtemp(dir=tmp)) / "run" for _ in range(together)]
    procs = [start(args, o) for o in outs]
    return [wait(p, o) for p, o in zip(procs, outs, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500, help="RNN steps per run (default 500)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--groups", default="side-by-side,oversubscribed,kinds",
                    help="side-by-side: one RNN run alone and two at once, train's default threads; oversubscribed: "
                         "the same with torch's old default (one thread per core; very slow on a loaded machine); "
                         "kinds: each kind at 1 thread and at all cores")
    ap.add_argument("--cifar", default=str(Path(__file__).resolve().parents[2] / "shared/data/cifar10-jpeg.tar.xz"))
    a = ap.parse_args()
    rnn = ["rnn", "--input-length", "20", "--steps", str(a.steps)]
    moons = ["mlp-torch", "--dataset", "moons", "--epochs", "5"]
    groups = set(a.groups.split(","))
    cases: dict[str, tuple[list[str], int]] = {}
    if "side-by-side" in groups:
        cases["rnn L=20 alone, train's default (1 thread)"] = (rnn, 1)
        cases["rnn L=20, two side by side, train's default (1 thread each)"] = (rnn, 2)
    if "oversubscribed" in groups:
        cases[f"rnn L=20 alone, {CORES} threads (torch's default)"] = ([*rnn, "--threads", str(CORES)], 1)
        cases[f"rnn L=20, two side by side, {CORES} threads each"] = ([*rnn, "--threads", str(CORES)], 2)
    if "kinds" in groups:
        cases.update({
            "rnn population of 4 seeds, 1 thread": ([*rnn, "--seeds", "0-3", "--threads", "1"], 1),
            f"rnn population of 4 seeds, {CORES} threads": ([*rnn, "--seeds", "0-3", "--threads", str(CORES)], 1),
            "mlp-torch moons batch 1, 1 thread": ([*moons, "--threads", "1"], 1),
            f"mlp-torch moons batch 1, {CORES} threads": ([*moons, "--threads", str(CORES)], 1)})
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "kinds" in groups and Path(a.cifar).exists():
            data = ["--data-root", a.cifar, "--cache-dir", str(tmp / "cache")]
            cifar_mlp = ["mlp-torch", "--dataset", "cifar10", *data, "--epochs", "1"]
            cnn = ["cnn", *data, "--subset", "320", "--test-subset", "100", "--epochs", "1", "--eval-every", "1"]
            timed([*cifar_mlp, "--threads", "1"], tmp)  # decodes the copy into the cache, untimed
            cases.update({"mlp-torch cifar10 batch 32, 1 thread": ([*cifar_mlp, "--threads", "1"], 1),
                          f"mlp-torch cifar10 batch 32, {CORES} threads": ([*cifar_mlp, "--threads", str(CORES)], 1),
                          "cnn 320 images, 1 thread": ([*cnn, "--threads", "1"], 1),
                          f"cnn 320 images, {CORES} threads": ([*cnn, "--threads", str(CORES)], 1)})
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(a.repeats):
            for name, (args, together) in cases.items():
                times[name].append(max(timed(args, tmp, together)))  # side by side: the slower of the two
                print(f"  {name}: {times[name][-1]:.2f} s (load average {os.getloadavg()[0]:.1f})", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {CORES} cores")
    print("| case | best s | median s |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts):.2f} | {statistics.median(ts):.2f} |")
    best = {name: min(ts) for name, ts in times.items()}
    names = list(cases)
    print()
    for x, y in zip(names[1::2], names[::2], strict=True):  # each case against the one before it
        medians = statistics.median(times[x]) / statistics.median(times[y])
        print(f"{x} / {y}: {best[x] / best[y]:.2f}x (medians {medians:.2f}x)")

if __name__ == "__main__":
    main()
