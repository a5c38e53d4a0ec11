"""Plain-text / Markdown tables, shared by the CLI and the report."""

from __future__ import annotations


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
