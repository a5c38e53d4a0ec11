"""Matplotlib set-up shared by run curves and report figures: headless backend, consistent style."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: runs happen on servers, in CI and in worker processes

import matplotlib.pyplot as plt  # noqa: E402


def figure(nrows: int = 1, ncols: int = 1, figsize=(10, 4)):
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    axes = axes.ravel()
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def save(fig, path: str | os.PathLike) -> Path:
    """Save atomically (temp file + os.replace) and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.tight_layout()
    fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    os.replace(tmp, path)
    return path
