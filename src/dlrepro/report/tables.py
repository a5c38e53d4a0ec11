"""Plain-text / Markdown tables and number formatting shared by the CLI and the report."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def mean_std(values: Iterable[float | None], digits: int = 3) -> str:
    """'0.912 +- 0.004' over seeds ('0.912' for one value, 'n/a' for none; None values are left out)."""
    present = [v for v in values if v is not None]
    if not present:
        return "n/a"
    if len(present) == 1:
        return f"{present[0]:.{digits}f}"
    return f"{statistics.mean(present):.{digits}f} +- {statistics.stdev(present):.{digits}f}"


def setting_text(key: str, value) -> str:
    """A run setting as a table shows it: a user's classes (`plugins`) by their import paths (their files'
    sha256 are in the run's config.json and its id)."""
    if key == "plugins" and isinstance(value, dict):
        return ", ".join(f"{k} {v.get('path') if isinstance(v, dict) else v}" for k, v in value.items())
    return str(value)


def cell(c) -> str:
    """A table cell as Markdown text: one line, a '|' escaped (it would end the cell)."""
    return " ".join(str(c).splitlines()).replace("|", "\\|")


def markdown_table(header: list[str], rows: list[list]) -> str:
    cells = [[cell(c) for c in header]] + [[cell(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
