"""How the report shows judged claims (dlrepro.claims.verdict): one compact table at the top, the details of
each claim further down."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlrepro.claims.protocols import changed_text
from dlrepro.claims.verdict import Claim
from dlrepro.report.document import VERDICT_STYLE, Link, Section, Table, verdict_badge


def anchor(claim: Claim) -> str:
    return f"claim-{claim.id}"


def ours(claim: Claim) -> str:
    """The measured number in short (the mean over seeds, +- their std): the glance table's 'ours'."""
    m = claim.measured
    if not m or not m.get("n"):
        return "never" if m.get("never") else "-"
    big = abs(m["mean"]) >= 10

    def short(x: float) -> str:
        return f"{x:,.0f}" if big else f"{x:.3f}"
    by = next((v for k, v in m.items() if k.startswith("by_") and k != "by_setting"), None)
    if by:   # a statistic along a grid axis: its mean at each value
        return " / ".join(f"{s['mean']:,.0f}" if s["n"] else "never" for s in by.values())
    if "evaluations_after" in m:
        return f"{sum(m['values']):.0f} dips"
    text = short(m["mean"]) + (f" +- {short(m['std'])}" if m.get("std") else "")
    return text + (f", {m['never']} never" if m.get("never") else "")


def glance_table(claims: list[Claim], protocols: list[str] | None = None) -> Table:
    """The claims at a glance; with several `protocols`, ours and the verdict under each, side by side."""
    caption = ("Each claim links to its details (settings, rule, reason, runs) further down.\n'ours': the mean over "
               "seeds (+- their std).")
    if not protocols or len(protocols) < 2:
        return Table(["part", "claim", "reference", "ours", "verdict"],
                     [[c.part, Link(c.id, anchor(c)), c.reference_text, ours(c), c.verdict] for c in claims],
                     caption=caption)
    rest = protocols[1:]
    header = ["part", "claim", "reference", "ours", f"verdict ({protocols[0]})"]
    for name in rest:
        header += [f"ours ({name})", f"verdict ({name})"]
    rows = []
    for c in claims:
        row = [c.part, Link(c.id, anchor(c)), c.reference_text, ours(c), c.verdict]
        for name in rest:
            p = c.protocols.get(name)
            row += [ours(Claim(**{**_fields(c), "measured": p["measured"]})), p["verdict"]] if p else ["-", "-"]
        rows.append(row)
    return Table(header, rows, caption=caption + " A claim is judged under each protocol from that protocol's "
                 "runs only ('-': its study did not run the protocol).")


def _fields(c: Claim) -> dict:
    return {f: getattr(c, f) for f in c.__dataclass_fields__}


@dataclass
class ClaimDetails(Section):
    """A section of the report with each claim's details: text, settings, rule, our measurement, reason, runs."""
    claims: list[Claim] = field(default_factory=list)

    def _fields(self, c: Claim) -> list[tuple[str, str]]:
        rows = [("settings", c.settings_text() or "-"), ("reference", f"{c.reference_text} (rule: {c.rule})"),
                ("ours", c.measured_text), ("reason", c.reason or "-"), ("runs", ", ".join(c.runs) or "-")]
        for name, p in list(c.protocols.items())[1:]:   # the stated verdict is the claim's own
            changed = changed_text(p["changed"])
            rows.append((f"under {name}", f"{p['verdict']}; ours {p['measured_text']}"
                         + (f"; {p['reason']}" if p["reason"] else "")
                         + (f"; its runs differ from the stated ones by {changed}" if changed else "")
                         + (f"; runs {', '.join(p['runs'])}" if p["runs"] else "")))
        return rows

    def markdown(self, root=None) -> str:
        parts = [f"## {self.title}", self.description]
        for c in self.claims:
            symbol = VERDICT_STYLE.get(c.verdict, ("",))[0]
            parts += [f"### <a id=\"{anchor(c)}\"></a>{c.id}: {symbol} {c.verdict}", c.text,
                      "\n".join(f"- {k}: {v}" for k, v in self._fields(c))]
        return "\n\n".join(p for p in parts if p) + "\n"

    def html(self) -> str:
        import html

        parts = [f"<h2>{html.escape(self.title)}</h2>", f"<p>{html.escape(self.description)}</p>"]
        for c in self.claims:
            rows = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in self._fields(c))
            parts.append(f"<h3 id='{html.escape(anchor(c))}'>{html.escape(c.id)}: {verdict_badge(c.verdict)}</h3>"
                         f"<p>{html.escape(c.text)}</p><table class='claim'>{rows}</table>")
        return "\n".join(parts)
