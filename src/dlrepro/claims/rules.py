"""The rule kinds (RULES): per kind, the function that judges a claim's runs, its parameters and how the report
states it. The claims are data: the `[[claims]]` tables of the study files (dlrepro.claims.spec), naming their
runs (`match`) and settings; dlrepro.claims.judge selects the runs and applies the rule. A verdict:

    not run         the profile has no trial at `match`, or one of them did not complete all its steps
    not comparable  the profile's trials at `match` ran other settings ("profile smoke ran 2 of 200 epochs")
    reproduced      the claim's rule holds on the runs at the claim's settings (all seeds, never the first only)
    differs         it does not

Every verdict but `reproduced` comes with its reason; the numbers measured stay numbers (claims.json)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from dlrepro.claims.evidence import at, dips_below, matches, run_length, value
from dlrepro.claims.spec import as_match, fill_reason
from dlrepro.claims.verdict import Claim, stats, stats_text
from dlrepro.runs.load import Run
from dlrepro.text import num


def _values(runs: list[Run], p: dict, metric: str | None = None) -> list[float] | None:
    """The claim's statistic per run (minus that of `minus` when given); None when a run lacks it."""
    def one(r: Run, key: str):
        return value(r, key, p.get("statistic", "final"), p.get("threshold"))
    vals = [one(r, metric or p["metric"]) for r in runs]
    if "minus" in p:
        vals = [None if a is None or b is None else a - b for a, b in zip(vals, (one(r, p["minus"]) for r in runs),
                                                                          strict=True)]
    return None if any(v is None for v in vals) else vals


def metric_words(key: str) -> str:
    """A metric key as the report writes it: test_acc -> 'test acc'."""
    return key.replace("_", " ")


def statistic_words(p: dict) -> str:
    """The statistic a rule's parameters `p` compare, in words: 'final test acc', 'first evaluation with ...'."""
    key = metric_words(p["metric"]) + (f" - {metric_words(p['minus'])}" if "minus" in p else "")
    t = p.get("threshold", "?")
    return {"final": f"final {key}", "best": f"best {key}", "first_at_final": f"first evaluation at the final {key}",
            "reaching": f"first evaluation with {key} >= {t}", "above": f"first evaluation with {key} > {t}"}[
        p.get("statistic", "final")]


def _unit(runs: list[Run]) -> str:
    return run_length(runs[0].cfg, runs[0].rows)[2][:-1]


def _group(runs: list[Run], match: dict) -> list[Run]:
    return [r for r in runs if matches(r.cfg, match)]


def _verdict(c: Claim, ok: bool, p: dict, why: str, **fill) -> None:
    c.verdict = "reproduced" if ok else "differs"   # a claim's own wording: {lo}, {hi} ("around"), {mean} (bounds)
    c.reason = fill_reason(p["reason"], fill) if p.get("reason") else why


# --- the rule kinds ------------------------------------------------------------------------------------
def bound(kind: str):
    """at_least / at_most / within: the mean over seeds of a per-run statistic against `value` (+- tolerance);
    a first epoch or step that never comes counts as infinite."""
    def judge(c: Claim, runs: list[Run], p: dict) -> None:
        vals = _values(runs, p)
        if vals is None:
            return c.not_run(f"a run has no {statistic_words(p)}")
        never = sum(math.isinf(v) for v in vals)
        c.measured = {**stats(vals), **({"never": never} if never else {})}
        c.measured_text = stats_text(c.measured) + (f", {never} never" if never else "")
        mean, ref, tol = statistics.mean(vals), p["value"], p.get("tolerance", 0.0)
        f = num if p.get("statistic") in ("first_at_final", "reaching", "above") else (lambda x: f"{x:.4f}")
        ok = {"at_least": mean >= ref - tol, "at_most": mean <= ref + tol, "within": abs(mean - ref) <= tol}[kind]
        accepted = {"at_least": f"minimum {f(ref - tol)}", "at_most": f"maximum {f(ref + tol)}",
                    "within": f"range {f(ref - tol)}-{f(ref + tol)}"}[kind]
        _verdict(c, ok, p, f"mean {f(mean)} is {'below' if mean < ref else 'above'} the accepted {accepted}",
                 mean=f(mean))
    return judge


def around(c: Claim, runs: list[Run], p: dict) -> None:
    """The first epoch or step a statistic happens, within value +- window (a fraction): the mean over seeds,
    or every seed (over = "all"); a seed where it never happens differs."""
    xs = _values(runs, p)
    if xs is None:
        return c.not_run(f"a run has no final {metric_words(p['metric'])}")
    unit, never = _unit(runs), sum(math.isinf(x) for x in xs)
    c.measured = {**stats(xs), "never": never, "final": stats(_values(runs, {"metric": p["metric"]}) or [])}
    c.measured_text = f"{statistic_words(p)}: " + ", ".join(num(x) for x in xs)
    w = p.get("window", 0.5)
    lo, hi = p["value"] * (1 - w), p["value"] * (1 + w)
    if never:
        verb = "rise above" if p.get("statistic") == "above" else "reach"
        return _verdict(c, False, {}, f"{never} of {len(xs)} seed(s) never {verb} {p.get('threshold', 0):g}")
    fill = {"lo": num(lo), "hi": num(hi)}
    if p.get("over", "mean") == "all":
        return _verdict(c, all(lo <= x <= hi for x in xs), p, f"a seed lies outside {unit}s {num(lo)}-{num(hi)}",
                        **fill)
    mean = statistics.mean(xs)
    _verdict(c, lo <= mean <= hi, p, f"mean {unit} {mean:,.0f} is outside {num(lo)}-{num(hi)}", **fill)


def in_range(c: Claim, runs: list[Run], p: dict) -> None:
    """Every evaluation after `after` (default: the first evaluation) within low-high (+- tolerance)."""
    key, after = p["metric"], p.get("after", 0)
    vals = [r[key] for run in runs for r in run.rows if at(r) > after and r.get(key) is not None]
    if not vals:
        return c.not_run(f"no {metric_words(key)} after {_unit(runs)} {after:g}")
    tol = p.get("tolerance", 0.0)
    lo, hi, mn, mx = p["low"] - tol, p["high"] + tol, min(vals), max(vals)
    c.measured = {**stats(_values(runs, {"metric": key}) or []), "min": mn, "max": mx}
    c.measured_text = f"{mn:.3f}-{mx:.3f} after {_unit(runs)} {after:g}"
    _verdict(c, mn >= lo and mx <= hi, p, f"evaluations range {mn:.3f}-{mx:.3f}, outside {lo:g}-{hi:g}")


def gain(c: Claim, runs: list[Run], p: dict) -> None:
    """A metric gains at least `at_least` (mean over seeds) from the fraction `since` of training to its end;
    with `best_below`, the best evaluation of every seed stays below it."""
    key, since, gains = p["metric"], p.get("since", 0.0), []
    for r in runs:
        done = run_length(r.cfg, r.rows)[0]
        late = [x for x in r.rows if at(x) >= since * done and x.get(key) is not None]
        if len(late) < 2:
            return c.not_run(f"fewer than two evaluations from {since:.0%} of training on")
        gains.append(late[-1][key] - late[0][key])
    best = [value(r, key, "best") or 0.0 for r in runs]
    c.measured = {**stats(gains), "final": stats(_values(runs, {"metric": key}) or []), "best": stats(best)}
    c.measured_text = f"gain {stats_text(c.measured)}, best {max(best):.3f}"
    low, high = statistics.mean(gains) < p["at_least"], max(best) >= p.get("best_below", math.inf)
    why = (f"mean gain {statistics.mean(gains):.4f} from {since:.0%} of training on is below {p['at_least']:g}"
           if low else f"the best {metric_words(key)} reaches {max(best):.3f}, not below {p.get('best_below', 0):g}")
    _verdict(c, not low and not high, p, why)


def dips(c: Claim, runs: list[Run], p: dict) -> None:
    """Every seed reaches `threshold`; at least `at_least` (1), at least `fraction_at_least` (0) and at most
    `fraction_at_most` (0.1) of the evaluations from then on (all seeds together) fall below it again."""
    key, t = p["metric"], p["threshold"]
    counted = [dips_below(r.rows, key, t) or (0, 0) for r in runs]     # (0, 0): never reached
    below, after = [d for d, _ in counted], [n for _, n in counted]
    c.measured = {**stats(below), "evaluations_after": after, "never": sum(n == 0 for n in after)}
    c.measured_text = f"evaluations after first {t:g} below it, per seed: " + ", ".join(
        f"{d} of {n}" if n else "never reaches it" for d, n in counted)
    if any(n == 0 for n in after):
        return _verdict(c, False, {}, f"a seed never reaches {t:g}")
    n, total, lo = sum(below), sum(after), p.get("at_least", 1)
    few, many = p.get("fraction_at_least", 0.0), p.get("fraction_at_most", 0.1)
    share = f"{n} of {total} evaluations ({n / total:.0%}) after converging fall below {t:g}"
    why = (f"no evaluation after converging falls below {t:g}" if not n else
           f"{n} evaluation(s) after converging fall below {t:g}, fewer than {lo}" if n < lo else
           f"{share}, fewer than {few:.0%}" if n < few * total else
           f"{share}, more than {many:.0%}" if "fraction_at_least" in p else
           f"{n} of {total} evaluations after converging fall below {t:g}: more than a few outliers")
    _verdict(c, lo <= n and few * total <= n <= many * total, p, why)


def increases(c: Claim, runs: list[Run], p: dict) -> None:
    """The mean over seeds of a statistic rises strictly along the grid `axis` through `values` (never = inf)."""
    axis, by = p["axis"], {}
    for v in p["values"]:
        vals = _values(_group(runs, as_match({axis: v})), p)
        if not vals:
            return c.not_run(f"no run with {metric_words(p['metric'])} at {axis} {v}")
        by[v] = vals
    means = {k: statistics.mean(v) for k, v in by.items()}   # inf when a seed never gets there
    never = {str(k): sum(map(math.isinf, v)) for k, v in by.items() if any(map(math.isinf, v))}
    c.measured = {**stats(list(means.values())), f"by_{axis}": {str(k): stats(v) for k, v in by.items()},
                  **({f"never_by_{axis}": never} if never else {})}
    c.measured_text = "mean: " + ", ".join(f"{axis} {k} {num(m)}" for k, m in means.items())
    order = list(means.values())
    _verdict(c, all(a < b for a, b in zip(order, order[1:], strict=False)), p,
             f"the mean {statistic_words(p)} does not rise strictly with {axis} "
             "(never counts as the largest, and ties)")


def below(c: Claim, runs: list[Run], p: dict) -> None:
    """The first of two `groups` has a lower mean statistic than the second, on each of `metrics`."""
    measured, fails = {}, []
    for key in p["metrics"]:
        a, b = (_values(_group(runs, m), p, key) for m in p["groups"].values())
        if not a or not b:
            return c.not_run(f"no final {key} for both groups")
        measured[key] = {"low": stats(a), "high": stats(b)}
        if statistics.mean(a) >= statistics.mean(b):
            fails.append(f"{metric_words(key)} {statistics.mean(a):.3f} >= {statistics.mean(b):.3f}")
    diff = [measured[k]["high"]["mean"] - measured[k]["low"]["mean"] for k in p["metrics"]]
    c.measured = {**stats(diff), **measured}
    c.measured_text = "; ".join(f"{metric_words(k)} {v['low']['mean']:.3f} vs {v['high']['mean']:.3f}"
                                for k, v in measured.items())
    _verdict(c, not fails, p, "; ".join(fails))


def earlier(c: Claim, runs: list[Run], p: dict) -> None:
    """Seed by seed, the first of two `groups` gets there earlier than the second: mean difference < 0."""
    (a, ma), (b, mb) = p["groups"].items()
    found = {name: {r.cfg["seed"]: value(r, p["metric"], p["statistic"], p.get("threshold")) for r in _group(runs, m)}
             for name, m in ((a, ma), (b, mb))}
    seeds = sorted(set(found[a]) & set(found[b]))
    if not seeds:
        return c.not_run("needs runs of both groups with the same seed")
    if any(v is None for by_seed in found.values() for v in by_seed.values()):
        return c.not_run(f"a run has no {statistic_words(p)}")
    xa, xb = ([float(found[g][s] or 0.0) for s in seeds] for g in (a, b))   # None is ruled out above
    # never (inf) is later than any step; two nevers are a tie, neither earlier
    diff = [0.0 if x == y else x - y for x, y in zip(xa, xb, strict=True)]
    unit = _unit(runs)
    never = {g: sum(map(math.isinf, xs)) for g, xs in ((a, xa), (b, xb)) if any(map(math.isinf, xs))}
    c.measured = {**stats(diff), "seeds": seeds, f"{a}_{unit}": stats(xa), f"{b}_{unit}": stats(xb),
                  **({"never": never} if never else {})}
    c.measured_text = (f"{unit} per seed ({', '.join(map(str, seeds))}): {a} {', '.join(map(num, xa))}; "
                       f"{b} {', '.join(map(num, xb))}")
    c.per_seed = f"{a} {', '.join(map(num, xa))} vs {b} {', '.join(map(num, xb))} ({unit}s)"
    lo, hi = (f"{x:g}" if math.isfinite(x) else "never" for x in (min(xa + xb), max(xa + xb)))
    spread = (f"across seeds it moves between {unit}s {lo} and {hi}: the seed, not the group, changes it"
              if lo != hi else f"every seed reaches it at {unit} {lo}")
    why = (f"{a} and {b} get there at the same {unit} for every seed; {spread}" if all(d == 0 for d in diff)
           else f"{a} minus {b} per seed: {', '.join(num(d) if d >= 0 else '-' + num(-d) for d in diff)}; {spread}")
    mean = math.nan if math.inf in diff and -math.inf in diff else statistics.mean(diff)
    _verdict(c, mean < 0, p, why)


def best(c: Claim, runs: list[Run], p: dict) -> None:
    """Of the `groups` (label -> match), the one labelled `best` has the highest mean statistic."""
    means: dict[str, float] = {}
    for label, m in p["groups"].items():
        vals = _values(_group(runs, m), p)
        if not vals:
            return c.not_run(f"no {statistic_words(p)} for {label}")
        means[label] = statistics.mean(vals)
    top = max(means, key=lambda k: means[k])
    c.measured = {**stats([means[p["best"]]]), "by_setting": means}
    c.measured_text = ", ".join(f"{k} {v:.3f}" for k, v in sorted(means.items(), key=lambda kv: -kv[1]))
    _verdict(c, top == p["best"], p, f"{top} has the best mean {statistic_words(p)}")


# --- the table of rule kinds: parameters (required, optional), how the report states the rule and the reference
@dataclass(frozen=True)
class Rule:
    judge: Callable[[Claim, list[Run], dict], None]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    text: str        # str.format on the parameters and on what (the statistic), lo and hi (the accepted range)
    reference: str


BY_RUN = ("statistic", "threshold")
RULES: dict[str, Rule] = {
    "at_least": Rule(bound("at_least"), ("metric", "value"), (*BY_RUN, "tolerance", "minus"),
                     "mean {what} >= {lo}", "{ref}"),
    "at_most": Rule(bound("at_most"), ("metric", "value"), (*BY_RUN, "tolerance", "minus"),
                    "mean {what} <= {hi}", "<= {ref}"),
    "within": Rule(bound("within"), ("metric", "value", "tolerance"), (*BY_RUN, "minus"),
                   "mean {what} within {value} +- {tolerance}", "{ref}"),
    "around": Rule(around, ("metric", "statistic", "value"), ("threshold", "window", "over"),
                   "{over} {what} within {value} +- {window} ({lo}-{hi})", "{unit} ~{value}"),
    "range": Rule(in_range, ("metric", "low", "high"), ("tolerance", "after"),
                  "every evaluation of {metric} after {unit} {after} within {lo}-{hi}", "{low}-{high}"),
    "gain": Rule(gain, ("metric", "at_least"), ("since", "best_below"),
                 "mean gain of {metric} from {since} of training to the end >= {at_least}{best_below}",
                 "gain >= {at_least}"),
    "dips": Rule(dips, ("metric", "threshold"), ("at_least", "fraction_at_least", "fraction_at_most"),
                 "every seed reaches {threshold}; {at_least} to {fraction_at_most} of the evaluations after fall "
                 "below it", "{dips}"),
    "increases": Rule(increases, ("metric", "statistic", "axis", "values"), ("threshold",),
                      "mean {what} rises strictly with {axis} through {values}", "rises with {axis}"),
    "below": Rule(below, ("groups", "metrics"), ("statistic",), "mean {statistic} {metrics}: {groups}, the first "
                  "below the second", "{lower}"),
    "earlier": Rule(earlier, ("metric", "statistic", "groups"), ("threshold", "values"),   # values: the reference's
                    "{what} per seed: {groups}, the first earlier (mean difference < 0)", "{unit} {versus}"),
    "best": Rule(best, ("metric", "groups", "best"), ("statistic",), "{best} has the highest mean {what} of {names}",
                 "{best} best"),
}
