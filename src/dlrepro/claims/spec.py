"""A study's claims: the `[[claims]]` tables of a study file, read into `ClaimSpec`s.

    [[claims]]
    id = "moons-90"                                        # lower-case letters, digits, '.', '-' (unique in
                                                           # the study; at most 80)
    part = "1"                                             # optional: groups claims in the report (default:
                                                           # the study's name)
    text = "The NumPy MLP reaches 90% test accuracy on moons"
    match = { model = "mlp-numpy", dataset = "moons" }     # which trials; a list means any of its values
    settings = { epochs = 200 }                            # optional: the settings the claim is about; trials
                                                           # at other settings make it "not comparable"
    rule = "at_least"                                      # one of the rule kinds (dlrepro.claims.rules.RULES)
    metric = "test_acc"                                    # ... and the rule's parameters
    statistic = "final"
    value = 0.9
    reason = "..."                                         # optional: the wording of a "differs" verdict, with
                                                           # {lo}, {hi} or {mean} (no format spec) filled in

The rule and its parameters may also be one inline table: `rule = { kind = "at_least", metric = "test_acc",
value = 0.9 }`.

Here only the shape is checked (a table with these keys, of these types); the rule kinds and their
parameters, the metrics and whether `match` selects any trial are checked against the study before a sweep
runs (`dlrepro.studies.claim_checks.check_claims`), and again when the report judges the claims.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from dlrepro.errors import ConfigError

FIELDS = ("id", "part", "text", "match", "settings", "rule", "reason")   # every other key is a rule parameter
ID = re.compile(r"[a-z0-9][a-z0-9.-]*")
LONGEST = {"id": 80, "part": 80, "text": 1000, "reason": 1000}   # characters: a claim is a sentence, not a file
LARGEST = 1e12   # no number of a claim (a value, a threshold, a setting) is larger than this in size
PLACEHOLDERS = ("lo", "hi", "mean")   # what a reason may name: {lo} and {hi} ("around"), {mean} (bounds)
_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z]+)\}|[{}]")


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    text: str
    rule: str
    match: dict                                    # field -> value, or a tuple of values (any of them): as_match
    settings: dict = field(default_factory=dict)   # the reference's settings
    params: dict = field(default_factory=dict)     # the rule's parameters (reference values among them)
    part: str = ""
    reason: str = ""                               # a "differs" reason template (str.format on the rule's values)


def as_match(table: dict) -> dict:
    """A match table as `dlrepro.claims.evidence.matches` reads it: a list of values becomes a tuple (any of them)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}


def reason_parts(template: str) -> list[str | tuple[str]]:
    """A claim's own wording of 'differs' as literal text and placeholders ((name,)): only the bare names of
    PLACEHOLDERS, with no format spec or conversion ({mean:>9}, {mean!r} are refused), '{{' and '}}' for
    braces. ValueError naming what is wrong."""
    parts: list[str | tuple[str]] = []
    pos = 0
    for m in _TOKEN.finditer(template):
        parts.append(template[pos:m.start()])
        token, name = m.group(0), m.group(1)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif name in PLACEHOLDERS:
            parts.append((name,))
        else:
            shown = template[m.start():m.start() + 20]
            raise ValueError(f"reason: {shown!r} is not a placeholder; it may use {{lo}}, {{hi}} and {{mean}} as they "
                             "are (no format spec), and {{ and }} for a brace")
        pos = m.end()
    parts.append(template[pos:])
    return [p for p in parts if p]


def fill_reason(template: str, values: dict[str, str]) -> str:
    """The reason with its placeholders replaced by `values` ('?' for one the rule does not give); a template
    `reason_parts` refuses is kept as it was written."""
    try:
        parts = reason_parts(template)
    except ValueError:
        return template
    return "".join(p if isinstance(p, str) else values.get(p[0], "?") for p in parts)


def bad_number(value) -> str | None:
    """The first number in `value` (a parameter, a settings or match table) that is not finite or is larger
    in size than LARGEST, as written; None when there is none."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return next((b for b in map(bad_number, value) if b is not None), None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > LARGEST:
            text = str(value) if value.bit_length() < 200 else f"an integer of {len(str(abs(value)))} digits"
            return text
        if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= LARGEST):
            return repr(value)
    return None


def parse_claims(tables, where: str, study: str) -> tuple[ClaimSpec, ...]:
    """The `[[claims]]` array of a study file (`where` names the file in errors)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: claims must be [[claims]] tables")
    specs, seen = [], set()
    for n, t in enumerate(tables, 1):
        cid = t.get("id")
        name = f"{where}: claim {cid!r}" if isinstance(cid, str) else f"{where}: claim #{n}"
        if not isinstance(cid, str) or not ID.fullmatch(cid) or len(cid) > LONGEST["id"]:
            raise ConfigError(f"{name}: id must be lower-case letters, digits, '.' or '-' (at most "
                              f"{LONGEST['id']}, starting with a letter or digit)")
        if cid in seen:
            raise ConfigError(f"{name}: id is used twice")
        seen.add(cid)
        if isinstance(t.get("rule"), dict):   # rule = { kind = "at_least", metric = ..., ... }
            inline = dict(t["rule"])
            t = {**{k: v for k, v in t.items() if k != "rule"}, "rule": inline.pop("kind", None), **inline}
        for key in ("text", "rule"):
            if not isinstance(t.get(key), str) or not t[key].strip():
                raise ConfigError(f"{name}: {key} must be a non-empty string"
                                  + (" (or rule = { kind = \"at_least\", ... })" if key == "rule" else ""))
        for key in ("match", "settings"):
            if not isinstance(t.get(key, {}), dict) or (key == "match" and not t.get(key)):
                raise ConfigError(f"{name}: {key} must be a table{' naming the trials' if key == 'match' else ''}"
                                  ", e.g. { model = \"rnn\", input_length = 5 }")
        for key in ("part", "reason"):
            if not isinstance(t.get(key, ""), str):
                raise ConfigError(f"{name}: {key} must be a string")
        for key in ("text", "part", "reason"):
            if len(t.get(key, "")) > LONGEST[key]:
                raise ConfigError(f"{name}: {key} must be at most {LONGEST[key]:,} characters")
        params = {k: v for k, v in t.items() if k not in FIELDS}
        groups = params.get("groups")
        if isinstance(groups, dict) and all(isinstance(g, dict) for g in groups.values()):
            params["groups"] = {name: as_match(g) for name, g in groups.items()}   # the rule checks the shape
        specs.append(ClaimSpec(cid, t["text"].strip(), t["rule"], as_match(t["match"]), dict(t.get("settings", {})),
                               params, t.get("part") or study, t.get("reason", "")))
    return tuple(specs)
