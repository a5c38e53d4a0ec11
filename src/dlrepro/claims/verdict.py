"""A judged claim: its verdict, its reason and the numbers it was judged on (what claims.json holds per
claim, as claims.schema.json beside this module describes; dlrepro.claims.rules judges them)."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

from dlrepro.text import show

VERDICTS = ("reproduced", "differs", "not comparable", "not run")
SCHEMA_VERSION = 2
PROTOCOLS_SCHEMA_VERSION = 3   # claims.json with verdicts under several protocols ("protocols")


@dataclass
class Claim:
    id: str
    part: str
    text: str
    settings: dict           # the reference's settings this claim is about
    reference: dict          # the reference's value(s) and the rule's other parameters
    rule: str                # how ours is compared with the reference
    reference_text: str = ""
    measured: dict = field(default_factory=dict)   # {"mean", "std", "values", "n"} (+ named extras)
    measured_text: str = "-"
    verdict: str = "not run"
    reason: str = ""
    runs: list[str] = field(default_factory=list)
    protocols: dict = field(default_factory=dict)  # protocol -> its verdict, reason, measured, runs (when several ran)

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.protocols:   # a folder of the stated protocol alone: claims.json as before
            del d["protocols"]
        return d

    def not_run(self, reason: str) -> None:
        self.verdict, self.reason = "not run", reason

    def settings_text(self) -> str:
        return ", ".join(f"{k} {show(v)}" for k, v in self.settings.items())


def stats(values) -> dict:
    """Numbers over seeds, for claims.json: mean, std (None for one value), the values, n."""
    kept = [float(v) for v in values if v is not None and not math.isinf(v)]
    return {"mean": statistics.mean(kept) if kept else None,
            "std": statistics.stdev(kept) if len(kept) > 1 else None, "values": kept, "n": len(kept)}


def stats_text(m: dict, digits: int = 3) -> str:
    if not m["n"]:
        return "n/a"
    text = f"{m['mean']:.{digits}f}" + (f" +- {m['std']:.{digits}f}" if m["std"] is not None else "")
    return f"{text} ({m['n']} seed{'s' if m['n'] > 1 else ''})"


def counts(claims: list[Claim]) -> dict[str, int]:
    return {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
