"""The report's building blocks: tables and sections, rendered to Markdown and to self-contained HTML."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dlrepro.plotting import Saved
from dlrepro.report.tables import markdown_table, setting_text
from dlrepro.runs.load import Run
from dlrepro.train.config import LOCATION_FIELDS

# verdict -> (symbol, colour): the claims table shows verdicts at a glance
VERDICT_STYLE = {"reproduced": ("\u2714", "#1a7f37"), "differs": ("\u2718", "#c62828"),
                 "not comparable": ("\u2248", "#b26a00"), "not run": ("\u2013", "#777777")}


def md_text(text: object) -> str:
    """Text from a results folder (a claim's sentence or reason, a study's title or note) as one line of plain
    Markdown text: its newlines cannot start a block of their own (a heading, a list, a code fence), a block
    marker at its start is escaped, '[' opens no link and '<' no HTML tag."""
    line = HTML_TAG.sub("&lt;", " ".join(str(text).split())).replace("[", "\\[")
    numbered = re.match(r"(\d+)([.)])", line)
    if numbered:
        return f"{numbered[1]}\\{line[len(numbered[1]):]}"
    return "\\" + line if line[:1] in BLOCK_MARKERS else line


def md_paragraphs(text: str) -> str:
    """Text of several paragraphs (blank lines between them), each as `md_text`."""
    return "\n\n".join(md_text(p) for p in re.split(r"\n\s*\n", str(text).strip()) if p.strip())


BLOCK_MARKERS = set("#>*+-=|~`")
HTML_TAG = re.compile(r"<(?=[A-Za-z/!?])")   # a '<' that would open an HTML tag or comment in Markdown


def verdict_badge(verdict: str) -> str:
    symbol, _ = VERDICT_STYLE.get(verdict, ("", ""))
    return (f"<span class='verdict v-{verdict.replace(' ', '-')}'>{symbol} {html.escape(verdict)}</span>"
            if symbol else html.escape(verdict))


def verdict_legend_html() -> str:
    return "<p class='legend'>" + " &nbsp; ".join(verdict_badge(v) for v in VERDICT_STYLE) + "</p>"


@dataclass(frozen=True)
class Link:
    """A table cell linking to an anchor further down: Markdown shows `[text][anchor]` (a reference link whose
    target is defined at the end of the document, so a table stays narrow), HTML an <a href>. The anchor is
    made of letters, digits, '.' and '-' (a claim's id)."""
    text: str
    anchor: str

    def __str__(self) -> str:
        return f"[{md_text(self.text).replace(']', chr(92) + ']')}][{self.anchor}]"

    def html(self) -> str:
        return f"<a href='#{html.escape(self.anchor)}'>{html.escape(self.text)}</a>"


def _cell_html(c, is_verdict: bool) -> str:
    return c.html() if isinstance(c, Link) else verdict_badge(str(c)) if is_verdict else html.escape(str(c))


@dataclass
class Table:
    header: list[str]
    rows: list[list]
    caption: str = ""

    def _verdicts(self) -> set[int]:
        """The verdict column(s): "verdict", or one "verdict (<protocol>)" per protocol."""
        return {i for i, h in enumerate(self.header) if h == "verdict" or str(h).startswith("verdict (")}

    def markdown(self) -> str:
        verdict = self._verdicts()
        rows = [[f"{VERDICT_STYLE[c][0]} {c}" if i in verdict and c in VERDICT_STYLE else
                 HTML_TAG.sub("&lt;", c) if isinstance(c, str) else c for i, c in enumerate(r)]
                for r in self.rows]
        text = markdown_table(self.header, rows)
        return f"{text}\n\n{self.caption}\n" if self.caption else text + "\n"

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in self.header)
        verdict = self._verdicts()
        body = "".join("<tr>" + "".join(f"<td>{_cell_html(c, i in verdict)}</td>" for i, c in enumerate(row))
                       + "</tr>" for row in self.rows)
        caption = f"<p class='caption'>{html.escape(self.caption)}</p>" if self.caption else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{caption}"


@dataclass
class Section:
    """One part of the report: what was run (setup), the figures and the results tables."""
    title: str
    description: str = ""
    setup: Table | None = None
    figures: list[Saved] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self, root: Path) -> str:
        parts = [f"## {md_text(self.title)}", md_paragraphs(self.description)]
        parts += [md_text(n) for n in self.notes]
        if self.setup is not None:
            parts += ["### Setup (from the configs that were run)", self.setup.markdown()]
        if self.figures:
            parts.append("### Figures")
            for f in self.figures:
                png, svg = f.path.relative_to(root).as_posix(), f.svg.relative_to(root).as_posix()
                parts.append(f"![{f.caption}]({png})" + (f"\n\n{f.caption} ([SVG]({svg}))" if f.with_svg else ""))
        if self.tables:
            parts += ["### Results"] + [t.markdown() for t in self.tables]
        return "\n\n".join(p for p in parts if p) + "\n"

    def html(self) -> str:
        parts = [f"<h2>{html.escape(self.title)}</h2>", f"<p>{html.escape(self.description.strip())}</p>"]
        parts += [f"<p class='note'>{html.escape(n)}</p>" for n in self.notes]
        if self.setup is not None:
            parts += ["<h3>Setup (from the configs that were run)</h3>", self.setup.html()]
        if self.figures:
            parts.append("<h3>Figures</h3>")
            for f in self.figures:
                data = base64.b64encode(Path(f.path).read_bytes()).decode()
                parts.append(f"<figure><img alt='{html.escape(f.caption)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(f.caption)}</figcaption></figure>")
        if self.tables:
            parts += ["<h3>Results</h3>"] + [t.html() for t in self.tables]
        return "\n".join(parts)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}figcaption,.caption,.note{color:#555;font-size:0.9em}
.verdict{font-weight:600;white-space:nowrap}.v-reproduced{color:#1a7f37}.v-differs{color:#c62828}
.v-not-comparable{color:#b26a00}.v-not-run{color:#777}.summary{background:#f7f7f7;padding:0.5em 1em}"""


def render_markdown(title: str, intro: list[str], sections: Sequence[Section], root: Path,
                    summary: Sequence[str] = (), glance: Table | None = None) -> str:
    """`glance`: a table shown right after the summary (the verdict of every claim); its links are defined
    at the end of the document."""
    top = ["## Summary", "\n".join(f"- {md_text(p)}" for p in summary)] if summary else []
    if glance is not None:
        top += ["## Verdicts at a glance", glance.markdown()]
    links = sorted({c.anchor for t in ([glance] if glance else []) for r in t.rows for c in r if isinstance(c, Link)})
    refs = ["\n".join(f"[{a}]: #{a}" for a in links)] if links else []
    return "\n\n".join([f"# {title}", *top, *intro, *(s.markdown(root) for s in sections), *refs]) + (
        "\n" if links else "")


def render_html(title: str, intro: list[str], sections: Sequence[Section], summary: Sequence[str] = (),
                glance: Table | None = None) -> str:
    """`summary`: the opening lines (the verdict counts first), shown with the verdicts' legend."""
    top = ("<div class='summary'><h2>Summary</h2>" + "".join(f"<p>{html.escape(p)}</p>" for p in summary)
           + verdict_legend_html() + "</div>") if summary else ""
    if glance is not None:
        top += "<h2>Verdicts at a glance</h2>" + glance.html()
    body = "\n".join([f"<h1>{html.escape(title)}</h1>", top, *(f"<p>{html.escape(p)}</p>" for p in intro),
                      *(s.html() for s in sections)])
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def setup_table(runs: list[Run]) -> Table:
    """Every setting of the runs: its value when shared, the values it took when it varied (a grid axis)."""
    keys = list(dict.fromkeys(k for r in runs for k in r.cfg if k not in (*LOCATION_FIELDS, "plugin_info")))
    rows = []
    for key in keys:
        values = []
        for r in runs:
            v = r.cfg.get(key)
            if v not in values:
                values.append(v)
        text = ", ".join(setting_text(key, v) for v in values)
        rows.append([key, text, "varied" if len(values) > 1 else ""])
    return Table(["setting", "value(s)", ""], rows, caption=f"{len(runs)} run(s).")
