"""`dlrepro report DIR`: rebuild report.md, report.html, claims.json and figures/ from the runs in DIR.

Nothing is trained here. DIR/runs/<study>/<trial>/ are the runs; DIR/runs/<study>/study.json (written when
the study ran, see dlrepro.studies.record) its title, description, profile, overrides and trial ids;
DIR/reproduce.json (written by `dlrepro reproduce`) records the profile, the hardware, the dlrepro version and
why a study was not run. Only the runs of a study's recorded trials are read (a folder may also hold runs of
another profile). The package's study files are read for the trials of a built-in study that ran without a
record. A study folder under DIR/runs/ that is not a built-in study gets a generic section
(dlrepro.report.generic). Every path in the report is relative to DIR.

The claims judged are those of the study as it ran (runs/<study>/study.toml, `[[claims]]`); a built-in study
whose recorded file has none (a folder written before claims were data) is judged with the claims of the
package's study of the same name. A user's study gets its claims judged in its own section.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import dlrepro
from dlrepro.claims.evidence import Evidence, evidence, unreadable_note
from dlrepro.claims.judge import judge_claims
from dlrepro.claims.protocols import protocol_names, verdict_under
from dlrepro.claims.verdict import PROTOCOLS_SCHEMA_VERSION, SCHEMA_VERSION, VERDICTS, Claim, counts
from dlrepro.files import atomic_write_bytes
from dlrepro.report.document import Section, render_html, render_markdown
from dlrepro.report.generic import generic_section
from dlrepro.report.protocols import protocol_ids, protocol_lines, protocol_note, protocol_verdicts, ran_protocols
from dlrepro.report.registry import REGISTRY, STUDIES, studies_reading
from dlrepro.report.trials import names_a_plugin, plugin_runs, profile_trials
from dlrepro.report.verdict import ClaimDetails, glance_table
from dlrepro.runs.folder import Folder
from dlrepro.studies.record import ran_with, read_recorded_study, read_reproduce_record, read_study_record
from dlrepro.studies.spec import Study, load_study

PARTS = {"1": "Part 1 (MLPs: toy data, CIFAR-10)", "2": "Part 2 (ConvNet optimizers)", "3": "Part 3 (palindrome RNNs)"}

HOW_JUDGED = ("Verdicts: 'reproduced' when the rule in the 'reference' column holds for the mean over every seed "
              "run at the claim's settings; 'differs' when it does not; 'not comparable' when the profile ran other "
              "settings than the claim's (a claim about 200 epochs cannot be judged from 2); 'not run' when the "
              "profile has no such run or a run did not complete all its steps. Only the runs of the recorded "
              "profile are read.")

REPRODUCIBILITY = ("Reproducibility: the same command and seed give the same numbers on the same CPU (every run "
                   "seeds its weights, data and sample order). Across CPUs the BLAS kernels differ in their last "
                   "bits; stable settings (the toy MLPs, the ConvNet at small learning rates) land on nearly the same "
                   "numbers, while chaotic ones amplify the differences: the vanilla RNN at lr 1e-2, length 5, seed "
                   "0 ended at 1.000 on one of our machines and 0.63 on another. The verdicts therefore rest on "
                   "every seed run and their spread, never on a single run.")


def other_studies(out: Path) -> list[Path]:
    """Study folders under out/runs/ that are not built-in studies (a user's own study files), by name: those
    with a study record or at least one run."""
    folder = Folder(out)
    runs = Path(out) / "runs"
    if folder.outside(runs) is not None:
        return []
    folders = [p for p in folder.subdirs(runs) if p.name not in REGISTRY]
    return [p for p in folders if folder.outside(p) is not None  # its section says why it is not read
            or (p / "study.json").exists() or any((d / "config.json").exists() for d in p.iterdir() if d.is_dir())]


def study_evidence(study_dir: Path, study: Study, profile: str | None, not_run: str | None,
                   recorded: list | None = None) -> Evidence:
    """The runs of the profile's trials under study_dir (every run found there when the profile is unknown)."""
    trials = None
    if profile is not None and profile in study.profiles:
        configs = study.trials(profile)
        runs = plugin_runs(study_dir) if any(map(names_a_plugin, configs)) else None
        trials = profile_trials(configs, recorded, runs)
    ev = evidence(study_dir, profile or "unknown", trials, not_run)
    if not ev.runs and not ev.not_run:
        readable = "readable " if ev.unreadable else ""
        ev.not_run = f"no {readable}runs of profile {ev.profile} under runs/{study_dir.name}"
    return ev


def left_out_note(study_dir: Path, ev: Evidence, judged_too: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """A note on run folders of other trials (earlier sweeps, other profiles) that the section leaves out;
    `judged_too`: the trials of the other protocols that ran (their claims read them)."""
    others = [p for p in study_dir.iterdir() if p.is_dir() and p.name not in ev.trials and p.name not in judged_too
              and (p / "config.json").exists()] if study_dir.is_dir() else []
    return (f"{len(others)} other run folder(s) under runs/{study_dir.name}, from sweeps with other settings, "
            "are not shown." if others else "")


def profile_note(study, profile: str | None) -> str | None:
    """Where the profile's runs depart from the reference settings (the full profile) that the description states."""
    if profile not in study.profiles or profile == "full" or "full" not in study.profiles:
        return None

    def values(p):
        out: dict[str, list] = {}
        for cfg in study.trials(p):
            for k, v in cfg.identity().items():
                v = list(v) if isinstance(v, tuple) else v
                if v not in out.setdefault(k, []):
                    out[k].append(v)
        return out

    ours, ref = values(profile), values("full")
    diffs = [f"{k} {_values(ours[k])} (reference {_values(ref.get(k, []))})" for k in ours if ours[k] != ref.get(k)]
    if not diffs:
        return None
    return (f"The description gives the reference settings; profile {profile} ran other settings: "
            + "; ".join(diffs) + ". Each claim is judged only from runs at its own settings (see the claims table).")


def _values(vs: list) -> str:
    return ", ".join("-".join(map(str, v)) if isinstance(v, list) else f"{v:g}" if isinstance(v, float) else str(v)
                     for v in vs)


def data_line(status: dict, evidences: dict[str, Evidence]) -> str:
    if not evidences:   # a user's studies only
        return "Data: as each study's setup names it."
    cifar = [n for n in studies_reading("cifar10") if n in evidences and evidences[n].runs]
    if not cifar:
        reasons = {evidences[n].not_run or "" for n in studies_reading("cifar10") if n in evidences} - {""}
        return "Data: toy data sets from scikit-learn; CIFAR-10 not used: " + "; ".join(sorted(reasons)) + "."
    if status.get("cifar_verified") is False:
        return ("Data: a re-encoded CIFAR-10 copy (not checked against the official MD5s): its numbers are real "
                "CIFAR-10 accuracy on slightly degraded (e.g. JPEG) images.")
    return "Data: the official CIFAR-10 archive (MD5-verified) and toy data sets from scikit-learn."


def hardware_line(status: dict) -> str:
    hw = status.get("hardware")
    if not hw:
        return "Hardware: not recorded (runs made without `dlrepro reproduce`)."
    gpu = hw.get("gpu") or "no GPU"
    return f"Hardware: {hw.get('cpu', 'unknown CPU')}, {hw.get('cores', '?')} cores, {gpu}."


def summary_lines(claims: list[Claim], status: dict, evidences: dict[str, Evidence],
                  trends: dict[str, list[str]] | None = None) -> list[str]:
    """The summary: counts, profile, data, hardware, and a line per part (with the early trends of `trends`,
    part -> texts, where none of the part's claims could be judged)."""
    n = counts(claims)
    lines = [f"{len(claims)} claim{'' if len(claims) == 1 else 's'}: "
             + ", ".join(f"{n[v]} {v}" for v in VERDICTS) + ".",
             f"Profile: {status.get('profile', 'unknown')}; runs by dlrepro "
             f"{status.get('dlrepro_version', dlrepro.__version__)}, report by dlrepro {dlrepro.__version__}.",
             data_line(status, evidences), hardware_line(status)]
    by_part = defaultdict(list)
    for c in claims:
        by_part[c.part].append(c)
    parts = PARTS if evidences else {}   # the reference's parts when the folder holds its studies
    for part, title in {**parts, **{p: f"Study {p}" for p in by_part if p not in parts}}.items():
        pc = by_part.get(part, [])
        m = counts(pc)
        text = f"{title}: " + ", ".join(f"{m[v]} {v}" for v in VERDICTS if m[v]) if pc else f"{title}: no claims"
        reasons = sorted({c.reason for c in pc if c.verdict in ("not run", "not comparable")})
        if reasons and all(c.verdict in ("not run", "not comparable") for c in pc):
            text += f" ({reasons[0]}{'; ...' if len(reasons) > 1 else ''})"
        if not any(c.verdict in ("reproduced", "differs") for c in pc):
            text += "".join(f". {t}" for t in (trends or {}).get(part, []))
        lines.append(text + ("" if text.endswith(".") else "."))
    return lines + protocol_lines(claims)


def claims_document(claims: list[Claim], status: dict, evidences: dict[str, Evidence],
                    unread: list[dict] | None = None) -> dict:
    """claims.json; `unread`: the studies whose claims could not be read (study, file, problem). With several
    protocols (schema version 3), the counts under each."""
    names = protocol_names(claims)
    extra = {"protocols": {n: {v: sum(verdict_under(c, n) == v for c in claims) for v in VERDICTS}
                           for n in names}} if names else {}
    return {"schema_version": PROTOCOLS_SCHEMA_VERSION if names else SCHEMA_VERSION,
            "dlrepro_version": dlrepro.__version__,
            "runs_dlrepro_version": status.get("dlrepro_version"), "profile": status.get("profile", "unknown"),
            "data_source": {"cifar10": ("re-encoded" if status.get("cifar_verified") is False else "official")
                            if any(evidences[n].runs for n in studies_reading("cifar10") if n in evidences)
                            else None, "note": data_line(status, evidences)},
            "hardware": status.get("hardware"), "counts": counts(claims), **extra,
            "claims": [c.to_dict() for c in claims], "unreadable_studies": list(unread or [])}


def has_builtin_studies(out: Path, status: dict, others: list[Path]) -> bool:
    """Whether the report is about the reference's studies: `dlrepro reproduce` ran into the folder (it records
    every study, run or not), a built-in study's folder is there, or no study is (every claim: not run). A
    folder of a user's studies (`others`) reports those only."""
    return bool(status) or not others or any(os.path.lexists(Path(out) / "runs" / name) for name in STUDIES)


def folder_status(status: dict, infos: list[dict]) -> dict:
    """reproduce.json's record; where `reproduce` did not run, the profile(s), machine and dlrepro version the
    studies' sweeps recorded (study.json)."""
    merged = dict(status)
    profiles = list(dict.fromkeys(i["profile"] for i in infos if isinstance(i.get("profile"), str)))
    if "profile" not in merged and profiles:
        merged["profile"] = ", ".join(profiles)
    if not merged.get("hardware"):
        merged["hardware"] = next((i["hardware"] for i in infos if i.get("hardware")), None)
    if "dlrepro_version" not in merged:
        merged["dlrepro_version"] = next((i["dlrepro"] for i in infos if i.get("dlrepro")), dlrepro.__version__)
    return merged


def build_report(out: str | Path, echo: bool = True) -> tuple[Path, dict[str, int]]:
    """Write the report files; with `echo`, also print each section's results tables. Returns report.md's path
    and the number of claims of each verdict (as claims.json counts them)."""
    out = Path(out)
    status = read_reproduce_record(out)
    not_run = status.get("not_run", {})
    figures = Folder(out).own_dir(out / "figures")  # a real folder, never a link to another one
    sections: list[Section] = []
    claims: list[Claim] = []
    evidences: dict[str, Evidence] = {}
    trends: dict[str, list[str]] = defaultdict(list)
    infos: list[dict] = []
    unread: list[dict] = []   # the studies whose study.toml cannot be read: study, file, problem
    others = other_studies(out)
    builtins = has_builtin_studies(out, status, others)
    for name in STUDIES if builtins else ():
        study_dir = out / "runs" / name
        info = read_study_record(study_dir)
        infos.append(info)
        recorded, problem = read_recorded_study(study_dir, info)
        if problem:
            unread.append({"study": name, "file": f"runs/{name}/study.toml", "problem": problem})
        study = recorded or load_study(name)
        ev = evidences[name] = study_evidence(study_dir, study, info.get("profile", status.get("profile")),
                                              not_run.get(name), info.get("trials"))
        specs = study.claims or load_study(name).claims
        mine = judge_claims(specs, ev)
        ran, protocols = ran_protocols(info, study, ev.profile)
        protocol_verdicts(mine, specs, ran, ev.profile, study_dir, protocols, not_run.get(name), info)
        claims += mine
        runs = list(ev.runs.values())
        trend_of = REGISTRY[name].trend
        trend = trend_of(runs) if trend_of is not None and runs else None
        if trend:
            for part in dict.fromkeys(c.part for c in mine):
                trends[part].append(trend)
        unreadable = f"Its study.toml cannot be read ({problem}); the package's study file stands for it." \
            if problem else ""
        if not runs:
            missing = (f"Not run: {ev.not_run}.", unreadable, unreadable_note(ev.unreadable))
            sections.append(Section(info["title"], info["description"], notes=[n for n in missing if n]))
            continue
        section = REGISTRY[name].section(runs, figures)
        section.title, section.description = info["title"], info["description"]
        notes = (ran_with(info), unreadable, protocol_note(ran, ev.profile, protocols, "The figures and tables "
                                                            "show the stated protocol's runs."),
                 profile_note(study, ev.profile), left_out_note(study_dir, ev, protocol_ids(
                     ran, ev.profile, protocols)),
                 unreadable_note(ev.unreadable))
        section.notes = [n for n in (*notes, *section.notes) if n]
        sections.append(section)
    reference = list(claims)
    for study_dir in others:
        info = read_study_record(study_dir)
        infos.append(info)
        section = generic_section(study_dir, figures, info)
        theirs, problem = read_recorded_study(study_dir, info)
        if problem:
            unread.append({"study": study_dir.name, "file": f"runs/{study_dir.name}/study.toml", "problem": problem})
        section.notes = [n for n in (ran_with(info), problem and "The claims of this study were not judged: its study "
                                                    f"file cannot be read ({problem}).", *section.notes) if n]
        sections.append(section)
        if theirs is None:
            continue
        ran, names = ran_protocols(info, theirs, info.get("profile"))
        if len(names) > 1:
            section.notes.append(protocol_note(ran, info["profile"], names, "The tables show every protocol's runs."))
        if theirs.claims:
            ev = study_evidence(study_dir, theirs, info.get("profile"), None, info.get("trials"))
            mine = judge_claims(theirs.claims, ev)
            protocol_verdicts(mine, theirs.claims, ran, ev.profile, study_dir, names, None, info)
            claims += mine
            title = " ".join(section.title.split())
            sections.append(ClaimDetails(f"Claims of {title}", f"The claims of study {theirs.name}'s file, judged "
                                         f"from its runs. {HOW_JUDGED}", claims=mine))
    if builtins:
        sections.append(ClaimDetails("Claims of the reference report", "Each claim of the reference report, the "
                                     "settings it is about, and our measurement (mean +- std over seeds where there "
                                     f"are several). {HOW_JUDGED}", claims=reference))
    status = folder_status(status, infos)
    title = ("dlrepro: reproducing the course study" if builtins else
             "dlrepro: " + "; ".join(" ".join(s.title.split()) for s in sections if not isinstance(s, ClaimDetails)))
    summary = summary_lines(claims, status, evidences, trends)
    summary[1:1] = [f"The claims of study {u['study']} were not judged: its study file cannot be read "
                    f"({u['problem']})." for u in unread]
    glance = glance_table(claims, protocol_names(claims))
    intro = ["Every number below is read from the run directories under runs/ (paths are relative to this "
             "folder); `dlrepro report` on this folder rebuilds this page without training.",
             *([REPRODUCIBILITY] if builtins else [])]
    if echo:
        for line in summary:
            print(line)
        print("\n" + glance.markdown())
        for section in sections:
            print(f"\n== {section.title}")
            for note in section.notes:
                print(note)
            for table in section.tables:
                print(table.markdown())
    drawn = {p for s in sections for f in s.figures for p in ((f.path, f.svg) if f.with_svg else (f.path,))}
    for stale in figures.glob("*.*"):
        if stale.suffix in (".png", ".svg") and stale not in drawn and not stale.is_dir():  # of an earlier build
            stale.unlink()
    document = json.dumps(claims_document(claims, status, evidences, unread), indent=2, allow_nan=False)  # strict
    atomic_write_bytes(out / "claims.json", (document + "\n").encode())
    atomic_write_bytes(out / "report.md", render_markdown(title, intro, sections, out, summary, glance).encode())
    atomic_write_bytes(out / "report.html", render_html(title, intro, sections, summary, glance).encode())
    return out / "report.md", counts(claims)
