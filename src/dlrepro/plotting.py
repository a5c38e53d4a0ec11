"""Figures for run curves and the report, drawn without pyplot.

`matplotlib.figure.Figure` renders straight to a file, so no global backend is chosen: this works
headless (servers, CI, worker processes) and leaves a notebook's inline backend alone. matplotlib is
imported when the first figure is drawn, not when this module is.

A figure is rendered only when it changed: `save` fingerprints the figure's full state (its pickle, the
state matplotlib itself would need to redraw it) and stores the fingerprint in the PNG; when the file
already holds that fingerprint, rendering (most of a report rebuild's time) is skipped. A fingerprint
that cannot be taken, or a file without one, means rendering as before.

The report's figures follow three rules: a band over seeds is drawn (and named) only when there are
several seeds, a legend sits outside the axes so it never covers data, and epoch axes get integer ticks.
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from dlrepro.files import atomic_file
from dlrepro.readfile import FileRefused, read_regular

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Saved:
    """A figure written for the report: the PNG, its caption, the matplotlib Figure, and whether an SVG of it
    lies beside the PNG (`svg`)."""
    path: Path
    caption: str
    figure: Figure
    with_svg: bool = False

    @property
    def svg(self) -> Path:
        return self.path.with_suffix(".svg")


def figure(nrows: int = 1, ncols: int = 1, figsize=(10, 4)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def legend_outside(ax, **kwargs):
    """A legend to the right of the axes, where it cannot cover data."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, **kwargs)


def integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

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


DPI = 110
FINGERPRINT = "dlrepro:figure"  # the PNG text key holding the figure's fingerprint
MAX_FIGURE_BYTES = 64 * 1024 * 1024  # far more than a report figure's PNG


def save(fig: Figure, path: str | os.PathLike, svg: bool = False, caption: str = "") -> Saved:
    """Save atomically (`dlrepro.files.atomic_file`); with `svg`, also as an SVG beside the PNG. A PNG that
    already holds this very figure (and its SVG, when asked for) is kept as it is. On failure (a full disk)
    the temp file is removed and an existing figure at `path` stays as it was."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    key = fingerprint(fig, fmt) if fmt == "png" else None
    if key is not None and png_text(path).get(FINGERPRINT) == key and (not svg or path.with_suffix(".svg").exists()):
        return Saved(path, caption, fig, svg)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = (path, path.with_suffix(".svg")) if svg else (path,)
    for p in paths:
        kind = p.suffix.lstrip(".") or "png"
        with atomic_file(p) as f:
            fig.savefig(f, dpi=DPI, format=kind, bbox_inches="tight",
                        metadata={FINGERPRINT: key} if key and kind == "png" else None)
    return Saved(path, caption, fig, svg)


class _Pickler(pickle.Pickler):
    """A figure's pickle, made the same in every process: transforms keep their parents keyed by id()."""

    def reducer_override(self, obj):
        from matplotlib.transforms import TransformNode

        if isinstance(obj, TransformNode):
            state = cast("dict[str, Any]", obj.__getstate__())
            state["_parents"] = list(state.get("_parents", {}).values())
            return copyreg.__newobj__, (type(obj),), state  # type: ignore[attr-defined]  # not in typeshed
        return NotImplemented


def fingerprint(fig: Figure, fmt: str) -> str | None:
    """A digest of everything the rendered file depends on, or None when the figure cannot be pickled."""
    import matplotlib

    buf = io.BytesIO(f"{matplotlib.__version__} {DPI} {fmt} tight\n".encode())
    buf.seek(0, io.SEEK_END)
    try:
        _Pickler(buf, protocol=5).dump(fig)
    except Exception:  # an artist that cannot be pickled: no fingerprint, always render
        return None
    return hashlib.sha256(buf.getvalue()).hexdigest()


def png_text(path: Path) -> dict[str, str]:
    """The tEXt entries of a PNG file ({} when it is missing or not a PNG)."""
    try:  # a figure of ours is a regular file (a link or a FIFO at its name is not, and is never read)
        data = read_regular(path, MAX_FIGURE_BYTES, "figure", follow=False)
    except (FileRefused, OSError):
        return {}
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return {}
    entries, pos = {}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"tEXt":
            key, _, value = data[pos + 8:pos + 8 + length].partition(b"\0")
            entries[key.decode("latin-1")] = value.decode("latin-1")
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return entries
