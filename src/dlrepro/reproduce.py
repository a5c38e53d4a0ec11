"""`dlrepro reproduce`: run every study's grid on the local pool, then write figures, tables and report.md."""

from __future__ import annotations

from pathlib import Path

from dlrepro.report.toy import toy_report
from dlrepro.runs.rundir import atomic_write_bytes
from dlrepro.studies.spec import CONFIG_DIR, Study, load_study
from dlrepro.sweep.local import TrialResult, run_local

# study name -> function(run dirs, figure dir) -> (markdown section, figure paths)
REPORTERS = {"toy": toy_report}
STUDIES = list(REPORTERS)


def study_run_dirs(study: Study, profile: str, out: Path) -> list[tuple]:
    return [(cfg, out / "runs" / study.name / cfg.default_name()) for cfg in study.trials(profile)]


def sweep(study: Study, profile: str, out: Path, workers: int | None = None) -> list[TrialResult]:
    trials = study_run_dirs(study, profile, out)
    print(f"== {study.title}: {len(trials)} trial(s), profile {profile} -> {out / 'runs' / study.name}", flush=True)
    return run_local(trials, workers)


def reproduce(out: str | Path = "results", profile: str = "quick", workers: int | None = None,
              only: list[str] | None = None) -> Path:
    out = Path(out)
    names = only or STUDIES
    sections = [f"# dlrepro report (profile {profile})\n"]
    failed = 0
    for name in names:
        study = load_study(CONFIG_DIR / f"{name}.toml")
        results = sweep(study, profile, out, workers)
        failed += sum(r.status == "failed" for r in results)
        text, figs = REPORTERS[name]([r.run_dir for r in results], out / "figures")
        print(f"\n{text}", flush=True)
        figures_md = "\n".join(f"![{f.stem}](figures/{f.name})" for f in figs)
        sections.append(f"## {study.title}\n\n{study.description}\n\n{figures_md}\n\n{text}")
    report = out / "report.md"
    atomic_write_bytes(report, "\n".join(sections).encode())
    print(f"report: {report}" + (f"  ({failed} trial(s) failed)" if failed else ""))
    return report
