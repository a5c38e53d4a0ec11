"""A study's claims checked against the study's own trials before anything runs (`check_claims`: a claim with
an unknown rule or parameter, or a match that selects no trial, is one error naming the claim), and the
trials each claim will be judged from, for --dry-run (`claim_plan`)."""

from __future__ import annotations

import dataclasses

from dlrepro.claims.evidence import matches
from dlrepro.claims.judge import check_params, mismatch, triage
from dlrepro.claims.protocols import STATED, under
from dlrepro.claims.spec import ClaimSpec
from dlrepro.errors import ConfigError
from dlrepro.studies.spec import Study, load_study
from dlrepro.text import show
from dlrepro.train.plugins import resolve_all


def study_claims(study: str) -> tuple[ClaimSpec, ...]:
    """The claims of a built-in study (by name) or of a study file (by path): ids, rules and reference values."""
    return load_study(study).claims


def check_claims(study: Study) -> None:
    """Before anything runs: a claim with an unknown rule or parameter, a metric no trial logs (metrics.jsonl
    holds the same keys for every model), or a match (or group) that selects no trial at any profile raises
    ConfigError naming the claim."""
    as_written = dataclasses.replace(study, sets={})   # --set overrides make a claim not comparable, not wrong
    trials = [cfg.to_dict() for profile in study.profiles for cfg in as_written.trials(profile)]
    for spec in study.claims:
        where = f"{study.path}: claim {spec.id}"
        problem = check_params(spec)
        if problem:
            raise ConfigError(f"{where}: {problem}")
        hit = [cfg for cfg in trials if matches(cfg, spec.match)]
        if not hit:
            raise ConfigError(f"{where}: match {_match_text(spec.match)} selects no trial of any profile")
        for name, group in (spec.params.get("groups") or {}).items():
            if not any(matches(cfg, group) for cfg in hit):
                raise ConfigError(f"{where}: group {name} {_match_text(group)} selects none of the claim's trials")


def claim_plan(study: Study, profile: str) -> list[str]:
    """--dry-run: per claim, the trials of `profile` it will be judged from (or why it will not be judged), and
    under each other protocol the profile runs, the same from that protocol's trials. A trial naming a user's
    class has that class checked and its module's sha256 in its id, as the sweep runs it."""
    names = study.profile_protocols(profile)
    points = [{n: c.to_dict() for n, c in v.items()} for v in study.variants(profile)] if len(names) > 1 else []
    lines = [f"   {len(study.claims)} claim(s):"] if study.claims else []
    for spec in study.claims:
        lines.append(f"   claim {spec.id} ({spec.rule}): " + _plan(spec, study, profile, STATED))
        for name in names[1:]:
            spec_p, _, runs_any = under(spec, points, name)
            lines.append(f"     under {name}: " + (_plan(spec_p, study, profile, name) if runs_any else
                                                   f"not run, protocol {name} does not run its trials"))
    return lines


def _plan(spec: ClaimSpec, study: Study, profile: str, protocol: str) -> str:
    trials = {cfg.default_name(): cfg.to_dict() for cfg in resolve_all(study.trials(profile, protocol))}
    hit, ids = triage(spec, trials)
    return (f"judged from {len(ids)} trial(s): {', '.join(ids)}" if ids else
            f"not comparable, profile {profile} runs " + ", ".join(mismatch(trials[hit[0]], spec.settings)) if hit else
            f"not run, profile {profile} has no trial with {_match_text(spec.match)}")


def _match_text(match: dict) -> str:
    return "{" + ", ".join(f"{k} = {show(v)}" for k, v in match.items()) + "}"
