"""CIFAR-10 report sections: the MLP of Part 1 task 3 and the ConvNet optimizer study of Part 2."""

from __future__ import annotations

from pathlib import Path

from dlrepro import plotting
from dlrepro.report.tables import fmt, markdown_table
from dlrepro.runs.curves import plot_curves
from dlrepro.runs.rundir import RunDir


def _runs(run_dirs: list[Path]) -> list[tuple[dict, RunDir, dict]]:
    out = []
    for d in run_dirs:
        run = RunDir(d)
        cfg, summary = run.stored_config(), run.summary()
        if cfg is not None and summary is not None:
            out.append((cfg, run, summary))
    return out


def _label(cfg: dict) -> str:
    if cfg["model"] == "cnn":
        return f"{cfg['optimizer']} lr {cfg['lr']:g}"
    return f"MLP {'-'.join(map(str, [3072, *cfg['hidden'], 10]))} seed {cfg['seed']}"


def _table(runs) -> str:
    rows = [[_label(cfg), s["status"], fmt((run.metrics() or [{}])[-1].get("epoch"), 1), fmt(s["final"]["train_acc"]),
             fmt(s["final"]["test_acc"]), fmt(s["best_test_acc"])] for cfg, run, s in runs]
    return markdown_table(["configuration", "status", "epochs", "final train acc", "final test acc",
                           "best test acc"], rows)


def _per_run_figures(runs, figures: Path, prefix: str) -> list[Path]:
    figs = []
    for cfg, run, _ in runs:
        path = figures / f"{prefix}_{_label(cfg).replace(' ', '_')}.png"
        plot_curves(run.metrics(), path, title=_label(cfg))
        figs.append(path)
    return figs


def cifar_mlp_report(run_dirs: list[Path], figures: Path) -> tuple[str, list[Path]]:
    runs = _runs(run_dirs)
    return _table(runs) + "\n", _per_run_figures(runs, figures, "cifar_mlp")


def optimizers_report(run_dirs: list[Path], figures: Path) -> tuple[str, list[Path]]:
    runs = _runs(run_dirs)
    figs = _per_run_figures(runs, figures, "optimizers")
    fig, (ax,) = plotting.figure(1, 1, figsize=(8, 4.5))
    for cfg, run, summary in runs:
        rows = run.metrics()
        style = "--" if summary["status"] == "diverged" else "-"
        ax.plot([r["epoch"] for r in rows], [r["test_acc"] for r in rows], style, marker=".",
                label=f"{_label(cfg)} ({summary['status']})")
    ax.set(title="ConvNet: test accuracy by optimizer and learning rate", xlabel="epoch", ylabel="accuracy",
           ylim=(0, 1))
    ax.legend()
    figs.append(plotting.save(fig, figures / "optimizers_overlay.png"))
    return _table(runs) + "\n", figs
