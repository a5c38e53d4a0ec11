"""How the report shows judged claims (dlrepro.claims.verdict): one compact table at the top, the details of
each claim further down."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlrepro.claims.protocols import alone_text, changed_text, parent, single_setting
from dlrepro.claims.verdict import Claim
from dlrepro.report.document import VERDICT_STYLE, Link, Section, Table, md_paragraphs, md_text, verdict_badge


def anchor(claim: Claim) -> str:
    return f"claim-{claim.id}"


def ours(claim: Claim) -> str:
    """The measured number in short, in the claim's unit: the mean over seeds (+- their std), each seed's epoch
    or step for a claim comparing two groups seed by seed, the mean at each value of a grid axis; a seed that
    never gets there is said, and makes its mean 'never'."""
    m = claim.measured
    if not m or not m.get("n"):
        return "never" if m.get("never") else "-"
    big = abs(m["mean"]) >= 10

    def short(x: float) -> str:
        return f"{x:,.0f}" if big else f"{x:.3f}"
    axis = next((k for k in m if k.startswith("by_") and k != "by_setting"), None)
    if axis:   # a statistic along a grid axis: its mean at each value (never when a seed never got there)
        never = m.get(f"never_{axis}") or {}
        return " / ".join("never" if never.get(k) or not s["n"] else f"{s['mean']:,.0f}" for k, s in m[axis].items())
    if "evaluations_after" in m:
        return f"{sum(m['values']):.0f} dips" + (f", {m['never']} seed(s) never got there" if m.get("never") else "")
    if claim.per_seed:
        return claim.per_seed
    never = m.get("never") if isinstance(m.get("never"), int) else 0
    if never:
        return f"never ({never} of {m['n'] + never} seeds; the others {short(m['mean'])})"
    return short(m["mean"]) + (f" +- {short(m['std'])}" if m.get("std") else "")


def glance_table(claims: list[Claim], protocols: list[str] | None = None) -> Table:
    """The claims at a glance; with several `protocols`, ours and the verdict under each, side by side, and where
    a protocol's single-setting protocols ran (`--explain`), the setting(s) that alone give its verdict."""
    caption = ("Each claim links to its details (id, settings, rule, reason, runs) further down.\n'ours': the mean "
               "over seeds (+- their std), or each seed's where the claim compares seeds.")
    if not protocols or len(protocols) < 2:
        return Table(["part", "claim", "reference", "ours", "verdict"],
                     [[c.part, Link(c.text, anchor(c)), c.reference_text, ours(c), c.verdict] for c in claims],
                     caption=caption)
    rest = [n for n in protocols[1:] if single_setting(n) is None]
    explained = [n for n in rest if any(parent(m) == n for m in protocols)]
    header = ["part", "claim", "reference", "ours", f"verdict ({protocols[0]})"]
    for name in rest:
        header += [f"ours ({name})", f"verdict ({name})"] + ([f"alone ({name})"] if name in explained else [])
    rows = []
    for c in claims:
        row = [c.part, Link(c.text, anchor(c)), c.reference_text, ours(c), c.verdict]
        for name in rest:
            p = c.protocols.get(name)
            row += [ours(Claim(**{**_fields(c), "measured": p["measured"]})), p["verdict"]] if p else ["-", "-"]
            row += [alone_text(c, name)] if name in explained else []
        rows.append(row)
    alone = (" 'alone': the setting(s) of that protocol that, switched alone from the stated settings, give the "
             "claim its verdict there ('-': the verdict does not change).") if explained else ""
    return Table(header, rows, caption=caption + " A claim is judged under each protocol from that protocol's "
                 "runs only ('-': its study did not run the protocol)." + alone)


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
        parts = [f"## {md_text(self.title)}", md_paragraphs(self.description)]
        for c in self.claims:   # the claim's sentence and reason are a results folder's text: rendered as text
            symbol = VERDICT_STYLE.get(c.verdict, ("",))[0]
            parts += [f"### <a id=\"{anchor(c)}\"></a>{c.id}: {symbol} {c.verdict}", md_text(c.text),
                      "\n".join(f"- {k}: {md_text(v)}" for k, v in self._fields(c))]
        return "\n\n".join(p for p in parts if p) + "\n"

    def html(self) -> str:
        import html

        parts = [f"<h2>{html.escape(self.title)}</h2>", f"<p>{html.escape(self.description)}</p>"]
        for c in self.claims:
            rows = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in self._fields(c))
            parts.append(f"<h3 id='{html.escape(anchor(c))}'>{html.escape(c.id)}: {verdict_badge(c.verdict)}</h3>"
                         f"<p>{html.escape(c.text)}</p><table class='claim'>{rows}</table>")
        return "\n".join(parts)
