"""Figures for run curves and the report, drawn without pyplot.

`matplotlib.figure.Figure` renders straight to a file, so no global backend is chosen: this works
headless (servers, CI, worker processes) and leaves a notebook's inline backend alone.

The report's figures follow three rules: a band over seeds is drawn (and named) only when there are
several seeds, a legend sits outside the axes so it never covers data, and epoch axes get integer ticks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


@dataclass
class Saved:
    """A figure written for the report: the PNG (an SVG lies beside it), its caption, the matplotlib Figure."""
    path: Path
    caption: str
    figure: Figure

    @property
    def svg(self) -> Path:
        return self.path.with_suffix(".svg")


def figure(nrows: int = 1, ncols: int = 1, figsize=(10, 4)):
    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def legend_outside(ax, **kwargs):
    """A legend to the right of the axes, where it cannot cover data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, **kwargs)


def integer_ticks(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def seeds_band(ax, xs, values, label: str, **style):
    """The mean over seeds (rows of `values`) and, with several seeds, the min-max band, named in the legend."""
    values = np.asarray(values, dtype=float)
    seeds = f"{len(values)} seed{'s' if len(values) > 1 else ''}"
    line, = ax.plot(xs, np.nanmean(values, axis=0), label=f"{label} ({seeds})", **style)
    if len(values) > 1:
        ax.fill_between(xs, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=line.get_color(),
                        alpha=0.2, label=f"{label}: min-max over {len(values)} seeds")
    return line


def save(fig: Figure, path: str | os.PathLike, svg: bool = False, caption: str = "") -> Saved:
    """Save atomically (temp file + os.replace); with `svg`, also as an SVG beside the PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    for p in (path, path.with_suffix(".svg")) if svg else (path,):
        tmp = p.with_name(f".{p.name}.tmp")
        fig.savefig(tmp, dpi=110, format=p.suffix.lstrip(".") or "png", bbox_inches="tight")
        os.replace(tmp, p)
    return Saved(path, caption, fig)
