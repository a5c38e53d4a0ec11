"""Claims judged under each protocol that ran (dlrepro.studies.protocols): the stated verdict is the claim's own;
every other protocol's verdict is judged from that protocol's runs only and kept in `Claim.protocols`.

Under a protocol, a claim is judged at the protocol's value of each setting of its `settings` and `match` that
the protocol changes, where it gives every run of the claim the same value (the report states lr 1e-2, the
code ran 1e-3: under as-run the claim's comparable lr is 1e-3). What the protocol changes in the claim's runs
(`changed`: setting -> the values it takes there) is what the summary names when the claim differs as stated
and reproduces under the protocol.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from dlrepro.report.load import Evidence, evidence, matches
from dlrepro.report.verdict import Claim, show
from dlrepro.studies.claims import ClaimSpec
from dlrepro.studies.protocols import STATED
from dlrepro.studies.record import recorded_protocols
from dlrepro.studies.spec import Study


def ran(info: dict, study: Study, profile: str | None) -> list[str]:
    """The protocols whose verdicts the report gives for a study: those its record says ran (stated only for
    a record without protocols) that the study file still names, stated first."""
    names = [STATED, *(n for n in recorded_protocols(info) if n != STATED)]
    if profile is None or profile not in study.profiles:
        return [STATED]
    return [n for n in names if n in study.protocols]


def under(spec: ClaimSpec, study: Study, profile: str, protocol: str) -> tuple[ClaimSpec, dict, bool]:
    """(the claim as judged under `protocol`, setting -> the values the protocol gives the claim's runs where it
    changes them, False when the profile has stated trials of the claim and the protocol runs none of them)."""
    points = [v for v in study.variants(profile) if matches(v[STATED].to_dict(), spec.match)]
    pairs = [(v[STATED].identity(), v[protocol].identity()) for v in points if protocol in v]
    changed: dict[str, list] = {}
    for before, after in pairs:
        for key in after:
            if _norm(after[key]) != _norm(before.get(key)):
                changed.setdefault(key, [])
    for key in changed:
        changed[key] = list({json.dumps(_norm(a[key])): _norm(a[key]) for _, a in pairs}.values())
    moved = {k: vs[0] for k, vs in changed.items() if len(vs) == 1}
    settings = {k: moved.get(k, v) for k, v in spec.settings.items()}
    match = {k: moved.get(k, v) for k, v in spec.match.items()}
    return dataclasses.replace(spec, settings=settings, match=match), changed, bool(pairs) or not points


def judge_protocols(claims: list[Claim], specs, study: Study, profile: str, study_dir: Path, names: list[str],
                    not_run: str | None, judged) -> None:
    """Give each claim (judged under the stated protocol, in the order of `specs`) its verdict under every
    protocol of `names`; `judged(spec, evidence)` judges one claim."""
    if len(names) < 2:
        return
    for claim in claims:
        claim.protocols[STATED] = _entry(claim, {}, claim.settings)
    for name in names[1:]:
        trials = {cfg.default_name(): cfg.to_dict() for cfg in study.trials(profile, name)}
        ev = evidence(study_dir, profile, trials, not_run)
        if not ev.runs and not ev.not_run:
            ev.not_run = f"no runs of protocol {name} (profile {profile}) under runs/{study_dir.name}"
        for claim, spec in zip(claims, specs, strict=True):
            spec_p, changed, runs_any = under(spec, study, profile, name)
            mine = judged(spec_p, ev) if runs_any else _not_in(spec_p, name, judged)
            claim.protocols[name] = _entry(mine, changed, spec_p.settings)


def _not_in(spec: ClaimSpec, name: str, judged) -> Claim:
    claim = judged(spec, Evidence("", not_run=f"protocol {name} does not run this claim's trials"))
    return claim


def _entry(c: Claim, changed: dict, settings: dict) -> dict:
    return {"verdict": c.verdict, "reason": c.reason, "measured": c.measured, "measured_text": c.measured_text,
            "runs": c.runs, "settings": settings, "changed": changed}


def _norm(v):
    return list(v) if isinstance(v, tuple) else v


def changed_text(changed: dict) -> str:
    """'outputs sigmoid, order none' (several values: 'order none / once')."""
    return ", ".join(f"{k} {' / '.join(show(v) for v in vs)}" for k, vs in changed.items())


def explained(claims: list[Claim], name: str) -> list[Claim]:
    """The claims that differ under the stated protocol and reproduce under `name`."""
    return [c for c in claims if c.verdict == "differs"
            and c.protocols.get(name, {}).get("verdict") == "reproduced"]


def protocol_names(claims: list[Claim]) -> list[str]:
    """Every protocol some claim was judged under, stated first ([] when only stated ran)."""
    return list(dict.fromkeys(n for c in claims for n in c.protocols))
