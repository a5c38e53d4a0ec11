"""Start-up: what each command costs before (and besides) its real work, against a bare Python start.

    .venv/bin/python benchmarks/startup.py [--repeats 3]

Every command runs as a fresh process (`python -m dlrepro ...`, as a user types it), best (and median) wall
time of --repeats, in one run, and is printed as a ratio to `python -c "import numpy"` measured in the same
run. The commands:

    import numpy        python -c "import numpy"          (the baseline)
    import matplotlib   python -c "import matplotlib"
    --help              dlrepro --help
    train mlp-numpy     dlrepro train mlp-numpy --dataset moons --epochs 1 (a fresh --out each time)
    reproduce (first)   dlrepro reproduce --profile smoke --only toy,palindrome (a fresh --out each time)
    reproduce (no-op)   the same command again on that finished folder: every trial is already done
    report              dlrepro report on that finished folder

Targets: report <= 4x a bare `import matplotlib`; the no-op reproduce <= 0.3x its first run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

PY = sys.executable


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall


def dlrepro(*args: str) -> list[str]:
    return [PY, "-m", "dlrepro", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    a = parser.parse_args()
    times: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        times.setdefault(name, []).append(seconds)

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):  # the commands alternate, so machine load spreads over all of them
            add("import numpy", timed([PY, "-c", "import numpy"]))
            add("import matplotlib", timed([PY, "-c", "import matplotlib"]))
            add("dlrepro --help", timed(dlrepro("--help")))
            add("train mlp-numpy --epochs 1", timed(dlrepro("train", "mlp-numpy", "--dataset", "moons", "--epochs",
                                                            "1", "--quiet", "--out", f"{tmp}/mlp{i}")))
            out = f"{tmp}/results{i}"
            smoke = dlrepro("reproduce", "--profile", "smoke", "--only", "toy,palindrome", "--out", out)
            add("reproduce smoke (first)", timed(smoke))
            add("reproduce smoke (no-op rerun)", timed(smoke))
            add("report (finished smoke folder)", timed(dlrepro("report", out)))

    base = min(times["import numpy"])
    print(f"{'command':<32} {'best s':>8} {'median s':>9} {'x import numpy':>15}")
    for name, ts in times.items():
        print(f"{name:<32} {min(ts):8.2f} {statistics.median(ts):9.2f} {min(ts) / base:14.1f}x")
    report = min(times["report (finished smoke folder)"]) / min(times["import matplotlib"])
    noop = min(times["reproduce smoke (no-op rerun)"]) / min(times["reproduce smoke (first)"])
    print(f"report / import matplotlib: {report:.2f}x (target <= 4x)")
    print(f"no-op reproduce / first reproduce: {noop:.2f}x (target <= 0.3x)")


if __name__ == "__main__":
    main()
