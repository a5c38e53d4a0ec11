"""Figures for run curves and the report, drawn without pyplot.

`matplotlib.figure.Figure` renders straight to a file, so no global backend is chosen: this works
headless (servers, CI, worker processes) and leaves a notebook's inline backend alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure


def figure(nrows: int = 1, ncols: int = 1, figsize=(10, 4)):
    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Save atomically (temp file + os.replace); on failure (a full disk) the temp file is removed and an
    existing figure at `path` stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.tight_layout()
    try:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
