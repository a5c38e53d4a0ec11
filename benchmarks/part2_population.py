"""Part 2 (the ConvNet optimizer study) on one device: the population of its five configurations against
their single runs, and the device script's driver (`benchmarks/gpu_part2.sh`; docs/gpu.md says what it does).

    python3 benchmarks/part2_population.py ratio [--steps 4] [--batch 16]
        CPU: 5 single runs (CifarTask, fused torch.optim) against the population of the 5 (loop and vmap
        modes), the real ConvNet on synthetic images, each timed over the same steps in this one process.
    python3 benchmarks/part2_population.py device --device cuda --data DATA --out OUT [--budget-s 500]
    python3 benchmarks/part2_population.py device --device cpu --smoke --out OUT
        1. check: a few population steps equal to the single runs' (on CUDA eagerly and as a captured CUDA
           graph; a failed capture falls back to eager, saying so);
        2. images/s of one single run and of the population (each mode), the fastest mode chosen;
        3. the study trained detached (`dlrepro sweep optimizers --profile full`, setsid + nohup, so the
           next command on the same machine finds it running or resumes it from its checkpoints);
        4. at --budget-s (or when training ends) the run directories without checkpoints, the study's
           record, the trainer's log and this script's measurements packed into OUT/part2-results.tar.gz.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from dlrepro.models.convnet import ConvNet  # noqa: E402
from dlrepro.train.cifar_task import CifarTask, make_optimizer  # noqa: E402
from dlrepro.train.cnn_population import PopulationCifarTask  # noqa: E402
from helpers import learnable_cifar10, synthetic_cifar10, write_official  # noqa: E402  (tests/helpers.py)

STUDY = [("adam", 1e-4), ("adam", 1e-2), ("adam", 1e-6), ("sgd", 1e-4), ("adagrad", 1e-4)]
GFLOP_PER_IMAGE = 0.92  # forward + backward of one training image
STUDY_IMAGES = 5 * 200 * 50_000
KEEP = {"config.json", "metrics.jsonl", "summary.json", "runs.csv", "study.json", "study.toml"}


def say(*parts) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def singles(data, device, batch: int, **kw) -> list[CifarTask]:
    tasks = []
    for name, lr in STUDY:
        torch.manual_seed(0)
        model = ConvNet()
        tasks.append(CifarTask(model, make_optimizer(name, model.parameters(), lr), data, device=device,
                               batch_size=batch, epochs=1, eval_every=1, seed=0, **kw))
    return tasks


def population(data, device, batch: int, mode: str, graph: bool, **kw) -> PopulationCifarTask:
    models = []
    for _ in STUDY:
        torch.manual_seed(0)
        models.append(ConvNet())
    return PopulationCifarTask(models, STUDY, data, device=device, batch_size=batch, epochs=1, eval_every=1,
                               seeds=[0] * len(STUDY), mode=mode, graph=graph, **kw)


def timed(step, steps: int, device: torch.device) -> float:
    """Seconds per call of step(i) over `steps` calls after one warm-up call."""
    step(0)
    sync(device)
    start = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    sync(device)
    return (time.perf_counter() - start) / steps


def ratio(args) -> None:
    """The CPU measurement of BENCHMARKS.md ("ConvNet population")."""
    cpu = torch.device("cpu")
    data = synthetic_cifar10(args.batch * (args.steps + 2), 10)
    print(f"ConvNet, {len(STUDY)} members, batch {args.batch}, {args.steps} steps, torch threads "
          f"{torch.get_num_threads()}, {os.cpu_count()} CPUs")
    for _ in range(args.repeats):
        single = sum(timed(t.train_step, args.steps, cpu) for t in singles(data, cpu, args.batch))
        rows = [("5 single runs, one after another", single)]
        for mode in ("loop", "vmap"):
            task = population(data, cpu, args.batch, mode, graph=False)
            rows.append((f"population, mode {mode}", timed(task.train_step, args.steps, cpu)))
        for label, s in rows:
            print(f"  {label:34s} {s * 1000:8.0f} ms per step of all 5  {single / s:5.2f}x")


# --- the device script ------------------------------------------------------------------------------------


def check(data, device: torch.device, batch: int, steps: int, mode: str) -> dict:
    """Population steps against the single runs: the largest relative loss difference, eager and graphed."""
    tol = 1e-3 if device.type == "cpu" else 3e-2  # cuDNN picks TF32 kernels per call: not bitwise on a GPU
    refs = singles(data, device, batch)
    expected = [[float(t.train_step(i)[0]) for i in range(steps)] for t in refs]
    del refs
    result: dict = {"tolerance": tol, "steps": steps}
    for graph in ([False, True] if device.type == "cuda" else [False]):
        task = population(data, device, batch, mode, graph)
        got = [task.train_step(i)[0].tolist() for i in range(steps)]
        worst = max(abs(got[i][s] - expected[s][i]) / max(abs(expected[s][i]), 1e-6)
                    for i in range(steps) for s in range(len(STUDY)))
        label = "graph" if graph else "eager"
        result[label] = {"max_rel_diff": worst, "ok": worst <= tol, "graph_error": task.graph_error,
                         "captured": task.graph}
        say(f"check {label} ({mode}): {steps} population steps vs the single runs, largest relative loss "
            f"difference {worst:.2e} (tolerance {tol:g}): {'OK' if worst <= tol else 'MISMATCH'}"
            + (f"; capture failed, ran eagerly: {task.graph_error}" if task.graph_error else ""))
        del task
    return result


def throughput(data, device: torch.device, batch: int, steps: int) -> dict:
    """images/s of one single run and of the population in each mode; the fastest population mode."""
    single = singles(data, device, batch)[0]
    rates = {"single": batch / timed(single.train_step, steps, device)}
    del single
    for mode in ("vmap", "loop"):
        for graph in ([False, True] if device.type == "cuda" else [False]):
            task = population(data, device, batch, mode, graph)
            label = f"population {mode}{' graph' if graph else ''}"
            rates[label] = len(STUDY) * batch / timed(task.train_step, steps, device)
            if graph and task.graph_error:
                rates[label + " (capture failed: eager)"] = rates.pop(label)
            del task
    for label, rate in rates.items():
        floor = rate * GFLOP_PER_IMAGE / 1000
        say(f"{label:40s} {rate:9.0f} images/s  ({floor:.1f} TFLOP/s at {GFLOP_PER_IMAGE} GFLOP per image)")
    best = max((k for k in rates if k.startswith("population") and "failed" not in k), key=rates.get)
    study_s = STUDY_IMAGES / rates[best]
    say(f"fastest: {best}, {rates[best] / rates['single']:.2f}x one single run; the full study "
        f"(5 x 200 epochs x 50,000 images) would take {study_s / 60:.1f} min of training at this rate")
    return {"images_per_s": rates, "best": best, "study_minutes": study_s / 60}


def trainer_alive(pid_file: Path, proc: subprocess.Popen | None = None) -> bool:
    """Whether the detached trainer runs: ours (`proc`, reaped when it ends) or an earlier command's."""
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(int(pid_file.read_text()), 0)
        return True
    except (OSError, ValueError):
        return False


def launch(results: Path, args, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dlrepro", "sweep", "optimizers", "--profile", "smoke" if args.smoke else "full",
           "--out", str(results), "--data-root", str(args.data), "--cache-dir", str(results / ".cache"),
           "--set", f'device="{args.device}"', "--quiet"]
    if args.smoke:
        cmd.append("--no-verify")
    if args.precision != "fp32":
        cmd += ["--set", f'precision="{args.precision}"', "--set", "channels_last=true"]
    log = open(results / "trainer.log", "ab")  # noqa: SIM115  (the detached trainer owns it)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    (results / "trainer.pid").write_text(str(proc.pid))
    say(f"trainer started detached (pid {proc.pid}): {' '.join(cmd)}")
    return proc


def pack(results: Path, out: Path) -> Path:
    archive = out / "part2-results.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(results.rglob("*")):
            if path.is_file() and ".cache" not in path.parts and (path.name in KEEP or path.suffix == ".log"
                                                                   or path.name.startswith("measurements-")):
                tar.add(path, arcname=str(path.relative_to(results.parent)))
    say(f"packed {archive} ({archive.stat().st_size / 1e6:.2f} MB)")
    return archive


def device_main(args) -> None:
    start = time.monotonic()
    device = torch.device(args.device)
    results, out = Path(args.results).resolve(), Path(args.out).resolve()
    results.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    say(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}")
    if args.smoke:  # a tiny learnable CIFAR-10 in the official layout, so the sweep reads it as the real one
        args.data = results / "smoke-data"
        if not args.data.exists():
            write_official(args.data, learnable_cifar10(per_class_train=10, per_class_test=5))
    elif args.data is None or not Path(args.data).exists():
        sys.exit(f"part2_population: error: --data {args.data}: no CIFAR-10 copy there (see docs/gpu.md)")
    batch, steps = (4, 1) if args.smoke else (32, 20)
    pid_file = results / "trainer.pid"
    measured: dict = {"torch": torch.__version__, "device": str(device)}
    proc = None
    if trainer_alive(pid_file):
        say("the trainer from an earlier command is still running: not measuring again, waiting for it")
    else:
        data = (learnable_cifar10(per_class_train=4, per_class_test=2) if args.smoke
                else _load(args.data, results / ".cache"))
        measured["check"] = check(data, device, batch, 2 if args.smoke else 3, "vmap")
        measured["throughput"] = throughput(data, device, batch, steps)
        best = measured["throughput"]["best"]
        env = dict(os.environ, DLREPRO_CNN_MODE="loop" if "loop" in best else "vmap",
                   DLREPRO_CUDA_GRAPH="1" if "graph" in best and measured["check"].get("graph", {}).get("ok") else "0",
                   PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        del data
        if device.type == "cuda":
            torch.cuda.empty_cache()
        (results / f"measurements-{int(time.time())}.json").write_text(json.dumps(measured, indent=1))
        proc = launch(results, args, env)
    while trainer_alive(pid_file, proc) and time.monotonic() - start < args.budget_s:
        time.sleep(1)
    if trainer_alive(pid_file, proc):
        say(f"budget of {args.budget_s} s reached: the trainer goes on detached; run the same command again "
            "on this machine to continue and collect")
    else:
        tail = (results / "trainer.log").read_text().splitlines(True)[-8:]
        say("the trainer has finished; its log ends:\n" + "".join(tail))
    pack(results, out)
    say(f"done in {time.monotonic() - start:.0f} s")


def _load(data, cache: Path):
    from dlrepro.data.cifar10 import load_cifar10

    return load_cifar10(str(data), cache_dir=str(cache))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("ratio")
    r.add_argument("--steps", type=int, default=4)
    r.add_argument("--batch", type=int, default=16)
    r.add_argument("--repeats", type=int, default=2)
    d = sub.add_parser("device")
    d.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    d.add_argument("--smoke", action="store_true", help="a tiny synthetic study, end to end in under a minute")
    d.add_argument("--data", type=Path, help="the CIFAR-10 copy (e.g. data/cifar10-jpeg.tar.xz)")
    d.add_argument("--results", default="results/part2-gpu", help="where the study trains (git-ignored, so kept "
                   "between commands on one machine)")
    d.add_argument("--out", default=os.environ.get("OUT", "out"), help="where the archive goes (default $OUT)")
    d.add_argument("--budget-s", type=float, default=500.0, help="return after this many seconds")
    d.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ratio(args) if args.command == "ratio" else device_main(args)


if __name__ == "__main__":
    main()
