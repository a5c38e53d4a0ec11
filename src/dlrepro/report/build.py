"""`dlrepro report DIR`: rebuild report.md, report.html, claims.json and figures/ from the runs in DIR.

Nothing is trained here. DIR/runs/<study>/<trial>/ are the runs; DIR/runs/<study>/study.json (written when
the study ran, see dlrepro.studies.record) its title, description, profile and overrides; DIR/reproduce.json
(written by `dlrepro reproduce`) records the profile and why a study was not run, if it was not. The package's
study files are read only for the title of a built-in study that never ran into DIR. A study folder under
DIR/runs/ that is not a built-in study gets a generic section (dlrepro.report.generic).
"""

from __future__ import annotations

import json
from pathlib import Path

from dlrepro.report.cifar import cifar_mlp_report, optimizers_report
from dlrepro.report.claims import CLAIMS, RULES
from dlrepro.report.document import Section, Table, render_html, render_markdown
from dlrepro.report.generic import generic_section
from dlrepro.report.load import load_runs
from dlrepro.report.palindrome import palindrome_report
from dlrepro.report.toy import toy_report
from dlrepro.runs.rundir import atomic_write_bytes, atomic_write_json
from dlrepro.studies.record import ran_with, study_info, study_runs

# study name -> function(run dirs, figure dir) -> Section, in the reference report's order
REPORTERS = {"toy": toy_report, "cifar_mlp": cifar_mlp_report, "optimizers": optimizers_report,
             "palindrome": palindrome_report}
STUDIES = list(REPORTERS)


def other_studies(out: Path) -> list[Path]:
    """Study folders under out/runs/ that are not built-in studies (a user's own study files), by name: those
    with a study record or at least one run."""
    runs = Path(out) / "runs"
    folders = sorted(p for p in runs.iterdir() if p.is_dir() and p.name not in REPORTERS) if runs.is_dir() else []
    return [p for p in folders if (p / "study.json").exists() or any((d / "config.json").exists()
                                                                     for d in p.iterdir() if d.is_dir())]


def read_status(out: Path) -> dict:
    p = out / "reproduce.json"
    return json.loads(p.read_text()) if p.exists() else {}


def build_report(out: str | Path, echo: bool = True) -> Path:
    """Write the report files; with `echo`, also print each section's results tables."""
    out = Path(out)
    status = read_status(out)
    not_run = status.get("not_run", {})
    sections, claims = [], []
    for name in STUDIES:
        study_dir = out / "runs" / name
        info = study_info(study_dir)
        run_dirs, left_out = study_runs(study_dir, info)
        runs = load_runs(run_dirs)
        reason = not_run.get(name) or (None if runs else f"no finished runs under {study_dir}")
        claims += CLAIMS[name](runs, reason)
        if not runs:
            sections.append(Section(info["title"], info["description"], notes=[f"Not run: {reason}."]))
            continue
        section = REPORTERS[name](run_dirs, out / "figures")
        section.title, section.description = info["title"], info["description"]
        section.notes = [n for n in (ran_with(info), left_out, *section.notes) if n]
        sections.append(section)
    for study_dir in other_studies(out):
        info = study_info(study_dir)
        section = generic_section(study_dir, out / "figures", info)
        section.notes = [n for n in (ran_with(info), *section.notes) if n]
        sections.append(section)
    claims_table = Table(["part", "claim", "reference", "ours", "verdict", "reason"],
                         [[c.part, c.claim, c.reference, c.measured, c.verdict, c.reason] for c in claims],
                         caption=RULES)
    sections.append(Section("Claims of the reference report", "Each claim of the reference report against "
                            "our measurement (mean +- std over seeds where there are several).",
                            tables=[claims_table]))
    title = "dlrepro: reproducing the course study"
    intro = [f"Profile: {status.get('profile', 'unknown')}. Every number below is read from the run "
             f"directories under {out / 'runs'}; `dlrepro report {out}` rebuilds this page without training.",
             "CIFAR-10 numbers from a re-encoded (JPEG) copy are real CIFAR-10 accuracy on slightly degraded "
             "images." if status.get("cifar_verified") is False else ""]
    intro = [p for p in intro if p]
    if echo:
        for section in sections:
            print(f"\n== {section.title}")
            for note in section.notes:
                print(note)
            for table in section.tables:
                print(table.markdown())
    atomic_write_json(out / "claims.json", [c.to_dict() for c in claims])
    atomic_write_bytes(out / "report.md", render_markdown(title, intro, sections, out).encode())
    atomic_write_bytes(out / "report.html", render_html(title, intro, sections).encode())
    return out / "report.md"
