"""`dlrepro reproduce`: run every study's grid (local pool or Ray Tune), then build the report from the runs."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
from pathlib import Path

import dlrepro
from dlrepro.errors import DatasetError
from dlrepro.report.build import STUDIES, build_report, read_status
from dlrepro.runs.rundir import atomic_write_json
from dlrepro.studies.spec import CONFIG_DIR, Study, load_study
from dlrepro.sweep.local import TrialResult, run_local


def hardware() -> dict:
    """The machine the runs are made on, for the report: CPU model, cores, GPU (if torch sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "platform": platform.platform()}


def needs_cifar(study: Study, profile: str) -> bool:
    return any(getattr(cfg, "dataset", "cifar10") == "cifar10" and hasattr(cfg, "data_root")
               for cfg in study.trials(profile))


def study_trials(study: Study, profile: str, out: Path, data: dict | None = None) -> list[tuple]:
    """(config, run dir) per grid point. `data` sets the location fields (data_root, verify_data, cache_dir)
    of the configs that read CIFAR-10; they are not part of a run's identity, so trial ids do not change."""
    trials = []
    for cfg in study.trials(profile):
        if data and hasattr(cfg, "data_root"):
            cfg = dataclasses.replace(cfg, **data)
        trials.append((cfg, out / "runs" / study.name / cfg.default_name()))
    return trials


def check_cifar(data: dict | None) -> str | None:
    """None when CIFAR-10 loads (decoding it once, so workers find the cache), else the reason."""
    from dlrepro.data.cifar10 import load_cifar10

    data = data or {}
    try:
        load_cifar10(data.get("data_root"), verify=data.get("verify_data", True), cache_dir=data.get("cache_dir"))
    except DatasetError as exc:
        return str(exc)
    return None


def sweep(study: Study, profile: str, out: Path, workers: int | None = None, data: dict | None = None,
          backend: str = "local", address: str | None = None, tensorboard: bool = False,
          vectorize: bool = True, trials_per_gpu: int = 1) -> list[TrialResult]:
    """Run the study's trials on the local pool or (backend "ray") as Ray Tune trials, at `address` if given.
    `vectorize`: the local pool trains seeds of the small models as populations (see dlrepro.sweep.local)."""
    trials = study_trials(study, profile, out, data)
    print(f"== {study.title}: {len(trials)} trial(s), profile {profile} -> {out / 'runs' / study.name}", flush=True)
    if backend == "ray":
        from dlrepro.sweep.ray_backend import run_ray

        return run_ray(trials, workers, address, storage_path=Path(out).resolve() / "ray_results", name=study.name,
                       tensorboard=tensorboard, trials_per_gpu=trials_per_gpu)
    return run_local(trials, workers, tensorboard=tensorboard, vectorize=vectorize, trials_per_gpu=trials_per_gpu)


def reproduce(out: str | Path = "results", profile: str = "quick", workers: int | None = None,
              only: list[str] | None = None, data: dict | None = None,
              backend: str = "local", address: str | None = None, tensorboard: bool = False,
              vectorize: bool = True, trials_per_gpu: int = 1) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    status = read_status(out) if only else {}
    status.update(profile=profile, cifar_verified=(data or {}).get("verify_data", True),
                  dlrepro_version=dlrepro.__version__, hardware=hardware())
    not_run = status.setdefault("not_run", {})
    failed = 0
    session = contextlib.nullcontext()
    if backend == "ray":  # one Ray for every study
        from dlrepro.sweep.ray_backend import ray_session

        session = ray_session(address, workers)
    with session:
        for name in only or STUDIES:
            study = load_study(CONFIG_DIR / f"{name}.toml")
            not_run.pop(name, None)
            if needs_cifar(study, profile):
                reason = check_cifar(data)
                if reason is not None:
                    print(f"== {study.title}: not run, CIFAR-10 unavailable: {reason}", flush=True)
                    not_run[name] = f"CIFAR-10 unavailable ({reason})"
                    continue
            results = sweep(study, profile, out, workers, data, backend, address, tensorboard, vectorize,
                            trials_per_gpu)
            failed += sum(r.status == "failed" for r in results)
    atomic_write_json(out / "reproduce.json", status)
    report = build_report(out)
    print(f"report: {report} and {out / 'report.html'}" + (f"  ({failed} trial(s) failed)" if failed else ""))
    return report
