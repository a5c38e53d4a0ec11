"""One study's sweep: its trials (config, run directory), the data source check before any of them runs, the
record (study.json, study.toml), the chosen backend, and runs.csv; `plan` is the same without running.
`dlrepro sweep` runs one study this way, `dlrepro reproduce` each of its studies."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from dlrepro.errors import ConfigError, DatasetError
from dlrepro.run_format import finished
from dlrepro.runs.rundir import RunDir
from dlrepro.studies.record import write_study_record
from dlrepro.studies.spec import Study, load_study
from dlrepro.sweep.estimate import calibrate, plan_estimate
from dlrepro.sweep.progress import Progress
from dlrepro.sweep.table import RUNS_CSV, write_runs_csv
from dlrepro.sweep.trials import DEFAULT_OPTIONS, SweepOptions, Trial, TrialResult, already_done, quiet_log


def sources(study: Study, profile: str) -> list[str]:
    """The data sources (dlrepro.registry.DATA_SOURCES keys) the study's trials read, in first-use order."""
    return list(dict.fromkeys(cfg.data_source for cfg in study.all_trials(profile) if cfg.data_source is not None))


def study_trials(study: Study, profile: str, out: Path, data: dict | None = None) -> list[Trial]:
    """(config, run dir) per grid point. `data` sets the location fields (data_root, verify_data, cache_dir)
    of the configs that read a data source; they are not part of a run's identity, so trial ids do not
    change. A user's class named by import path is checked here, before any trial runs (PluginError)."""
    from dlrepro.train.plugins import resolve_all

    return [(cfg, Path(out) / "runs" / study.name / cfg.default_name())
            for cfg in resolve_all([c.with_location(data) for c in study.all_trials(profile)])]


def check_source(name: str, data: dict | None) -> tuple[str | None, str | None]:
    """(layout, None) when the data source loads (for CIFAR-10: "official", or "imagefolder" for a re-encoded
    copy); else (None, reason). Decodes it once, so the workers find the cache."""
    from dlrepro.registry import DATA_SOURCES, load

    data = data or {}
    try:
        ds = load(DATA_SOURCES[name].loader)(data.get("data_root"), verify=data.get("verify_data", True),
                                             cache_dir=data.get("cache_dir"))
    except DatasetError as exc:
        return None, str(exc)
    return getattr(ds, "layout", None), None


def source_given(name: str, data: dict | None) -> bool:
    """Whether a location was given for the data source (--data-root or its environment variable)."""
    from dlrepro.registry import DATA_SOURCES

    return bool((data or {}).get("data_root") or os.environ.get(DATA_SOURCES[name].env))


def sweep(study: Study, profile: str, out: Path, options: SweepOptions = DEFAULT_OPTIONS) -> list[TrialResult]:
    """Run the study's trials on the local pool or (options.backend "ray") as Ray Tune trials. Writes the
    study's record (study.json, study.toml) first and runs.csv last, beside the runs."""
    trials = study_trials(study, profile, out, options.data)
    study_dir = Path(out) / "runs" / study.name
    write_study_record(study, profile, study_dir, [Path(d).name for _, d in trials])
    prior, scale = None, None
    if not options.quiet:
        print(f"== {study.title}: {len(trials)} trial(s), {study.describe(profile)} -> {study_dir}", flush=True)
        est = plan_estimate(trials, options.workers, options.vectorize)
        if est.units:
            prior, scale = est.seconds, calibrate()  # cached: the estimate's own calibration
            print(f"   {sum(already_done(c, d) is None for c, d in trials)} to run, {est.text()} (an estimate)",
                  flush=True)
    with Progress(trials, study.name, quiet=options.quiet, prior_s=prior, scale=scale,
                  status_every_s=options.status_every_s) as progress:
        log = quiet_log if options.quiet else progress.log
        if options.backend == "ray":
            from dlrepro.sweep.ray_backend import run_ray

            results = run_ray(trials, options, log, storage_path=Path(out).resolve() / "ray_results",
                              name=study.name)
        else:
            from dlrepro.sweep.local import run_local

            results = run_local(trials, options, log)
    write_runs_csv(study_dir / RUNS_CSV, trials, results)
    return results


def trial_state(run_dir: Path) -> str:
    """What a sweep would do with a trial: 'done' (completed or diverged: skipped), 'failed' (retried),
    'interrupted' (resumed) or 'new'."""
    run = RunDir(run_dir)
    summary = run.summary()
    if summary is not None:
        return "done" if finished(summary) else "failed"
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
    protocols = {name: {c.default_name() for c in cfgs} for name, cfgs in study.protocol_trials(profile).items()}
    if len(protocols) > 1:   # which protocol(s) each trial runs under
        lines.append("   protocols: " + "; ".join(f"{name} {len(ids)} trial(s)" for name, ids in protocols.items()))
        width_p = max(len(",".join(protocols)), 9)
    for (cfg, d), s, state in zip(trials, settings, states, strict=True):
        # a setting config.json leaves out at its default (a protocol setting of a stated trial) shows its default
        diff = " ".join(f"{k}={s[k] if k in s else getattr(cfg, k, None)}" for k in varied)
        under = ",".join(n for n, ids in protocols.items() if cfg.default_name() in ids)
        lines.append(f"   {Path(d).name:<{width}}  {state:<11}  "
                     + (f"{under:<{width_p}}  " if len(protocols) > 1 else "") + diff)
    return lines


def select_studies(names: list[str], profile: str, sets: dict | None = None, explain: bool = False) -> list[Study]:
    """The built-in studies `names`, each with the --set overrides it has a setting or axis for (a key no
    study has is a ConfigError, before anything runs), and with `explain`, its single-setting protocols."""
    studies = [load_study(name) for name in names]
    for study in studies:
        study.settings(profile)   # a profile the study does not define: one line naming its profiles
    sets = sets or {}
    used: set[str] = set()
    for i, study in enumerate(studies):
        mine = {k: v for k, v in sets.items() if k in study.keys(profile)}
        used |= set(mine)
        if mine:
            studies[i] = study.with_sets(mine, profile)
    unused = [k for k in sets if k not in used]
    if unused:
        raise ConfigError(f"--set {unused[0]}: no study of this run ({', '.join(names)}) has a setting or grid "
                          f"axis {unused[0]!r}")
    return [s.explaining() for s in studies] if explain else studies
