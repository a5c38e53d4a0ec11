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
    per_seed: str = ""       # a claim comparing groups seed by seed: each seed's number, in the claim's unit
    verdict: str = "not run"
    reason: str = ""
    runs: list[str] = field(default_factory=list)
    protocols: dict = field(default_factory=dict)  # protocol -> its verdict, reason, measured, runs (when several ran)

    def to_dict(self) -> dict:
        """As claims.json holds it: strict JSON, so a number a claim's file gave that JSON cannot hold (nan, inf)
        or that no reader takes as a number (an integer of hundreds of digits) is its text; a measured one, null.
        The verdicts under other protocols only when some ran (a folder of the stated protocol alone: as before)."""
        d = asdict(self)
        out = {**json_safe(d), "measured": json_safe(d["measured"], lambda x: None)}
        if not self.protocols:
            del out["protocols"]
        else:
            out["protocols"] = {name: {**json_safe(p), "measured": json_safe(p.get("measured"), lambda x: None)}
                                for name, p in d["protocols"].items()}
        return out

    def not_run(self, reason: str) -> None:
        self.verdict, self.reason = "not run", reason

    def settings_text(self) -> str:
        return ", ".join(f"{k} {show(v)}" for k, v in self.settings.items())


def json_safe(value, instead=str):
    """`value` with every float that is not finite and every integer beyond 2**53 replaced by `instead(it)`."""
    if isinstance(value, dict):
        return {k: json_safe(v, instead) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, instead) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return instead(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 53:
        return instead(value) if instead is not str or value.bit_length() < 200 else "a very long integer"
    return value


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
