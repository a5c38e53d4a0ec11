"""The report's section for a study that is not built in (a user's own TOML, run with `dlrepro sweep FILE`):
its setup, a curves figure of every run, and a table of final metrics per trial (and per setting, over
seeds, when several seeds ran). Everything comes from the study's folder, OUT/runs/<study>/."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from dlrepro import plotting
from dlrepro.claims.evidence import unreadable_note
from dlrepro.report.document import Section, Table, setup_table
from dlrepro.runs.folder import Folder
from dlrepro.runs.load import Run, read_runs
from dlrepro.studies.record import study_runs
from dlrepro.text import fmt, mean_std
from dlrepro.train.config import LOCATION_FIELDS

MAX_LEGEND = 16  # more runs than this: no legend (the table names them)


def varied_keys(runs: list[Run]) -> list[str]:
    """The settings whose value differs between runs (the grid axes), in config order."""
    keys = list(dict.fromkeys(k for r in runs for k in r.cfg if k not in LOCATION_FIELDS))
    return [k for k in keys if len({json.dumps(r.cfg.get(k)) for r in runs}) > 1]


def label(run: Run, keys: list[str]) -> str:
    return " ".join(f"{k}={run.cfg.get(k)}" for k in keys) or run.path.name


def curves_figure(name: str, runs: list[Run], keys: list[str], path: Path) -> plotting.Saved:
    """Test accuracy and train loss of every run, against epochs (or steps for step-based runs)."""
    fig, (ax_acc, ax_loss) = plotting.figure(1, 2, figsize=(11, 4))
    by_epoch = all(r.rows and r.rows[0].get("epoch") is not None for r in runs)
    for run in runs:
        xs = [r["epoch"] if by_epoch else r["step"] for r in run.rows]
        nan = float("nan")
        ax_acc.plot(xs, [nan if r["test_acc"] is None else r["test_acc"] for r in run.rows], label=label(run, keys))
        ax_loss.plot(xs, [nan if r["train_loss"] is None else r["train_loss"] for r in run.rows])
    x_label = "epoch" if by_epoch else "step"
    ax_acc.set(title=f"{name}: test accuracy", xlabel=x_label, ylabel="accuracy", ylim=(-0.02, 1.02))
    ax_loss.set(title=f"{name}: train loss", xlabel=x_label, ylabel="loss")
    if len(runs) <= MAX_LEGEND:
        ax_acc.legend(fontsize=7)
    return plotting.save(fig, path)


def results_tables(runs: list[Run], keys: list[str]) -> list[Table]:
    per_run = Table(["trial", *keys, "status", "steps", "final train loss", "final train acc", "final test loss",
                     "final test acc", "best test acc"],
                    [[r.path.name, *(r.cfg.get(k) for k in keys), r.summary["status"], r.summary.get("steps"),
                      *(fmt(r.summary["final"].get(m)) for m in ("train_loss", "train_acc", "test_loss")),
                      fmt(r.final_test_acc), fmt(r.summary.get("best_test_acc"))] for r in runs],
                    caption="Final = the last evaluation of each run.")
    others = [k for k in keys if k != "seed"]
    if "seed" not in keys:
        return [per_run]
    groups = defaultdict(list)
    for r in runs:
        groups[tuple(json.dumps(r.cfg.get(k)) for k in others)].append(r)
    over_seeds = Table([*others, "seeds", "final test acc (mean +- std over seeds)", "best test acc"],
                       [[*(g[0].cfg.get(k) for k in others), len(g), mean_std([r.final_test_acc for r in g]),
                         mean_std([r.summary.get("best_test_acc") for r in g])] for g in groups.values()])
    return [over_seeds, per_run]


def generic_section(study_dir: Path, figures: Path, info: dict) -> Section:
    """A section for the study in `study_dir`; `info` is its recorded metadata (dlrepro.studies.record)."""
    study_dir = Path(study_dir)
    folder = Folder(study_dir.parent.parent)
    title, description = info.get("title") or study_dir.name, info.get("description", "")
    outside = folder.outside(study_dir)
    if outside is not None:
        return Section(title, description, notes=[f"Not run: {outside}."])
    run_dirs, left_out = study_runs(study_dir, info)
    runs, unreadable = read_runs(run_dirs, folder)
    notes = [n for n in (left_out, unreadable_note(unreadable)) if n]
    if not runs:
        return Section(title, description, notes=[f"Not run: no finished runs under {study_dir}.", *notes])
    keys = varied_keys(runs)
    fig = curves_figure(study_dir.name, runs, keys,
                        folder.own_dir(figures / study_dir.name) / f"{study_dir.name}_curves.png")
    return Section(title, description, setup=setup_table(runs), figures=[fig], tables=results_tables(runs, keys),
                   notes=notes)
