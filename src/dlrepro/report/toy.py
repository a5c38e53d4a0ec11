"""Part 1 report: dataset scatter plots, NumPy-vs-PyTorch curves per dataset, and the accuracy table."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from dlrepro import plotting
from dlrepro.data.toy import load_toy
from dlrepro.report.document import Section, Table
from dlrepro.report.load import Run, load_runs, setup_table
from dlrepro.report.tables import fmt, mean_std


def scatter_figure(dataset: str, n_samples: int, data_seed: int, path: Path, run_dir: Path | None = None) -> Path:
    """The train and test points, from a run's data.npz (no scikit-learn); regenerated for older runs without it."""
    if run_dir is not None and (Path(run_dir) / "data.npz").exists():
        data = load_toy(dataset, Path(run_dir) / "data.npz")
    else:
        from dlrepro.data.toy import make_toy

        data = make_toy(dataset, n_samples=n_samples, seed=data_seed)
    fig, axes = plotting.figure(1, 2, figsize=(9, 4))
    for ax, (x, y, split) in zip(axes, [(data.x_train, data.y_train, "train"), (data.x_test, data.y_test, "test")],
                                 strict=True):
        for c in range(data.n_classes):
            ax.scatter(*x[y == c].T, s=8, label=f"class {c}")
        ax.set_title(f"{dataset}: {split} split ({len(y)} points)")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.legend(loc="best", fontsize=8)
    return plotting.save(fig, path)


def curves_figure(dataset: str, runs: list[Run], path: Path) -> Path:
    """Test accuracy and train loss per epoch, NumPy (solid) against PyTorch (dots), every seed."""
    fig, (ax_acc, ax_loss) = plotting.figure(1, 2, figsize=(11, 4))
    for run in runs:
        cfg, rows = run.cfg, run.rows
        xs = [r["epoch"] for r in rows]
        style = dict(linestyle="-", alpha=0.8) if cfg["model"] == "mlp-numpy" else dict(linestyle="", marker="o",
                                                                                       markersize=4)
        label = f"{cfg['model']} seed {cfg['seed']}"
        ax_acc.plot(xs, [r["test_acc"] for r in rows], label=label, **style)
        ax_loss.plot(xs, [r["train_loss"] for r in rows], label=label, **style)
    ax_acc.set(title=f"{dataset}: test accuracy", xlabel="epoch", ylabel="accuracy")
    ax_loss.set(title=f"{dataset}: train loss", xlabel="epoch", ylabel="cross-entropy", yscale="log")
    ax_acc.legend(fontsize=8)
    return plotting.save(fig, path)


def toy_report(run_dirs: list[Path], figures: Path) -> Section:
    runs = load_runs(run_dirs)
    by_dataset = defaultdict(list)
    for run in runs:
        by_dataset[run.cfg["dataset"]].append(run)
    figs = []
    for dataset, group in by_dataset.items():
        cfg0 = group[0].cfg
        figs.append(scatter_figure(dataset, cfg0["n_samples"], cfg0["data_seed"], figures / f"toy_{dataset}_data.png",
                                  run_dir=group[0].path))
        figs.append(curves_figure(dataset, group, figures / f"toy_{dataset}_curves.png"))
    per_run = Table(["model", "dataset", "seed", "status", "train acc", "test acc"],
                    [[r.cfg["model"], r.cfg["dataset"], r.cfg["seed"], r.summary["status"],
                      fmt(r.summary["final"]["train_acc"]), fmt(r.final_test_acc)] for r in runs])
    agg = defaultdict(list)
    for r in runs:
        agg[(r.cfg["model"], r.cfg["dataset"])].append(r.final_test_acc)
    summary = Table(["model", "dataset", "final test acc (mean +- std over seeds)"],
                    [[m, d, mean_std(v)] for (m, d), v in agg.items()])
    return Section("", setup=setup_table(runs), figures=figs, tables=[summary, per_run])
