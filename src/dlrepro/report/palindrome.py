"""Part 3 report: accuracy-vs-step curves per (cell, lr) with a min-max band over seeds per input length,
and a table of final accuracy, steps to converge and whether the solution held to the end."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from dlrepro import plotting
from dlrepro.report.document import Section, Table
from dlrepro.report.load import Run, load_runs, setup_table
from dlrepro.report.tables import mean_std

SOLVED = 0.99


def convergence(rows: list[dict]) -> tuple[int | None, bool | None, float | None]:
    """(first step with test_acc >= 0.99 or None, whether every later evaluation stayed >= 0.99,
    the lowest test accuracy after converging)."""
    for k, r in enumerate(rows):
        if r["test_acc"] is not None and r["test_acc"] >= SOLVED:
            later = [x["test_acc"] if x["test_acc"] is not None else 0.0 for x in rows[k:]]
            return r["step"], min(later) >= SOLVED, min(later)
    return None, None, None


def group(runs: list[Run]) -> dict:
    """(cell, lr) -> input length -> [(seed, metric rows, summary)], seeds ascending."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in sorted(runs, key=lambda r: r.cfg["seed"]):
        groups[(r.cfg["cell"], r.cfg["lr"])][r.cfg["input_length"]].append((r.cfg["seed"], r.rows, r.summary))
    return groups


def curves_figure(cell: str, lr: float, by_length: dict, path: Path) -> Path:
    fig, (ax,) = plotting.figure(1, 1, figsize=(8, 4.5))
    for length in sorted(by_length):
        runs = by_length[length]
        n = min(len(rows) for _, rows, _ in runs)
        steps = [r["step"] for r in runs[0][1][:n]]
        accs = np.array([[np.nan if r["test_acc"] is None else r["test_acc"] for r in rows[:n]]
                         for _, rows, _ in runs])
        line, = ax.plot(steps, np.nanmean(accs, axis=0), label=f"L = {length} ({len(runs)} seed(s))")
        if len(runs) > 1:
            ax.fill_between(steps, np.nanmin(accs, axis=0), np.nanmax(accs, axis=0), color=line.get_color(),
                            alpha=0.2)
    ax.set(title=f"{'vanilla RNN' if cell == 'rnn' else 'LSTM'}, lr {lr:g}: test accuracy (mean, min-max band)",
           xlabel="step", ylabel="accuracy", ylim=(0, 1.02))
    ax.legend(loc="lower right")
    return plotting.save(fig, path)


def palindrome_report(run_dirs: list[Path], figures: Path) -> Section:
    runs = load_runs(run_dirs)
    groups = group(runs)
    figs, rows = [], []
    for (cell, lr) in sorted(groups):
        by_length = groups[(cell, lr)]
        figs.append(curves_figure(cell, lr, by_length, figures / f"palindrome_{cell}_lr{lr:g}.png"))
        for length in sorted(by_length):
            seeds = by_length[length]
            conv = [convergence(r) for _, r, _ in seeds]
            steps = [c[0] for c in conv]
            held = [c[1] for c in conv if c[0] is not None]
            lows = [c[2] for c in conv if c[0] is not None]
            rows.append([
                cell, f"{lr:g}", length, len(seeds), seeds[0][2]["steps"],
                mean_std([s["final"]["test_acc"] for _, _, s in seeds]),
                ", ".join("never" if s is None else str(s) for s in steps),
                f"{sum(held)}/{len(held)}" if held else "-",
                f"{min(lows):.3f}" if lows else "-",
            ])
    note = ("'steps to 0.99' is the first evaluation with held-out accuracy >= 0.99; 'held to end' counts "
            "the seeds whose accuracy stayed >= 0.99 at every later evaluation; 'lowest acc after' is the "
            "worst accuracy seen after first converging (a collapse shows here).")
    table = Table(["cell", "lr", "input length", "seeds", "steps", "final test acc", "steps to 0.99 (per seed)",
                   "held to end", "lowest acc after"], rows, caption=note)
    return Section("", setup=setup_table(runs), figures=figs, tables=[table])
