"""Claims judged under each protocol that ran (a study's protocols: dlrepro.studies.protocols): the stated
verdict is the claim's own; every other protocol's verdict is judged from that protocol's runs only and kept in
`Claim.protocols` (protocol -> verdict, reason, measured, runs, the settings judged at, the settings changed).

Under a protocol, a claim is judged at the protocol's value of each setting of its `settings` and `match` that
the protocol changes (in any of the claim's runs), where every run of the claim has the same value under it
(the report states lr 1e-2, the code ran 1e-3: under as-run the claim's comparable lr is 1e-3; a claim about the
toy classification set is judged from the blobs runs as run). What the protocol changes in the claim's runs
(`changed`: setting -> the values it takes there) is what the summary names when the claim differs as stated
and reproduces under the protocol.

A study's trials come in here as `points`: per trial of the stated protocol, protocol -> that trial's settings
under it (absent where the protocol does not run it), as `Study.variants` gives them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from dlrepro.claims.evidence import Evidence, matches
from dlrepro.claims.spec import ClaimSpec
from dlrepro.claims.verdict import Claim, show

STATED = "stated"   # the protocol of a study's own settings; every other protocol is a change to it
SINGLE = ":"        # 'as-run:outputs': one setting of protocol as-run switched alone (`--explain`)


def parent(name: str) -> str | None:
    """The protocol a single-setting protocol's name derives from ('as-run:outputs' -> 'as-run'); None for any
    other protocol."""
    return name.split(SINGLE, 1)[0] if SINGLE in name else None


def single_setting(name: str) -> str | None:
    """The setting a single-setting protocol switches ('as-run:outputs' -> 'outputs'); None for any other."""
    return name.split(SINGLE, 1)[1] if SINGLE in name else None


def under(spec: ClaimSpec, points: list[dict[str, dict]], protocol: str) -> tuple[ClaimSpec, dict, bool]:
    """(the claim as judged under `protocol`, setting -> the values the protocol gives the claim's runs where it
    changes them, False when the profile has stated trials of the claim and the protocol runs none of them)."""
    points = [v for v in points if matches(v[STATED], spec.match)]
    pairs = [(v[STATED], v[protocol]) for v in points if protocol in v]
    changed: dict[str, dict] = {}   # setting -> {its value as JSON: the value} where the protocol changes it
    for before, after in pairs:
        for key in dict.fromkeys([*before, *after]):
            if _norm(after.get(key)) != _norm(before.get(key)):
                changed.setdefault(key, {})[json.dumps(_norm(after.get(key)))] = _norm(after.get(key))
    # a setting the protocol changes and that all the claim's runs under it share: judged at that value
    moved = {k: _norm(pairs[0][1].get(k)) for k in changed
             if len({json.dumps(_norm(after.get(k))) for _, after in pairs}) == 1}
    settings = {k: moved.get(k, v) for k, v in spec.settings.items()}
    match = {k: moved.get(k, v) for k, v in spec.match.items()}
    values = {k: list(v.values()) for k, v in changed.items()}
    return dataclasses.replace(spec, settings=settings, match=match), values, bool(pairs) or not points


def judge_protocols(claims: list[Claim], specs, points: list[dict[str, dict]], evidences: dict[str, Evidence],
                    judged: Callable[[ClaimSpec, Evidence], Claim]) -> None:
    """Give each claim (judged under the stated protocol, in the order of `specs`) its verdict under every
    protocol of `evidences` (protocol -> the evidence of its trials); `judged(spec, evidence)` judges one claim.
    Nothing changes when `evidences` is empty (the stated protocol alone ran)."""
    if not evidences:
        return
    for claim in claims:
        claim.protocols[STATED] = _entry(claim, {}, claim.settings)
    for name, ev in evidences.items():
        for claim, spec in zip(claims, specs, strict=True):
            spec_p, changed, runs_any = under(spec, points, name)
            if runs_any:
                mine = judged(spec_p, ev)
            else:
                mine = judged(spec_p, Evidence(ev.profile, not_run=f"protocol {name} does not run this claim's trials"))
            claim.protocols[name] = _entry(mine, changed, spec_p.settings)


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


def verdict_under(claim: Claim, name: str) -> str | None:
    """The claim's verdict under protocol `name`: its own under the stated one (every claim has one, a study
    that ran the stated protocol alone included), None where its study did not run `name`."""
    return claim.verdict if name == STATED else claim.protocols.get(name, {}).get("verdict")


def alone(claim: Claim, name: str) -> list[str] | None:
    """The settings of protocol `name` that, each switched alone, give the claim its verdict under `name` (its
    single-setting protocols' verdicts); None when none of them judged the claim."""
    target = claim.protocols.get(name, {}).get("verdict")
    singles = {n.removeprefix(name + SINGLE): p["verdict"] for n, p in claim.protocols.items() if parent(n) == name}
    if target is None or not singles:
        return None
    return [key for key, verdict in singles.items() if verdict == target]


def alone_text(claim: Claim, name: str) -> str:
    """What explains the claim's change of verdict from stated to `name`: 'outputs' (that setting alone gives
    it), 'outputs or order', 'no setting alone'; '-' where the verdict does not change or nothing was run."""
    keys = alone(claim, name)
    if keys is None or claim.protocols[name]["verdict"] == claim.verdict:
        return "-"
    return " or ".join(keys) if keys else "no setting alone"


def protocol_names(claims: list[Claim]) -> list[str]:
    """Every protocol some claim was judged under, stated first ([] when only stated ran)."""
    return list(dict.fromkeys(n for c in claims for n in c.protocols))
