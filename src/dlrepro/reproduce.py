"""`dlrepro reproduce`: run every study's grid (local pool or Ray Tune), then build the report from the runs.
Also `dlrepro sweep`'s one study: its record (dlrepro.studies.record), its trials, and runs.csv."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import re
import sys
from collections import Counter
from pathlib import Path

import dlrepro
from dlrepro.errors import ConfigError, DatasetError
from dlrepro.report.build import STUDIES, build_report, read_status
from dlrepro.runs.rundir import RunDir, atomic_write_json
from dlrepro.studies.record import write_record
from dlrepro.studies.spec import Study, load_study
from dlrepro.sweep.local import TrialResult, run_local
from dlrepro.sweep.table import RUNS_CSV, write_runs_csv


def hardware() -> dict:
    """The machine the runs are made on, for the report: CPU model, cores, GPU. Imports no torch (a rerun with
    nothing left to train never does): the GPU model comes from the NVIDIA driver's /proc entry, or from torch
    only when a trial already imported it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = None
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        with contextlib.suppress(OSError):
            gpu = next((line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                        if line.startswith("Model:")), None)
        break
    torch = sys.modules.get("torch")
    if gpu is None and torch is not None and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
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
    return cifar_source(data)[1]


def cifar_source(data: dict | None) -> tuple[str | None, str | None]:
    """(layout, None) when CIFAR-10 loads: "official" or "imagefolder" (a re-encoded copy); else (None, reason)."""
    from dlrepro.data.cifar10 import load_cifar10

    data = data or {}
    try:
        ds = load_cifar10(data.get("data_root"), verify=data.get("verify_data", True), cache_dir=data.get("cache_dir"))
    except DatasetError as exc:
        return None, str(exc)
    return ds.layout, None


def cifar_given(data: dict | None) -> bool:
    """Whether a CIFAR-10 location was given (--data-root or $DLREPRO_CIFAR10)."""
    from dlrepro.data.cifar10 import ENV_VAR

    return bool((data or {}).get("data_root") or os.environ.get(ENV_VAR))


def _quiet_log(line: str) -> None:
    """--quiet: a trial's line only when it failed; the closing line and Ray's retries as they are."""
    if not re.match(r"\[\d+/\d+\] (?!failed)", line):
        print(line, flush=True)


def sweep(study: Study, profile: str, out: Path, workers: int | None = None, data: dict | None = None,
          backend: str = "local", address: str | None = None, tensorboard: bool = False,
          vectorize: bool = True, trials_per_gpu: int = 1, quiet: bool = False) -> list[TrialResult]:
    """Run the study's trials on the local pool or (backend "ray") as Ray Tune trials, at `address` if given.
    `vectorize`: the local pool trains seeds of the small models as populations (see dlrepro.sweep.local).
    Writes the study's record (study.json, study.toml) first and runs.csv last, beside the runs."""
    trials = study_trials(study, profile, out, data)
    study_dir = Path(out) / "runs" / study.name
    write_record(study, profile, study_dir, [Path(d).name for _, d in trials])
    if not quiet:
        print(f"== {study.title}: {len(trials)} trial(s), {study.describe(profile)} -> {study_dir}", flush=True)
    log = _quiet_log if quiet else print
    if backend == "ray":
        from dlrepro.sweep.ray_backend import run_ray

        results = run_ray(trials, workers, address, storage_path=Path(out).resolve() / "ray_results",
                          name=study.name, log=log, tensorboard=tensorboard, trials_per_gpu=trials_per_gpu)
    else:
        results = run_local(trials, workers, log=log, tensorboard=tensorboard, vectorize=vectorize,
                            trials_per_gpu=trials_per_gpu)
    write_runs_csv(study_dir / RUNS_CSV, trials, results)
    return results


def trial_state(run_dir: Path) -> str:
    """What a sweep would do with a trial: 'done' (completed or diverged: skipped), 'failed' (retried),
    'interrupted' (resumed) or 'new'."""
    run = RunDir(run_dir)
    summary = run.summary()
    if summary is not None:
        return "done" if summary["status"] in ("completed", "diverged") else "failed"
    return "interrupted" if run.stored_config() is not None else "new"


def plan(study: Study, profile: str, out: Path, data: dict | None = None) -> list[str]:
    """--dry-run: the lines describing the trials a sweep would run, and nothing run or written."""
    trials = study_trials(study, profile, out, data)
    settings = [cfg.identity() for cfg, _ in trials]
    keys = list(dict.fromkeys(k for s in settings for k in s))
    varied = [k for k in keys if len({json.dumps(s.get(k)) for s in settings}) > 1]
    shared = ", ".join(f"{k}={settings[0][k]}" for k in keys if k not in varied and k in settings[0])
    states = [trial_state(d) for _, d in trials]
    counts = Counter(states)
    study_dir = Path(out) / "runs" / study.name
    lines = [f"== {study.title}: {len(trials)} trial(s), {study.describe(profile)} -> {study_dir}",
             f"   {counts['done']} done, {len(trials) - counts['done']} to run"
             + "".join(f", {counts[s]} {s}" for s in ("new", "interrupted", "failed") if counts[s]),
             f"   every trial: {shared}"]
    width = max(len(Path(d).name) for _, d in trials)
    for (_, d), s, state in zip(trials, settings, states, strict=True):
        diff = " ".join(f"{k}={s.get(k)}" for k in varied)
        lines.append(f"   {Path(d).name:<{width}}  {state:<11}  {diff}")
    return lines


def select_studies(names: list[str], profile: str, sets: dict | None = None) -> list[Study]:
    """The built-in studies `names`, each with the --set overrides it has a setting or axis for; a key no
    study has is a ConfigError (before anything runs)."""
    studies = [load_study(name) for name in names]
    sets = sets or {}
    used = set()
    for i, study in enumerate(studies):
        mine = {k: v for k, v in sets.items() if k in study.keys(profile)}
        used |= set(mine)
        if mine:
            studies[i] = study.with_sets(mine, profile)
    unused = [k for k in sets if k not in used]
    if unused:
        raise ConfigError(f"--set {unused[0]}: no study of this run ({', '.join(names)}) has a setting or grid "
                          f"axis {unused[0]!r}")
    return studies


def reproduce(out: str | Path = "results", profile: str = "quick", workers: int | None = None,
              only: list[str] | None = None, data: dict | None = None,
              backend: str = "local", address: str | None = None, tensorboard: bool = False,
              vectorize: bool = True, trials_per_gpu: int = 1, sets: dict | None = None,
              quiet: bool = False) -> tuple[Path, int]:
    """Run the built-in studies (`only`, default all) and write the report; returns (report.md, number of
    failed trials). `sets`: --set overrides, each applied to the studies that have that setting or axis."""
    out = Path(out)
    studies = select_studies(only or STUDIES, profile, sets)  # every study checked before anything runs
    out.mkdir(parents=True, exist_ok=True)
    status = read_status(out) if only else {}
    verify = (data or {}).get("verify_data", True)
    layout = None
    if any(needs_cifar(study, profile) for study in studies) and cifar_given(data):
        layout, reason = cifar_source(data)  # before any trial: a given source that fails stops here
        if reason is not None:
            raise DatasetError(reason)
    # cifar_verified: MD5-checked official files; an image folder is a re-encoded copy (the report says so)
    status.update(profile=profile, cifar_verified=verify and layout != "imagefolder", cifar_source=layout,
                  dlrepro_version=dlrepro.__version__, hardware=hardware())
    not_run = status.setdefault("not_run", {})
    failed = 0
    session = contextlib.nullcontext()
    if backend == "ray":  # one Ray for every study
        from dlrepro.sweep.ray_backend import ray_session

        session = ray_session(address, workers)
    with session:
        for study in studies:
            name = study.name
            not_run.pop(name, None)
            if needs_cifar(study, profile):
                reason = check_cifar(data)
                if reason is not None:
                    print(f"== {study.title}: not run, CIFAR-10 unavailable: {reason}", flush=True)
                    not_run[name] = f"CIFAR-10 unavailable ({reason})"
                    continue
            results = sweep(study, profile, out, workers, data, backend, address, tensorboard, vectorize,
                            trials_per_gpu, quiet)
            failed += sum(r.status == "failed" for r in results)
    atomic_write_json(out / "reproduce.json", status)
    report = build_report(out, echo=False)
    print(verdict_summary(out))
    print(f"report: {report} and {out / 'report.html'}" + (f"  ({failed} trial(s) failed)" if failed else ""))
    return report, failed


def verdict_summary(out: Path) -> str:
    """'claims: 5 reproduced, 2 differs, 9 not run' from the claims.json just written."""
    try:
        claims = json.loads((Path(out) / "claims.json").read_text())
    except (OSError, ValueError):
        return "claims: none written"
    if isinstance(claims, dict):  # a document with its claims under "claims"
        claims = claims.get("claims", [])
    counts = Counter(c.get("verdict", "?") for c in claims if isinstance(c, dict))
    return "claims: " + (", ".join(f"{n} {v}" for v, n in counts.most_common()) or "none")
