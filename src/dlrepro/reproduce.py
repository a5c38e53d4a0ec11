"""`dlrepro reproduce`: run every built-in study (dlrepro.sweep.study, on the local pool or Ray Tune), then
build the report from the runs (dlrepro.report.build)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path

import dlrepro
from dlrepro.errors import DatasetError
from dlrepro.report.build import build_report, read_status
from dlrepro.report.judge import check_claims
from dlrepro.report.registry import STUDIES
from dlrepro.runs.rundir import atomic_write_json
from dlrepro.sweep.study import check_cifar, cifar_given, cifar_source, needs_cifar, select_studies, sweep
from dlrepro.sweep.trials import DEFAULT_OPTIONS, SweepOptions


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


def reproduce(out: str | Path = "results", profile: str = "quick", options: SweepOptions = DEFAULT_OPTIONS,
              only: list[str] | None = None, sets: dict | None = None) -> tuple[Path, int]:
    """Run the built-in studies (`only`, default all) and write the report; returns (report.md, number of
    failed trials). `sets`: --set overrides, each applied to the studies that have that setting or axis."""
    out = Path(out)
    data = options.data
    studies = select_studies(only or STUDIES, profile, sets)  # every study checked before anything runs
    for study in studies:
        check_claims(study)
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
    session: AbstractContextManager = contextlib.nullcontext()
    if options.backend == "ray":  # one Ray for every study
        from dlrepro.sweep.ray_backend import ray_session

        session = ray_session(options.address, options.workers)
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
            results = sweep(study, profile, out, options)
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
