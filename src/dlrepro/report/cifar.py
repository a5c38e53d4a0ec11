"""CIFAR-10 report sections: the MLP of Part 1 task 3 and the ConvNet optimizer study of Part 2."""

from __future__ import annotations

from pathlib import Path

from dlrepro import plotting
from dlrepro.report.document import Section, Table
from dlrepro.report.load import Run, load_runs, setup_table
from dlrepro.report.tables import fmt
from dlrepro.runs.curves import plot_curves


def label(cfg: dict) -> str:
    if cfg["model"] == "cnn":
        return f"{cfg['optimizer']} lr {cfg['lr']:g}"
    return f"MLP {'-'.join(map(str, [3072, *cfg['hidden'], 10]))} seed {cfg['seed']}"


def _table(runs: list[Run]) -> Table:
    rows = [[label(r.cfg), r.summary["status"], fmt((r.rows or [{}])[-1].get("epoch"), 1),
             fmt(r.summary["final"]["train_acc"]), fmt(r.final_test_acc), fmt(r.summary["best_test_acc"])]
            for r in runs]
    return Table(["configuration", "status", "epochs", "final train acc", "final test acc", "best test acc"], rows)


def _per_run_figures(runs: list[Run], figures: Path, prefix: str) -> list[Path]:
    figs = []
    for r in runs:
        path = figures / f"{prefix}_{label(r.cfg).replace(' ', '_')}.png"
        plot_curves(r.rows, path, title=label(r.cfg))
        figs.append(path)
    return figs


def cifar_mlp_report(run_dirs: list[Path], figures: Path) -> Section:
    runs = load_runs(run_dirs)
    return Section("", setup=setup_table(runs), figures=_per_run_figures(runs, figures, "cifar_mlp"),
                   tables=[_table(runs)])


def optimizers_report(run_dirs: list[Path], figures: Path) -> Section:
    runs = load_runs(run_dirs)
    figs = _per_run_figures(runs, figures, "optimizers")
    fig, (ax,) = plotting.figure(1, 1, figsize=(8, 4.5))
    for r in runs:
        style = "--" if r.summary["status"] == "diverged" else "-"
        ax.plot([x["epoch"] for x in r.rows], [x["test_acc"] for x in r.rows], style, marker=".",
                label=f"{label(r.cfg)} ({r.summary['status']})")
    ax.set(title="ConvNet: test accuracy by optimizer and learning rate", xlabel="epoch", ylabel="accuracy",
           ylim=(0, 1))
    ax.legend()
    figs.append(plotting.save(fig, figures / "optimizers_overlay.png"))
    return Section("", setup=setup_table(runs), figures=figs, tables=[_table(runs)])
