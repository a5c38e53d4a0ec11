"""The reference report's claims, each against our measured value, with a verdict.

A verdict is `reproduced`, `differs`, or `not run` (with the reason: no CIFAR-10 data, or a short profile
whose runs cannot speak to a claim about 200 epochs). The rule behind each verdict is in `RULES`.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from dlrepro.report.load import Run
from dlrepro.report.palindrome import convergence
from dlrepro.report.tables import mean_std

RULES = ("Accuracy claims are reproduced when our mean is within 0.01 below the reference or above it. "
         "'Converging around step X' is reproduced when every seed reaches 0.99 and the mean first step at "
         "0.99 lies within a factor 3 of X. 'About 35%' allows +-0.15; 'stuck between 18% and 22%' allows "
         "every evaluation after step 0 within 0.16-0.24.")


@dataclass
class Claim:
    part: str
    claim: str
    reference: str
    measured: str
    verdict: str
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _accuracy_verdict(values: list[float], ref: float) -> str:
    return "reproduced" if statistics.mean(values) >= ref - 0.01 else "differs"


def toy_claims(runs: list[Run], not_run: str | None) -> list[Claim]:
    claims = []
    for model, name in (("mlp-numpy", "NumPy MLP"), ("mlp-torch", "PyTorch MLP")):
        for dataset, ref in (("moons", 1.0), ("circles", 1.0), ("classification", 0.995)):
            text = f"{name} test accuracy on {dataset}"
            vals = [r.final_test_acc for r in runs if r.cfg["model"] == model and r.cfg["dataset"] == dataset
                    and r.final_test_acc is not None]
            if not vals:
                claims.append(Claim("1", text, f"{ref:.3f}", "-", "not run", not_run or "no run"))
                continue
            claims.append(Claim("1", text, f"{ref:.3f}", f"{mean_std(vals)} ({len(vals)} seed(s))",
                                _accuracy_verdict(vals, ref)))
    return claims


def cifar_mlp_claims(runs: list[Run], not_run: str | None) -> list[Claim]:
    text, ref = "CIFAR-10 MLP 3072-20-10: the curves rise but stay unsatisfactory", "rises, stays low"
    runs = [r for r in runs if r.rows]
    if not runs:
        return [Claim("1", text, ref, "-", "not run", not_run or "no run")]
    first = statistics.mean(r.rows[0]["test_acc"] for r in runs)
    final = statistics.mean(r.final_test_acc for r in runs)
    best = max(r.summary["best_test_acc"] for r in runs)
    epochs = runs[0].rows[-1]["epoch"]
    verdict = "reproduced" if final - first >= 0.1 and best < 0.6 else "differs"
    reason = "" if epochs >= 200 else f"{epochs:g} of the reference's 200 epochs"
    return [Claim("1", text, ref, f"test acc {first:.3f} at epoch 0 -> {final:.3f} (best {best:.3f})", verdict,
                  reason)]


def _short_cnn(runs: list[Run]) -> str | None:
    for r in runs:
        if r.cfg["epochs"] < 200 or r.cfg["subset"] or r.cfg["test_subset"]:
            return (f"CPU-only short profile: {r.cfg['epochs']} epochs on {r.cfg['subset'] or 50000} training "
                    "images; the claim is about 200 epochs on all 50,000 (run --profile full, on a GPU)")
    return None


def optimizer_claims(runs: list[Run], not_run: str | None) -> list[Claim]:
    def find(opt, lr):
        return [r for r in runs if r.cfg["optimizer"] == opt and abs(r.cfg["lr"] - lr) < 1e-12]

    short = _short_cnn(runs)
    adam4, adam2 = find("adam", 1e-4), find("adam", 1e-2)
    others = [find("adam", 1e-6), find("sgd", 1e-4), find("adagrad", 1e-4)]
    claims = []
    for key, ref, text in (("train_acc", 0.89, "ConvNet, Adam 1e-4, 200 epochs: train accuracy"),
                           ("test_acc", 0.80, "ConvNet, Adam 1e-4, 200 epochs: test accuracy")):
        vals = [r.summary["final"][key] for r in adam4 if r.summary["final"][key] is not None]
        if not vals:
            claims.append(Claim("2", text, f"{ref:.2f}", "-", "not run", not_run or "no run"))
        else:
            claims.append(Claim("2", text, f"{ref:.2f}", mean_std(vals), "not run" if short else
                                _accuracy_verdict(vals, ref), short or ""))
    text = "ConvNet, Adam 1e-2: test accuracy stuck between 18% and 22%"
    if not adam2:
        claims.append(Claim("2", text, "0.18-0.22", "-", "not run", not_run or "no run"))
    else:
        accs = [x["test_acc"] for r in adam2 for x in r.rows[1:] if x["test_acc"] is not None]
        measured = f"{min(accs):.3f}-{max(accs):.3f} after epoch 0" if accs else "diverged"
        ok = bool(accs) and min(accs) >= 0.16 and max(accs) <= 0.24
        claims.append(Claim("2", text, "0.18-0.22", measured, "not run" if short else
                            ("reproduced" if ok else "differs"), short or ""))
    text = "ConvNet: Adam 1e-6, SGD 1e-4, Adagrad 1e-4 slower, not converged; Adam 1e-4 best"
    if not adam4 or not all(others):
        claims.append(Claim("2", text, "Adam 1e-4 best", "-", "not run", not_run or "no run"))
    else:
        finals = {label: statistics.mean(r.final_test_acc or 0.0 for r in group) for label, group in
                  (("adam 1e-4", adam4), ("adam 1e-6", others[0]), ("sgd 1e-4", others[1]),
                   ("adagrad 1e-4", others[2]), ("adam 1e-2", adam2))}
        best = max(finals, key=finals.get)
        measured = ", ".join(f"{k} {v:.3f}" for k, v in sorted(finals.items(), key=lambda kv: -kv[1]))
        claims.append(Claim("2", text, "Adam 1e-4 best", measured, "not run" if short else
                            ("reproduced" if best == "adam 1e-4" else "differs"), short or ""))
    return claims


RNN_REFERENCE = {5: 1000, 10: 3000, 15: 5500}


def palindrome_claims(runs: list[Run], not_run: str | None) -> list[Claim]:
    claims = []
    lrs = sorted({r.cfg["lr"] for r in runs if r.cfg["cell"] == "rnn"}) or [1e-3, 1e-2]
    for lr in lrs:
        def of(length, lr=lr):
            return [r for r in runs if r.cfg["cell"] == "rnn" and r.cfg["lr"] == lr
                    and r.cfg["input_length"] == length]

        for length, ref_step in RNN_REFERENCE.items():
            text = f"Vanilla RNN (lr {lr:g}) reaches 100% at input length {length}, around step {ref_step:,}"
            group = of(length)
            if not group:
                claims.append(Claim("3", text, f"1.00 by ~{ref_step:,}", "-", "not run", not_run or "no run"))
                continue
            final = [r.final_test_acc or 0.0 for r in group]
            steps = [convergence(r.rows)[0] for r in group]
            conv = [s for s in steps if s is not None]
            step_text = (f"first 0.99 at step {statistics.mean(conv):,.0f}" if conv else "never at 0.99")
            ok = (statistics.mean(final) >= 0.99 and len(conv) == len(steps)
                  and ref_step / 3 <= statistics.mean(conv) <= ref_step * 3)
            short = group[0].cfg["steps"] < 10000
            claims.append(Claim("3", text, f"1.00 by ~{ref_step:,}", f"final {mean_std(final)}, {step_text}",
                                "reproduced" if ok else "differs",
                                f"{group[0].cfg['steps']:,} steps, not 10,000" if short else ""))
        text = f"Vanilla RNN (lr {lr:g}) at input length 20: only about 35% after 10,000 steps"
        group = of(20)
        if not group:
            claims.append(Claim("3", text, "0.35", "-", "not run", not_run or "no run"))
        else:
            final = [r.final_test_acc or 0.0 for r in group]
            claims.append(Claim("3", text, "0.35", mean_std(final),
                                "reproduced" if abs(statistics.mean(final) - 0.35) <= 0.15 else "differs"))
    return claims


CLAIMS = {"toy": toy_claims, "cifar_mlp": cifar_mlp_claims, "optimizers": optimizer_claims,
          "palindrome": palindrome_claims}
