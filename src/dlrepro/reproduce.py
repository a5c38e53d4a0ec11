"""`dlrepro reproduce`: run every built-in study (dlrepro.sweep.study, on the local pool or Ray Tune), then
build the report from the runs (dlrepro.report.build)."""

from __future__ import annotations

import contextlib
import time
from contextlib import AbstractContextManager
from pathlib import Path

import dlrepro
from dlrepro.errors import DatasetError
from dlrepro.registry import DATA_SOURCES
from dlrepro.report.build import build_report
from dlrepro.report.registry import STUDIES
from dlrepro.studies.claim_checks import check_claims, claim_plan
from dlrepro.studies.record import hardware, read_reproduce_record, write_reproduce_record
from dlrepro.studies.spec import Study
from dlrepro.sweep.study import check_source, plan, select_studies, source_given, sources, study_trials, sweep
from dlrepro.sweep.trials import DEFAULT_OPTIONS, SweepOptions, already_done


def plan_lines(studies: list[Study], profile: str, out: Path, options: SweepOptions = DEFAULT_OPTIONS) -> list[str]:
    """The plan `reproduce` prints before it starts (and --dry-run prints): per study the trials to run and an
    estimate of the time (dlrepro.sweep.estimate), and the total. CIFAR-10 studies without a CIFAR-10
    location given say so."""
    from dlrepro.sweep.estimate import Estimate, calibrate, duration, plan_estimate

    rows: list[tuple[str, str]] = []
    total, unknown, to_run = 0.0, 0, 0
    scale = None
    width = max(len(s.name) for s in studies)
    for study in studies:
        trials = study_trials(study, profile, Path(out), options.data)
        missing = [DATA_SOURCES[s] for s in sources(study, profile) if not source_given(s, options.data)]
        if missing:
            rows.append((study.name, f"{len(trials)} trial(s), not run: needs {missing[0].label} (--data-root or "
                                     f"${missing[0].env})"))
            continue
        todo = [t for t in trials if already_done(*t) is None]
        est = Estimate(0.0, 0)
        if todo:
            scale = scale or calibrate()
            est = plan_estimate(todo, options.workers, options.vectorize, scale)
        total, unknown, to_run = total + est.seconds, unknown + est.unknown, to_run + len(todo)
        rows.append((study.name, f"{len(trials)} trial(s), {len(todo)} to run" + (f", {est.text()}" if todo else "")))
    how = ("per-kind costs measured on the project's 2-core machine (BENCHMARKS.md) times this machine's "
           f"calibration now (x{scale.mixed:.1f})") if scale else "nothing to run"
    lines = [f"plan ({profile} profile, {how}):"]
    lines += [f"  {name:<{width}}  {text}" for name, text in rows]
    if to_run:
        lines.append(f"  {'all':<{width}}  {to_run} to run, about {duration(total)} in all"
                     + (f" (+ {unknown} trial(s) without an estimate)" if unknown else "")
                     + " - an estimate; the live line corrects it as the trials run")
    return lines


def prepare(studies: list[Study], profile: str, options: SweepOptions = DEFAULT_OPTIONS, echo: bool = False,
            load_data: bool = True) -> dict[str, tuple[str | None, str | None]]:
    """What `sweep` and `reproduce` check before any trial runs: each study's claims can be judged, and (with
    `load_data`) each data source its trials read loads, checked and decoded once, so the workers find the
    cache. Returns (layout, None) per source that is ready, (None, reason) per one that is not: a source whose
    location was given (--data-root or its environment variable) and fails raises DatasetError instead.
    `echo`: a line before and after checking a given copy (its first decode takes a while)."""
    for study in studies:
        check_claims(study)
    ready: dict[str, tuple[str | None, str | None]] = {}
    if not load_data:
        return ready
    for source in dict.fromkeys(s for study in studies for s in sources(study, profile)):
        given, label = source_given(source, options.data), DATA_SOURCES[source].label
        if given and echo:
            print(f"{label}: checking the copy (its first decode, into a cache, takes a while)", flush=True)
        started = time.perf_counter()
        ready[source] = check_source(source, options.data)
        if ready[source][1] is not None and given:
            raise DatasetError(ready[source][1])
        if given and echo:
            print(f"{label}: {ready[source][0]} copy ready in {time.perf_counter() - started:.1f} s", flush=True)
    return ready


def dry_run(studies: list[Study], profile: str, out: Path, options: SweepOptions = DEFAULT_OPTIONS,
            totals: bool = True) -> list[str]:
    """--dry-run of `sweep` and `reproduce`: the plan with its estimate (`plan_lines`, with `totals`), then per
    study its trials (done or to run, the settings that differ) and the trials each claim is judged from."""
    lines = plan_lines(studies, profile, out, options) if totals else []
    for study in studies:
        lines += plan(study, profile, out, options.data) + claim_plan(study, profile)
    return lines


def reproduce(out: str | Path = "results", profile: str = "quick", options: SweepOptions = DEFAULT_OPTIONS,
              only: list[str] | None = None, sets: dict | None = None, explain: bool = False) -> tuple[Path, int]:
    """Run the built-in studies (`only`, default all) and write the report; returns (report.md, number of
    failed trials). `sets`: --set overrides, each applied to the studies that have that setting or axis;
    `explain`: also each protocol's settings switched alone (`Study.explaining`)."""
    out = Path(out)
    data = options.data
    studies = select_studies(only or STUDIES, profile, sets, explain)
    ready = prepare(studies, profile, options, echo=not options.quiet)  # every study checked before anything runs
    out.mkdir(parents=True, exist_ok=True)
    status = read_reproduce_record(out) if only else {}
    verify = (data or {}).get("verify_data", True)
    layout = ready.get("cifar10", (None, None))[0]
    if not options.quiet:
        print("\n".join(plan_lines(studies, profile, out, options)), flush=True)
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
            missing = [s for s in sources(study, profile) if ready[s][1] is not None]
            if missing:
                what, reason = DATA_SOURCES[missing[0]].label, ready[missing[0]][1]
                print(f"== {study.title}: not run, {what} unavailable: {reason}", flush=True)
                not_run[name] = f"{what} unavailable ({reason})"
                continue
            results = sweep(study, profile, out, options)
            failed += sum(r.status == "failed" for r in results)
    write_reproduce_record(out, status)
    report, counts = build_report(out, echo=False)
    print(verdict_summary(counts))
    print(f"report: {report} and {out / 'report.html'}" + (f"  ({failed} trial(s) failed)" if failed else ""))
    return report, failed


def verdict_summary(counts: dict[str, int]) -> str:
    """'claims: 5 reproduced, 2 differs, 9 not run' (the verdicts that occur, the most frequent first)."""
    ranked = sorted(((n, v) for v, n in counts.items() if n), key=lambda nv: -nv[0])
    return "claims: " + (", ".join(f"{n} {v}" for n, v in ranked) or "none")
