"""CIFAR-10 report sections: the MLP of Part 1 task 3 and the ConvNet optimizer study of Part 2."""

from __future__ import annotations

from pathlib import Path

from dlrepro import plotting, registry
from dlrepro.data.cifar10 import TRAIN_SIZE
from dlrepro.report.document import Section, Table, setup_table
from dlrepro.runs.curves import plot_curves
from dlrepro.runs.load import Run
from dlrepro.text import fmt


def label(cfg: dict) -> str:
    if cfg["model"] == "cnn":
        return f"{cfg['optimizer']} lr {cfg['lr']:g}"
    return f"MLP {'-'.join(map(str, [3072, *cfg['hidden'], 10]))} seed {cfg['seed']}"


def _table(runs: list[Run]) -> Table:
    rows = [[label(r.cfg), r.summary["status"], fmt((r.rows or [{}])[-1].get("epoch"), 1),
             fmt(r.summary["final"]["train_acc"]), fmt(r.final_test_acc), fmt(r.summary["best_test_acc"])]
            for r in runs]
    return Table(["configuration", "status", "epochs", "final train acc", "final test acc", "best test acc"], rows)


def _per_run_figures(runs: list[Run], figures: Path, prefix: str) -> list[plotting.Saved]:
    figs = []
    for r in runs:
        name = label(r.cfg)
        saved = plot_curves(r.rows, figures / f"{prefix}_{name.replace(' ', '_')}.png", title=f"{name} (1 seed)",
                            svg=True, caption=f"Train and test accuracy and loss per epoch of the {name} run "
                                              f"(seed {r.cfg['seed']}, {r.summary['status']}).")
        if saved is not None:
            figs.append(saved)
    return figs


def cifar_mlp_report(runs: list[Run], figures: Path) -> Section:
    return Section("", setup=setup_table(runs), figures=_per_run_figures(runs, figures, "cifar_mlp"),
                   tables=[_table(runs)])


CHANCE = 0.1


def lr_text(lr: float) -> str:
    """1e-4, not 0.0001."""
    mantissa, exponent = f"{lr:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def early_trend(runs: list[Run]) -> str | None:
    """The quick profile's ConvNet ranking in words, computed from the runs: an early trend, not a verdict."""
    finals: dict[str, list[float]] = {}
    for r in runs:
        if r.final_test_acc is not None:
            name = f"{registry.label(r.cfg['optimizer'], registry.OPTIMIZERS['cnn'])} {lr_text(r.cfg['lr'])}"
            finals.setdefault(name, []).append(r.final_test_acc)
    if len(finals) < 2:
        return None
    mean = {k: sum(v) / len(v) for k, v in finals.items()}
    ranked = sorted(mean, key=lambda k: mean[k], reverse=True)
    chance = [k for k in ranked if abs(mean[k] - CHANCE) <= 0.03]
    lead = [k for k in ranked if mean[ranked[0]] - mean[k] <= 0.03 and k not in chance]
    epochs = max(r.rows[-1]["epoch"] for r in runs if r.rows)
    images = runs[0].cfg.get("subset") or TRAIN_SIZE
    text = f"Early trend after {epochs:g} epoch(s) on {images:,} training images (not a verdict): "
    if not lead:
        return text + "every setting is still near chance (" + ", ".join(f"{k} {mean[k]:.3f}" for k in ranked) + ")."
    text += (f"{' and '.join(lead)} lead{'s' if len(lead) == 1 else ''} "
             f"({', '.join(f'{mean[k]:.3f}' for k in lead)} final test accuracy)")
    rest = [k for k in ranked if k not in lead and k not in chance]
    if rest:
        text += ", then " + ", ".join(f"{k} ({mean[k]:.3f})" for k in rest)
    if chance:
        text += f"; {' and '.join(chance)} stay{'s' if len(chance) == 1 else ''} near chance (" + \
                ", ".join(f"{mean[k]:.3f}" for k in chance) + ")"
    return text + "."


def optimizers_report(runs: list[Run], figures: Path) -> Section:
    figs = _per_run_figures(runs, figures, "optimizers")
    fig, (ax,) = plotting.figure(1, 1, figsize=(9, 4.5))
    for r in runs:
        style = "--" if r.summary["status"] == "diverged" else "-"
        ax.plot([x["epoch"] for x in r.rows], [x["test_acc"] for x in r.rows], style, marker=".",
                label=f"{label(r.cfg)} ({r.summary['status']})")
    seeds = len({r.cfg["seed"] for r in runs})
    ax.set(title=f"ConvNet: test accuracy by optimizer and learning rate ({seeds} seed{'s' if seeds > 1 else ''})",
           xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    plotting.integer_ticks(ax)
    plotting.legend_outside(ax)
    figs.append(plotting.save(fig, figures / "optimizers_overlay.png", svg=True,
                              caption="Test accuracy per epoch of the ConvNet under each optimizer and learning "
                                      "rate (a dashed line marks a diverged run)."))
    trend = early_trend(runs)
    short = any(r.cfg["epochs"] < 200 or r.cfg.get("subset") for r in runs)
    return Section("", setup=setup_table(runs), figures=figs, tables=[_table(runs)],
                   notes=[trend] if trend and short else [])
