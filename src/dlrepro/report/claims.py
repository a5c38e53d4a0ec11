"""The reference report's claims, each judged against the runs of the profile that was run.

A claim names the runs it is about (`match`: model, data set, optimizer, cell, lr, input length) and the
settings the reference used (`settings`: epochs or steps, data size, ...). Its verdict:

    not run         the profile has no trial at `match`, or one of them did not complete all its steps
    not comparable  the profile's trials at `match` ran other settings ("profile smoke ran 2 of 200 epochs")
    reproduced      the claim's rule holds on every run at the claim's settings (all seeds, never the first only)
    differs         it does not

Every verdict but `reproduced` comes with its reason. The numbers measured are kept as numbers (mean, std,
per-seed values) for claims.json; the rule of each claim is stated beside it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from dlrepro.report.load import Evidence, Run, matches, run_length
from dlrepro.report.palindrome import convergence, dips_after

VERDICTS = ("reproduced", "differs", "not comparable", "not run")
SCHEMA_VERSION = 2


@dataclass
class Claim:
    id: str
    part: str
    text: str
    settings: dict           # the reference's settings this claim is about
    reference: dict          # the reference's value(s), as numbers
    rule: str                # how ours is compared with the reference
    reference_text: str = ""
    measured: dict = field(default_factory=dict)   # {"mean", "std", "values", "n"} (+ named extras)
    measured_text: str = "-"
    verdict: str = "not run"
    reason: str = ""
    runs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def not_run(self, reason: str) -> None:
        """Judged "not run": no usable run to judge the claim from, for `reason`."""
        self.verdict, self.reason = "not run", reason

    def settings_text(self) -> str:
        return ", ".join(f"{k} {_show(v)}" for k, v in self.settings.items())


def _show(v) -> str:
    if isinstance(v, list | tuple):
        return "-".join(map(str, v))
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
        return f"{v:,}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def stats(values: Sequence[float | None]) -> dict:
    """Numbers over seeds, for claims.json: mean, std (None for one value), the values, n."""
    kept = [float(v) for v in values if v is not None and not math.isinf(v)]
    return {"mean": statistics.mean(kept) if kept else None,
            "std": statistics.stdev(kept) if len(kept) > 1 else None,
            "values": kept, "n": len(kept)}


def stats_text(m: dict, digits: int = 3) -> str:
    if not m["n"]:
        return "n/a"
    text = f"{m['mean']:.{digits}f}" + (f" +- {m['std']:.{digits}f}" if m["std"] is not None else "")
    return f"{text} ({m['n']} seed{'s' if m['n'] > 1 else ''})"


# --- which runs a claim is judged from -----------------------------------------------------------------
def _mismatch(cfg: dict, settings: dict) -> list[str]:
    out = []
    for key, want in settings.items():
        have = cfg.get(key)
        have = list(have) if isinstance(have, tuple) else have
        want = list(want) if isinstance(want, tuple) else want
        if have == want or (isinstance(have, float | int) and isinstance(want, float | int)
                            and math.isclose(have, want, rel_tol=1e-9)):
            continue
        if key in ("epochs", "steps"):
            out.append(f"{have:,} of {want:,} {key}")
        elif key in ("subset", "test_subset"):
            split, full = ("training", 50_000) if key == "subset" else ("test", 10_000)
            out.append(f"{have or full:,} of {full:,} {split} images")
        else:
            out.append(f"{key} {_show(have)} (reference {_show(want)})")
    return out


def select(claim: Claim, ev: Evidence, match: dict) -> list[Run] | None:
    """The runs `claim` is judged from, or None with claim.verdict / claim.reason set to why there are none."""
    if ev.not_run:
        claim.not_run(ev.not_run)
        return None
    trials = ev.trial_configs(match)
    if not trials:
        what = ", ".join(f"{k} {_show(v) if not isinstance(v, tuple) else ' and '.join(map(_show, v))}"
                         for k, v in match.items())
        claim.not_run(f"profile {ev.profile} has no run with {what}")
        return None
    at = [(tid, cfg) for tid, cfg in trials if not _mismatch(cfg, claim.settings)]
    if not at:
        claim.verdict = "not comparable"
        claim.reason = f"profile {ev.profile} ran " + ", ".join(_mismatch(trials[0][1], claim.settings))
        return None
    bad = [(tid, ev.problem(tid)) for tid, _ in at]
    bad = [(tid, why) for tid, why in bad if why]
    if bad:
        claim.not_run(f"{len(bad)} of {len(at)} run(s) unusable: " + "; ".join(f"{t} {w}" for t, w in bad[:3]))
        return None
    runs = sorted((ev.runs[tid] for tid, _ in at), key=lambda r: r.cfg["seed"])
    claim.runs = [r.path.name for r in runs]
    return runs


def judged(claim: Claim, ev: Evidence, match: dict, rule: Callable[[Claim, list[Run]], None]) -> Claim:
    runs = select(claim, ev, match)
    if runs is not None:
        rule(claim, runs)
    if claim.verdict == "reproduced":
        claim.reason = ""
    return claim


def _final(runs: list[Run], key: str) -> list[float] | None:
    vals = [r.summary["final"].get(key) for r in runs]
    return None if any(v is None for v in vals) else vals


# --- comparison rules ----------------------------------------------------------------------------------
def accuracy(key: str, ref: float, tol: float, one_sided: bool = False):
    """Final `key` (mean over seeds) against `ref`: within +-tol, or at least ref - tol when `one_sided`."""
    def rule(claim: Claim, runs: list[Run]) -> None:
        vals = _final(runs, key)
        if vals is None:
            claim.not_run(f"a run has no final {key.replace('_', ' ')}")
            return
        claim.measured = stats(vals)
        claim.measured_text = stats_text(claim.measured)
        mean = claim.measured["mean"]
        ok = mean >= ref - tol if one_sided else abs(mean - ref) <= tol
        claim.verdict = "reproduced" if ok else "differs"
        claim.reason = (f"mean {mean:.4f} is {'below' if mean < ref else 'above'} the accepted "
                        + (f"minimum {ref - tol:.4f}" if one_sided else f"range {ref - tol:.4f}-{ref + tol:.4f}"))
    return rule


def accuracy_claim(cid, part, text, settings, key, ref, tol, one_sided=False) -> Claim:
    what = key.replace("_", " ")
    rule = (f"mean final {what} >= {ref - tol:.4g} (one-sided: 'reaches 100%')" if one_sided
            else f"mean final {what} within {ref:.4g} +- {tol:g}")
    return Claim(cid, part, text, settings, {"value": ref, "tolerance": tol, "one_sided": one_sided, "metric": key},
                 rule, reference_text=f"{ref * 100:.4g}%")


def first_at_final(rows: list[dict], key: str = "test_acc") -> float | None:
    """The epoch of the first evaluation at (or above) the run's final value of `key`."""
    final = rows[-1].get(key) if rows else None
    if final is None:
        return None
    return next(r["epoch"] for r in rows if r.get(key) is not None and r[key] >= final)


# --- Part 1: the toy MLPs ------------------------------------------------------------------------------
MODELS = {"mlp-numpy": "NumPy MLP", "mlp-torch": "PyTorch MLP"}
TOY = {"epochs": 200, "lr": 0.01, "batch_size": 1, "hidden": [20], "n_samples": 1000}
TOY_2000 = {**TOY, "n_samples": 2500}
FASTER = {"moons": (50, 100), "circles": (25, 50)}   # epoch of 100 %: NumPy, PyTorch (reference)
TRAIN_ACC = {"mlp-torch": 0.9985, "mlp-numpy": 0.9965}


def faster_rule(dataset: str):
    def rule(claim: Claim, runs: list[Run]) -> None:
        found = {m: {r.cfg["seed"]: first_at_final(r.rows) for r in runs if r.cfg["model"] == m} for m in MODELS}
        epochs = {m: {s: e for s, e in by_seed.items() if e is not None} for m, by_seed in found.items()}
        seeds = sorted(set(epochs["mlp-numpy"]) & set(epochs["mlp-torch"]))
        if not seeds:
            claim.not_run("needs runs of both MLPs with the same seed")
            return
        if any(None in by_seed.values() for by_seed in found.values()):
            claim.not_run("a run has no final test accuracy")
            return
        numpy, torch = [epochs["mlp-numpy"][s] for s in seeds], [epochs["mlp-torch"][s] for s in seeds]
        diff = [a - b for a, b in zip(numpy, torch, strict=True)]
        claim.measured = {**stats(diff), "seeds": seeds, "numpy_epoch": stats(numpy), "torch_epoch": stats(torch)}
        claim.measured_text = (f"epoch of final accuracy per seed {seeds}: NumPy {[int(e) for e in numpy]}, "
                               f"PyTorch {[int(e) for e in torch]}")
        faster = statistics.mean(diff) < 0
        claim.verdict = "reproduced" if faster else "differs"
        lo, hi = min(numpy + torch), max(numpy + torch)
        seeds_move = (f"across seeds it moves between epochs {lo:g} and {hi:g}: the seed (initial weights and sample "
                      "order), not the implementation, changes it" if lo != hi
                      else f"every seed reaches it at epoch {lo:g}")
        claim.reason = ("the twins reach their final accuracy at the same epoch for every seed (same initial weights "
                        f"and sample order); {seeds_move}" if all(d == 0 for d in diff) else
                        f"NumPy minus PyTorch per seed: {[int(d) for d in diff]}; {seeds_move}")
    return rule


def epoch_window(ref: float, window: float = 0.5):
    def rule(claim: Claim, runs: list[Run]) -> None:
        found = [first_at_final(r.rows) for r in runs]
        epochs = [e for e in found if e is not None]
        if len(epochs) < len(found):
            claim.not_run("a run has no final test accuracy")
            return
        claim.measured = stats(epochs)
        claim.measured_text = f"first at final test accuracy: epochs {[int(e) for e in epochs]}"
        lo, hi = ref * (1 - window), ref * (1 + window)
        claim.verdict = "reproduced" if lo <= claim.measured["mean"] <= hi else "differs"
        claim.reason = f"mean epoch {claim.measured['mean']:.0f} is outside {lo:g}-{hi:g}"
    return rule


def toy_claims(ev: Evidence) -> list[Claim]:
    claims = []
    for model, name in MODELS.items():
        for dataset in ("moons", "circles"):
            c = accuracy_claim(f"toy-{model}-{dataset}-test", "1", f"{name} reaches 100% test accuracy on {dataset}",
                               TOY, "test_acc", 1.0, 0.01, one_sided=True)
            claims.append(judged(c, ev, {"model": model, "dataset": dataset}, c_rule(c)))
        c = accuracy_claim(f"toy-{model}-classification-test", "1", f"{name}: 99.5% test accuracy on classification",
                           TOY, "test_acc", 0.995, 0.01)
        claims.append(judged(c, ev, {"model": model, "dataset": "classification"}, c_rule(c)))
        ref = TRAIN_ACC[model]
        c = accuracy_claim(f"toy-{model}-classification-train", "1",
                           f"{name}: {ref:.2%} train accuracy on classification (2,000 training points)",
                           TOY_2000, "train_acc", ref, 0.005)
        claims.append(judged(c, ev, {"model": model, "dataset": "classification"}, c_rule(c)))
        c = Claim(f"toy-{model}-classification-epoch", "1", f"{name} converges around epoch 75 on classification",
                  TOY_2000, {"epoch": 75, "window": 0.5},
                  "mean over seeds of the first epoch at the final test accuracy within 75 +- 50% (37.5-112.5)",
                  reference_text="epoch 75")
        claims.append(judged(c, ev, {"model": model, "dataset": "classification"}, epoch_window(75)))
    for dataset, (np_epoch, pt_epoch) in FASTER.items():
        c = Claim(f"toy-faster-{dataset}", "1",
                  f"The NumPy MLP converges faster than the PyTorch MLP on {dataset} "
                  f"(100% at epoch {np_epoch} vs {pt_epoch})", TOY,
                  {"numpy_epoch": np_epoch, "torch_epoch": pt_epoch},
                  "NumPy's first epoch at its final test accuracy, minus PyTorch's, per seed: mean < 0",
                  reference_text=f"epoch {np_epoch} vs {pt_epoch}")
        claims.append(judged(c, ev, {"model": tuple(MODELS), "dataset": dataset}, faster_rule(dataset)))
    return claims


def c_rule(claim: Claim):
    """The accuracy rule of a claim made by `accuracy_claim`."""
    r = claim.reference
    return accuracy(r["metric"], r["value"], r["tolerance"], r["one_sided"])


# --- Part 1 task 3: the CIFAR-10 MLP -------------------------------------------------------------------
CIFAR_MLP = {"epochs": 200, "lr": 0.01, "batch_size": 32, "hidden": [20]}


def rises_stays_low(claim: Claim, runs: list[Run]) -> None:
    first = [a for a in (r.rows[0].get("test_acc") for r in runs) if a is not None]
    final = _final(runs, "test_acc")
    if final is None or len(first) < len(runs):
        claim.not_run("a run has no test accuracy")
        return
    rise = [b - a for a, b in zip(first, final, strict=True)]
    best = [r.summary["best_test_acc"] for r in runs]
    claim.measured = {**stats(final), "rise": stats(rise), "best": stats(best)}
    claim.measured_text = (f"test acc {statistics.mean(first):.3f} -> {statistics.mean(final):.3f} "
                           f"(best {max(best):.3f})")
    ok = statistics.mean(rise) >= 0.1 and max(best) < 0.6
    claim.verdict = "reproduced" if ok else "differs"
    claim.reason = "rises by less than 0.10" if statistics.mean(rise) < 0.1 else "reaches 0.60 or more"


def cifar_mlp_claims(ev: Evidence) -> list[Claim]:
    c = Claim("cifar-mlp-rises-stays-low", "1", "CIFAR-10 MLP 3072-20-10: the curves rise but stay unsatisfactory",
              CIFAR_MLP, {"rise_at_least": 0.1, "best_below": 0.6},
              "mean test accuracy rises by >= 0.10 from epoch 0 to the end, and the best stays below 0.60",
              reference_text="rises, stays low")
    return [judged(c, ev, {"model": "mlp-torch", "dataset": "cifar10"}, rises_stays_low)]


# --- Part 2: the ConvNet optimizer study ---------------------------------------------------------------
CNN = {"epochs": 200, "batch_size": 32, "augment": "none", "subset": 0, "test_subset": 0}


def opt(name: str, lr: float) -> dict:
    return {"optimizer": name, "lr": lr}


def stuck(claim: Claim, runs: list[Run]) -> None:
    accs = [x["test_acc"] for r in runs for x in r.rows[1:] if x.get("test_acc") is not None]
    if not accs:
        claim.not_run("no test accuracy after epoch 0")
        return
    claim.measured = {**stats(_final(runs, "test_acc") or []), "min": min(accs), "max": max(accs)}
    claim.measured_text = f"{min(accs):.3f}-{max(accs):.3f} after epoch 0"
    ok = min(accs) >= 0.16 and max(accs) <= 0.24
    claim.verdict = "reproduced" if ok else "differs"
    claim.reason = f"evaluations range {min(accs):.3f}-{max(accs):.3f}, outside 0.16-0.24"


def small_gap(claim: Claim, runs: list[Run]) -> None:
    train, test = _final(runs, "train_acc"), _final(runs, "test_acc")
    if train is None or test is None:
        claim.not_run("a run has no final train or test accuracy")
        return
    claim.measured = stats([a - b for a, b in zip(train, test, strict=True)])
    claim.measured_text = f"train - test {stats_text(claim.measured)}"
    ok = abs(claim.measured["mean"]) <= 0.03
    claim.verdict = "reproduced" if ok else "differs"
    claim.reason = f"gap {claim.measured['mean']:.3f} exceeds 0.03"


def still_rising(claim: Claim, runs: list[Run]) -> None:
    gains = []
    for r in runs:
        done, _, _ = run_length(r.cfg, r.rows)
        late = [x for x in r.rows if x["epoch"] >= 0.8 * done and x.get("test_acc") is not None]
        if len(late) < 2:
            claim.not_run("fewer than two evaluations in the last 20% of training")
            return
        gains.append(late[-1]["test_acc"] - late[0]["test_acc"])
    claim.measured = stats(gains)
    claim.measured_text = f"test acc gain over the last 20% of epochs {stats_text(claim.measured)}"
    claim.verdict = "reproduced" if claim.measured["mean"] >= 0.005 else "differs"
    claim.reason = f"gain {claim.measured['mean']:.4f} < 0.005: flat at the end"


def compare(key_pairs: dict[str, tuple[dict, dict]]):
    """Ordering claims between groups: `first below second` on each named metric."""
    def rule(claim: Claim, runs: list[Run]) -> None:
        measured, fails = {}, []
        for key, (low, high) in key_pairs.items():
            a = _final([r for r in runs if _is(r, low)], key)
            b = _final([r for r in runs if _is(r, high)], key)
            if not a or not b:
                claim.not_run(f"no final {key} for both groups")
                return
            measured[key] = {"low": stats(a), "high": stats(b)}
            if statistics.mean(a) >= statistics.mean(b):
                fails.append(f"{key.replace('_', ' ')} {statistics.mean(a):.3f} >= {statistics.mean(b):.3f}")
        diff = [measured[k]["high"]["mean"] - measured[k]["low"]["mean"] for k in key_pairs]
        claim.measured = {**stats(diff), **measured}
        claim.measured_text = "; ".join(f"{k.replace('_', ' ')} {v['low']['mean']:.3f} vs {v['high']['mean']:.3f}"
                                        for k, v in measured.items())
        claim.verdict = "differs" if fails else "reproduced"
        claim.reason = "; ".join(fails)
    return rule


def _is(run: Run, match: dict) -> bool:
    return matches(run.cfg, match)


CNN_GROUPS = {"adam 1e-4": opt("adam", 1e-4), "adam 1e-2": opt("adam", 1e-2), "adam 1e-6": opt("adam", 1e-6),
              "sgd 1e-4": opt("sgd", 1e-4), "adagrad 1e-4": opt("adagrad", 1e-4)}


def best_of_five(claim: Claim, runs: list[Run]) -> None:
    finals: dict[str, float] = {}
    for label, m in CNN_GROUPS.items():
        vals = _final([r for r in runs if _is(r, m)], "test_acc")
        if not vals:
            claim.not_run(f"no final test accuracy for {label}")
            return
        finals[label] = statistics.mean(vals)
    best = max(finals, key=lambda label: finals[label])
    claim.measured = {**stats([finals["adam 1e-4"]]), "by_setting": finals}
    claim.measured_text = ", ".join(f"{k} {v:.3f}" for k, v in sorted(finals.items(), key=lambda kv: -kv[1]))
    claim.verdict = "reproduced" if best == "adam 1e-4" else "differs"
    claim.reason = f"{best} has the best final test accuracy"


def optimizer_claims(ev: Evidence) -> list[Claim]:
    claims = []
    for key, ref in (("train_acc", 0.89), ("test_acc", 0.80)):
        c = accuracy_claim(f"cnn-adam-1e-4-{key.split('_')[0]}", "2",
                           f"ConvNet, Adam 1e-4: {key.split('_')[0]} accuracy about {ref:.0%}", CNN, key, ref, 0.03)
        claims.append(judged(c, ev, opt("adam", 1e-4), c_rule(c)))
    c = Claim("cnn-adam-1e-2-stuck", "2", "ConvNet, Adam 1e-2: test accuracy stuck between 18% and 22%", CNN,
              {"low": 0.18, "high": 0.22}, "every evaluation after epoch 0 within 0.16-0.24 (+-0.02)",
              reference_text="0.18-0.22")
    claims.append(judged(c, ev, opt("adam", 1e-2), stuck))
    c = Claim("cnn-adam-1e-4-best", "2", "ConvNet: Adam 1e-4 reaches the best test accuracy of the five settings",
              CNN, {"best": 1}, "the highest mean final test accuracy of the five", reference_text="Adam 1e-4 best")
    claims.append(judged(c, ev, {"optimizer": ("adam", "sgd", "adagrad")}, best_of_five))
    c = Claim("cnn-sgd-1e-4-gap", "2", "ConvNet, SGD 1e-4: almost the same train and test accuracy", CNN,
              {"gap_at_most": 0.03}, "|final train - test accuracy| <= 0.03 (mean over seeds)",
              reference_text="gap ~0")
    claims.append(judged(c, ev, opt("sgd", 1e-4), small_gap))
    c = Claim("cnn-adam-1e-6-rising", "2", "ConvNet, Adam 1e-6: test accuracy still rising at the end", CNN,
              {"gain_at_least": 0.005}, "test accuracy gains >= 0.005 over the last 20% of the epochs (mean)",
              reference_text="still rising")
    claims.append(judged(c, ev, opt("adam", 1e-6), still_rising))
    c = Claim("cnn-adagrad-below-adam", "2", "ConvNet: Adagrad 1e-4 below Adam 1e-4 on train and test accuracy",
              CNN, {"below": 1}, "Adagrad's mean final train and test accuracy both below Adam 1e-4's",
              reference_text="Adagrad < Adam")
    claims.append(judged(c, ev, {"optimizer": ("adam", "adagrad"), "lr": 1e-4},
                         compare({"train_acc": (opt("adagrad", 1e-4), opt("adam", 1e-4)),
                                  "test_acc": (opt("adagrad", 1e-4), opt("adam", 1e-4))})))
    return claims


# --- Part 3: palindromes -------------------------------------------------------------------------------
RNN = {"steps": 10_000, "hidden": 128, "batch_size": 128, "optimizer": "rmsprop", "clip": 10.0, "one_hot": False}
RNN_REFERENCE = {5: 1000, 10: 3000, 15: 5500}
WINDOW = 0.5
CHANCE_UNTIL = 8000


def _step(s: float) -> str:
    return "never" if math.isinf(s) else f"{s:,.0f}"


def steps_to_solve(run: Run) -> float:
    step = convergence(run.rows)[0]
    return math.inf if step is None else step


def around_step(ref: int):
    def rule(claim: Claim, runs: list[Run]) -> None:
        steps = [steps_to_solve(r) for r in runs]
        claim.measured = {**stats(steps), "never": sum(math.isinf(s) for s in steps),
                          "final": stats(_final(runs, "test_acc") or [])}
        claim.measured_text = "first step at 0.99: " + ", ".join(_step(s) for s in steps)
        lo, hi = ref * (1 - WINDOW), ref * (1 + WINDOW)
        if any(math.isinf(s) for s in steps):
            claim.verdict = "differs"
            claim.reason = f"{claim.measured['never']} of {len(steps)} seed(s) never reach 0.99"
            return
        mean = statistics.mean(steps)
        claim.verdict = "reproduced" if lo <= mean <= hi else "differs"
        claim.reason = f"mean step {mean:,.0f} is outside {lo:,.0f}-{hi:,.0f}"
    return rule


def ordering(claim: Claim, runs: list[Run]) -> None:
    by_length = {}
    for length in RNN_REFERENCE:
        group = [r for r in runs if r.cfg["input_length"] == length]
        if not group:
            claim.not_run(f"no run at input length {length}")
            return
        by_length[length] = [steps_to_solve(r) for r in group]
    means = {k: statistics.mean(v) for k, v in by_length.items()}   # inf when a seed never converges
    claim.measured = {**stats(list(means.values())),
                      "by_length": {str(k): stats(v) for k, v in by_length.items()}}
    claim.measured_text = "mean first 0.99: " + ", ".join(f"L{k} {'never' if math.isinf(m) else f'{m:,.0f}'}"
                                                          for k, m in means.items())
    order = list(means.values())
    ok = all(a < b for a, b in zip(order, order[1:], strict=False))
    claim.verdict = "reproduced" if ok else "differs"
    claim.reason = "longer inputs are not always slower (a length that never reaches 0.99 counts as slowest, and " \
                   "two such lengths tie)"


def outliers(claim: Claim, runs: list[Run]) -> None:
    counted = [dips_after(r.rows) or (0, 0) for r in runs]     # (0, 0): never reached 0.99
    dips, after = [d for d, _ in counted], [n for _, n in counted]
    claim.measured = {**stats(dips), "evaluations_after": after, "never": sum(n == 0 for n in after)}
    claim.measured_text = f"evaluations after first 0.99 below 0.99: {dips} of {after}"
    if any(n == 0 for n in after):
        claim.verdict, claim.reason = "differs", "a seed never reaches 0.99"
        return
    some = 1 <= sum(dips) <= 0.1 * sum(after)
    claim.verdict = "reproduced" if some else "differs"
    claim.reason = "no evaluation after converging falls below 0.99" if not sum(dips) else (
        f"{sum(dips)} of {sum(after)} evaluations after converging fall below 0.99: more than a few outliers")


def near_chance_until(claim: Claim, runs: list[Run]) -> None:
    onsets = []
    for r in runs:
        above = [x["step"] for x in r.rows if x.get("test_acc") is not None and x["test_acc"] > 0.2]
        onsets.append(above[0] if above else math.inf)
    claim.measured = {**stats(onsets), "never": sum(math.isinf(s) for s in onsets)}
    claim.measured_text = "first step above 0.2: " + ", ".join(_step(s) for s in onsets)
    lo, hi = CHANCE_UNTIL * (1 - WINDOW), CHANCE_UNTIL * (1 + WINDOW)
    if any(math.isinf(s) for s in onsets):
        claim.verdict, claim.reason = "differs", "never rises above 0.2 within the run"
        return
    ok = all(lo <= s <= hi for s in onsets)
    claim.verdict = "reproduced" if ok else "differs"
    claim.reason = f"a seed leaves chance outside steps {lo:,.0f}-{hi:,.0f}"


def palindrome_claims(ev: Evidence) -> list[Claim]:
    claims = []
    for lr in (1e-3, 1e-2):
        def rnn(length, lr=lr):
            return {"cell": "rnn", "lr": lr, "input_length": length}

        for length, ref_step in RNN_REFERENCE.items():
            lo, hi = ref_step * (1 - WINDOW), ref_step * (1 + WINDOW)
            c = Claim(f"rnn-lr{lr:g}-len{length}-steps", "3",
                      f"Vanilla RNN (lr {lr:g}) reaches 100% at input length {length}, around step {ref_step:,}",
                      RNN, {"step": ref_step, "window": WINDOW},
                      f"every seed reaches 0.99; mean first step at 0.99 within {ref_step:,} +- 50% "
                      f"({lo:,.0f}-{hi:,.0f})",
                      reference_text=f"step ~{ref_step:,}")
            claims.append(judged(c, ev, rnn(length), around_step(ref_step)))
        c = Claim(f"rnn-lr{lr:g}-order", "3",
                  f"Vanilla RNN (lr {lr:g}): slower to converge for longer inputs (5, 10, 15)", RNN,
                  {"order": list(RNN_REFERENCE)}, "mean first step at 0.99 rises strictly from length 5 to 10 to 15",
                  reference_text="5 < 10 < 15")
        claims.append(judged(c, ev, {"cell": "rnn", "lr": lr, "input_length": tuple(RNN_REFERENCE)}, ordering))
        c = Claim(f"rnn-lr{lr:g}-len5-outliers", "3",
                  f"Vanilla RNN (lr {lr:g}) at input length 5: 100% with some outliers",
                  RNN, {"outliers_at_least": 1, "outlier_fraction_at_most": 0.1},
                  "every seed reaches 0.99, and 1 to 10% of the evaluations after that fall below 0.99",
                  reference_text="1.00, some dips")
        claims.append(judged(c, ev, rnn(5), outliers))
        c = Claim(f"rnn-lr{lr:g}-len20-chance", "3",
                  f"Vanilla RNN (lr {lr:g}) at input length 20: about 10% (chance) before step ~8,000, "
                  "improving only after",
                  RNN, {"step": CHANCE_UNTIL, "window": WINDOW, "chance_band": 0.2},
                  "every seed's first evaluation above 0.2 lies within 8,000 +- 50% (4,000-12,000)",
                  reference_text="chance until ~8,000")
        claims.append(judged(c, ev, rnn(20), near_chance_until))
        c = accuracy_claim(f"rnn-lr{lr:g}-len20-final", "3",
                           f"Vanilla RNN (lr {lr:g}) at input length 20: only about 35% after 10,000 steps", RNN,
                           "test_acc", 0.35, 0.15)
        claims.append(judged(c, ev, rnn(20), c_rule(c)))
    return claims


def counts(claims: list[Claim]) -> dict[str, int]:
    return {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
