"""`dlrepro reproduce`: run every study's grid on the local pool, then write figures, tables and report.md."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dlrepro.errors import DatasetError
from dlrepro.report.cifar import cifar_mlp_report, optimizers_report
from dlrepro.report.palindrome import palindrome_report
from dlrepro.report.toy import toy_report
from dlrepro.runs.rundir import atomic_write_bytes
from dlrepro.studies.spec import CONFIG_DIR, Study, load_study
from dlrepro.sweep.local import TrialResult, run_local

# study name -> function(run dirs, figure dir) -> (markdown section, figure paths), in report order
REPORTERS = {"toy": toy_report, "cifar_mlp": cifar_mlp_report, "optimizers": optimizers_report,
             "palindrome": palindrome_report}
STUDIES = list(REPORTERS)


def needs_cifar(study: Study, profile: str) -> bool:
    return any(getattr(cfg, "dataset", "cifar10") == "cifar10" and hasattr(cfg, "data_root")
               for cfg in study.trials(profile))


def study_trials(study: Study, profile: str, out: Path, data_root: str | None = None,
                 verify_data: bool = True) -> list[tuple]:
    trials = []
    for cfg in study.trials(profile):
        if hasattr(cfg, "data_root"):
            cfg = dataclasses.replace(cfg, data_root=data_root, verify_data=verify_data)
        trials.append((cfg, out / "runs" / study.name / cfg.default_name()))
    return trials


def check_cifar(data_root: str | None, verify_data: bool) -> str | None:
    """None when CIFAR-10 loads (decoding it once, so workers find the cache), else the reason."""
    from dlrepro.data.cifar10 import load_cifar10

    try:
        load_cifar10(data_root, verify=verify_data)
    except DatasetError as exc:
        return str(exc)
    return None


def sweep(study: Study, profile: str, out: Path, workers: int | None = None, data_root: str | None = None,
          verify_data: bool = True) -> list[TrialResult]:
    trials = study_trials(study, profile, out, data_root, verify_data)
    print(f"== {study.title}: {len(trials)} trial(s), profile {profile} -> {out / 'runs' / study.name}", flush=True)
    return run_local(trials, workers)


def reproduce(out: str | Path = "results", profile: str = "quick", workers: int | None = None,
              only: list[str] | None = None, data_root: str | None = None, verify_data: bool = True) -> Path:
    out = Path(out)
    sections = [f"# dlrepro report (profile {profile})\n"]
    failed = 0
    for name in only or STUDIES:
        study = load_study(CONFIG_DIR / f"{name}.toml")
        if needs_cifar(study, profile):
            reason = check_cifar(data_root, verify_data)
            if reason is not None:
                print(f"== {study.title}: not run, CIFAR-10 unavailable: {reason}", flush=True)
                sections.append(f"## {study.title}\n\nNot run: CIFAR-10 was not available ({reason}).\n")
                continue
        results = sweep(study, profile, out, workers, data_root, verify_data)
        failed += sum(r.status == "failed" for r in results)
        text, figs = REPORTERS[name]([r.run_dir for r in results], out / "figures")
        print(f"\n{text}", flush=True)
        figures_md = "\n".join(f"![{f.stem}](figures/{f.name})" for f in figs)
        sections.append(f"## {study.title}\n\n{study.description}\n\n{figures_md}\n\n{text}")
    report = out / "report.md"
    atomic_write_bytes(report, "\n".join(sections).encode())
    print(f"report: {report}" + (f"  ({failed} trial(s) failed)" if failed else ""))
    return report
