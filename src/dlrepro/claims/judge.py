"""Judging a study's claims (dlrepro.claims.spec) with the rule kinds of dlrepro.claims.rules: each claim's
parameters checked against its rule kind, the runs it is judged from selected, the rule applied. The same
checks run before a sweep (dlrepro.studies.claim_checks: one line naming the claim, exit code 2), and
`--dry-run` lists the trials each claim will be judged from."""

from __future__ import annotations

import math

from dlrepro.claims.evidence import STATISTICS, Evidence, matches
from dlrepro.claims.rules import RULES, metric_words, statistic_words
from dlrepro.claims.spec import LONGEST, ClaimSpec, bad_number, reason_parts
from dlrepro.claims.verdict import Claim
from dlrepro.data.cifar10 import TEST_SIZE, TRAIN_SIZE
from dlrepro.run_format import METRIC_KEYS, short
from dlrepro.runs.load import Run
from dlrepro.text import num, show

NUMBERS = {"value", "tolerance", "window", "threshold", "low", "high", "at_least", "since", "best_below",
           "fraction_at_least", "fraction_at_most", "after"}
CHOICES = {"metric": METRIC_KEYS, "minus": METRIC_KEYS, "statistic": STATISTICS, "over": ("mean", "all")}


def check_params(spec: ClaimSpec) -> str | None:
    """What is wrong with the claim's rule and parameters (None when nothing is)."""
    rule, p = RULES.get(spec.rule), spec.params
    if rule is None:
        return f"unknown rule {spec.rule!r}; choose from {', '.join(RULES)}"
    for key in [k for k in rule.required if k not in p] or [k for k in p if k not in rule.required + rule.optional]:
        return (f"rule {spec.rule} needs {key!r}" if key not in p else
                f"rule {spec.rule} has no parameter {key!r}; it takes {', '.join(rule.required + rule.optional)}")
    for key, v in p.items():
        if key in NUMBERS and (not isinstance(v, int | float) or isinstance(v, bool)):
            return f"{key} must be a number, not {short(v)}"
        if key in ("values", "metrics") and (not isinstance(v, list) or not v):
            return f"{key} must be a non-empty list, not {short(v)}"
        if key == "values" and not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
            return f"values must be numbers, not {short(v)}"
        if key in ("axis", "best") and (not isinstance(v, str) or len(v) > LONGEST["id"]):
            return f"{key} must be a string of at most {LONGEST['id']} characters, not {short(v)}"
        for item in v if key == "metrics" and isinstance(v, list) else [v] if key in CHOICES else []:
            if item not in CHOICES.get(key, METRIC_KEYS):
                return f"{key} {item!r} is not one of {', '.join(CHOICES.get(key, METRIC_KEYS))}"
    if p.get("statistic") in ("reaching", "above") and "threshold" not in p:
        return f"statistic {p['statistic']} needs a threshold"
    groups = p.get("groups", {})
    if "groups" in p and (not isinstance(groups, dict) or not all(isinstance(g, dict) for g in groups.values())
                          or len(groups) < 2 or (spec.rule != "best" and len(groups) != 2)):
        return f"groups must be {'two' if spec.rule != 'best' else 'two or more'} named match tables"
    if "best" in p and p["best"] not in groups:
        return f"best {p['best']!r} is not one of the groups ({', '.join(groups)})"
    if any(not isinstance(name, str) or len(name) > LONGEST["id"] for name in groups):
        return f"group names must be at most {LONGEST['id']} characters"
    for what, table in (("", p), ("settings ", spec.settings), ("match ", spec.match)):
        for key, v in table.items():
            bad = bad_number(v)
            if bad is not None:
                return f"{what}{key} {bad} is not a finite number of at most 1e12 in size"
    try:
        reason_parts(spec.reason)
    except ValueError as exc:
        return str(exc)
    return None


def describe(spec: ClaimSpec) -> tuple[str, str]:
    """(the rule as the report states it, the reference value in short)."""
    rule, p = RULES.get(spec.rule), spec.params
    if rule is None or check_params(spec):
        return spec.rule, ""
    ref, tol, w = p.get("value", 0), p.get("tolerance", 0.0), p.get("window", 0.5)
    lo, hi = ((ref * (1 - w), ref * (1 + w)) if spec.rule == "around"
              else (p.get("low", ref) - tol, p.get("high", ref) + tol))
    unit = "epoch" if "epochs" in spec.settings else "step" if "steps" in spec.settings else ""
    timed = p.get("statistic") in ("first_at_final", "reaching", "above")   # a first epoch or step
    percent = (spec.rule in ("at_least", "at_most", "within") and p["metric"].endswith("_acc") and not timed
               and "minus" not in p)
    names = list(p.get("groups", {}))
    fill = {**{k: show(v) for k, v in p.items()}, "unit": unit, "metric": metric_words(p.get("metric", "")),
            "statistic": p.get("statistic", "final"), "lo": num(lo), "hi": num(hi),
            "value": f"{ref * 100:.4g}%" if percent else num(ref),
            "tolerance": f"{tol * 100:.4g}%" if percent else show(tol), "window": f"{w:.0%}",
            "ref": f"{ref * 100:.4g}%" if percent else f"{unit} {num(ref)}".strip() if timed else num(ref),
            "what": statistic_words(p).replace("evaluation", unit or "evaluation") if "metric" in p else "",
            "after": num(p.get("after", 0)), "over": "every seed's" if p.get("over") == "all" else "the mean",
            "since": f"{p.get('since', 0.0):.0%}" if p.get("since") else "the start",
            "best_below": f"; every seed's best below {show(p['best_below'])}" if "best_below" in p else "",
            "at_least": (f"{p['fraction_at_least']:.0%}" if "fraction_at_least" in p else show(p.get("at_least", 1))),
            "fraction_at_most": f"{p.get('fraction_at_most', 0.1):.0%}",
            "dips": (f"{p['fraction_at_least']:.0%}-{p.get('fraction_at_most', 0.1):.0%} of evaluations dip"
                     if "fraction_at_least" in p else "a few dips"),
            "groups": " vs ".join(names), "names": ", ".join(names), "lower": " < ".join(names),
            "versus": " vs ".join(map(num, p.get("values", []))) or " vs ".join(names),
            "metrics": ", ".join(map(metric_words, p.get("metrics", [])))}
    return rule.text.format(**fill), rule.reference.format(**fill)


def mismatch(cfg: dict, settings: dict) -> list[str]:
    """Where a trial's config departs from a claim's settings, in words ('2 of 200 epochs'); [] when it does not."""
    out = []
    for key, want in settings.items():
        have = cfg.get(key)
        have, want = (list(v) if isinstance(v, tuple) else v for v in (have, want))
        if have == want or (isinstance(have, float | int) and isinstance(want, float | int)
                            and math.isclose(have, want, rel_tol=1e-9)):
            continue
        if key in ("epochs", "steps") and isinstance(have, int) and isinstance(want, int):
            out.append(f"{have:,} of {want:,} {key}")
        elif key in ("subset", "test_subset"):
            split, full = ("training", TRAIN_SIZE) if key == "subset" else ("test", TEST_SIZE)
            out.append(f"{have or full:,} of {full:,} {split} images")
        else:
            out.append(f"{key} {show(have)} (reference {show(want)})")
    return out


def triage(spec: ClaimSpec, trials: dict[str, dict]) -> tuple[list[str], list[str]]:
    """(the trials at the claim's `match`, those of them at its settings), trial ids in the order given: the
    claim is judged from the second; none at `match` is 'not run', none at its settings 'not comparable'."""
    hit = [tid for tid, cfg in trials.items() if matches(cfg, spec.match)]
    return hit, [tid for tid in hit if not mismatch(trials[tid], spec.settings)]


def select(claim: Claim, spec: ClaimSpec, ev: Evidence) -> list[Run] | None:
    """The runs `claim` is judged from, or None with claim.verdict / claim.reason set to why there are none."""
    if ev.not_run:
        claim.not_run(ev.not_run)
        return None
    hit, at_settings = triage(spec, ev.trials)
    if not hit:
        what = ", ".join(f"{k} {show(v) if not isinstance(v, tuple) else ' and '.join(map(show, v))}"
                         for k, v in spec.match.items())
        claim.not_run(f"profile {ev.profile} has no run with {what}")
        return None
    if not at_settings:
        claim.verdict = "not comparable"
        claim.reason = f"profile {ev.profile} ran " + ", ".join(mismatch(ev.trials[hit[0]], spec.settings))
        return None
    bad = [(tid, why) for tid, why in ((tid, ev.problem(tid)) for tid in at_settings) if why]
    if bad:
        claim.not_run(f"{len(bad)} of {len(at_settings)} run(s) unusable: "
                      + "; ".join(f"{t} {w}" for t, w in bad[:3]))
        return None
    runs = sorted((ev.runs[tid] for tid in at_settings), key=lambda r: r.cfg["seed"])
    claim.runs = [r.path.name for r in runs]
    return runs


def judged(spec: ClaimSpec, ev: Evidence) -> Claim:
    """`spec` judged on the evidence: a claim with its verdict, reason and numbers."""
    rule_text, ref_text = describe(spec)
    claim = Claim(spec.id, spec.part, spec.text, spec.settings,
                  {k: v for k, v in spec.params.items() if not isinstance(v, dict)}, rule_text, ref_text)
    problem_ = check_params(spec)
    if problem_:
        claim.not_run(f"the claim cannot be judged: {problem_}")
        return claim
    runs = select(claim, spec, ev)
    if runs is not None:
        RULES[spec.rule].judge(claim, runs, {**spec.params, "reason": spec.reason})
        if claim.verdict == "reproduced":
            claim.reason = ""
        seeds = {r.cfg["seed"] for r in runs}
        if claim.verdict in ("reproduced", "differs") and len(seeds) == 1:
            claim.reason += ("; " if claim.reason else "") + f"judged from one seed only (seed {seeds.pop()})"
    return claim


def judge_claims(specs: tuple[ClaimSpec, ...], ev: Evidence) -> list[Claim]:
    return [judged(spec, ev) for spec in specs]
