"""The report's side of protocols (dlrepro.studies.protocols): which protocols a study's record says ran, each
claim judged under every one of them from that protocol's runs (dlrepro.claims.protocols), the section note
naming them, and the summary's lines: the counts under each protocol and the claims that differ as stated but
reproduce under another, with the settings by which that protocol's runs of the claim differ from the stated
ones and, where `--explain` ran them, the settings that alone give it that verdict. A folder whose studies ran
the stated protocol alone gets none of these (it reports as before)."""

from __future__ import annotations

from pathlib import Path

from dlrepro.claims.evidence import evidence
from dlrepro.claims.judge import judged
from dlrepro.claims.protocols import (
    STATED,
    alone_text,
    changed_text,
    explained,
    judge_protocols,
    parent,
    protocol_names,
    single_setting,
)
from dlrepro.claims.verdict import VERDICTS, Claim
from dlrepro.report.trials import names_a_plugin, plugin_runs, profile_trials
from dlrepro.studies.record import recorded_protocols
from dlrepro.studies.spec import Study, protocol_configs


def ran_protocols(info: dict, study: Study, profile: str | None) -> tuple[Study, list[str]]:
    """The study as its record says it ran (with its single-setting protocols where `--explain` ran them), and
    the protocols whose verdicts the report gives: those its record names (the stated one alone for a record
    without protocols) that the study names, stated first."""
    if profile is None or profile not in study.profiles:
        return study, [STATED]
    recorded = recorded_protocols(info)
    if any(parent(n) for n in recorded):
        study = study.explaining()
    runs = study.profile_protocols(profile)
    return study, list(dict.fromkeys([STATED, *(n for n in recorded if n in runs)]))


def protocol_note(study: Study, profile: str, names: list[str], shown: str) -> str:
    """With several protocols: each one's trials and description, and which runs the section shows."""
    if len(names) < 2:
        return ""
    trials = study.protocol_trials(profile)
    parts = [f"{n} ({len(trials[n])} trial(s)"
             + (f": {study.protocols[n].description}" if n != STATED and study.protocols[n].description else "")
             + ")" for n in names]
    return (f"Protocols: {'; '.join(parts)}. A trial equal under two protocols ran once and counts for both. "
            f"{shown} Each claim is judged under every protocol, from that protocol's runs only.")


def protocol_verdicts(claims: list[Claim], specs, study: Study, profile: str, study_dir: Path, names: list[str],
                      not_run: str | None, info: dict | None = None) -> None:
    """Each claim judged under every protocol of `names` but the stated one, from that protocol's runs only
    (`info`: the study's record, whose trial ids pick a plugin trial's run where an edited plugin left several)."""
    if len(names) < 2:
        return
    recorded = recorded_protocols(info or {})
    variants = study.variants(profile)
    points = [{n: c.to_dict() for n, c in v.items()} for v in variants]
    configs = {name: protocol_configs(variants, name) for name in names[1:]}
    runs = plugin_runs(study_dir) if any(names_a_plugin(c) for cs in configs.values() for c in cs) else None
    evidences = {}
    for name in names[1:]:
        trials = profile_trials(configs[name], recorded.get(name), runs)
        ev = evidences[name] = evidence(study_dir, profile, trials, not_run)
        if not ev.runs and not ev.not_run:
            ev.not_run = f"no runs of protocol {name} (profile {profile}) under runs/{study_dir.name}"
    judge_protocols(claims, specs, points, evidences, judged)


def protocol_ids(study: Study, profile: str, protocols: list[str]) -> set[str]:
    """The trial ids of every protocol of `protocols` but the stated one."""
    if len(protocols) < 2:
        return set()
    trials = study.protocol_trials(profile)
    return {c.default_name() for p in protocols[1:] for c in trials[p]}


def protocol_lines(claims: list[Claim]) -> list[str]:
    """With several protocols: the counts under each, and the claims that differ as stated but reproduce under
    another protocol, with the settings by which its runs of the claim differ from the stated ones and, where
    that protocol's single-setting protocols ran, the setting(s) that alone give the claim that verdict."""
    names = protocol_names(claims)
    lines = []
    for name in [n for n in names[1:] if single_setting(n) is None]:
        under = [c.protocols[name]["verdict"] for c in claims if name in c.protocols]
        lines.append(f"Under protocol {name}: {len(under)} claims: "
                     + ", ".join(f"{under.count(v)} {v}" for v in VERDICTS) + ".")
        differ = [c for c in claims if c.verdict == "differs" and name in c.protocols]
        ok = explained(claims, name)
        text = (f"Of the {len(differ)} claims that differ as stated, {len(ok)} reproduce under {name}"
                + (" (explained by the reference's code)" if name == "as-run" else ""))
        singles = any(parent(n) == name for n in names)
        details = [f"{c.id} ({changed_text(c.protocols[name]['changed']) or 'no setting changed'}"
                   + (f"; alone: {alone_text(c, name)}" if singles else "") + ")" for c in ok]
        lines.append(text + (": " + "; ".join(details) if details else "") + ".")
        if singles:
            flips = [c for c in claims if name in c.protocols and c.protocols[name]["verdict"] != c.verdict]
            lines.append(f"Each setting of {name} switched alone (protocols {name}:SETTING, --explain): of the "
                         f"{len(flips)} claims whose verdict changes from stated to {name}, "
                         f"{sum(alone_text(c, name) not in ('-', 'no setting alone') for c in flips)} get the "
                         f"{name} verdict from one setting alone"
                         + (": " + "; ".join(f"{c.id} ({alone_text(c, name)})" for c in flips) if flips else "")
                         + ".")
    return lines
