"""A study's claims: the `[[claims]]` tables of a study file, read into `ClaimSpec`s.

    [[claims]]
    id = "moons-90"                                        # letters, digits, '.', '-' (unique in the study)
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
    reason = "..."                                         # optional: the wording of a "differs" verdict

The rule and its parameters may also be one inline table: `rule = { kind = "at_least", metric = "test_acc",
value = 0.9 }`.

Here only the shape is checked (a table with these keys, of these types); the rule kinds and their
parameters, the metrics and whether `match` selects any trial are checked against the study before a sweep
runs (`dlrepro.studies.claim_checks.check_claims`), and again when the report judges the claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dlrepro.errors import ConfigError

FIELDS = ("id", "part", "text", "match", "settings", "rule", "reason")   # every other key is a rule parameter


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


def parse_claims(tables, where: str, study: str) -> tuple[ClaimSpec, ...]:
    """The `[[claims]]` array of a study file (`where` names the file in errors)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where}: claims must be [[claims]] tables")
    specs, seen = [], set()
    for n, t in enumerate(tables, 1):
        cid = t.get("id")
        name = f"{where}: claim {cid!r}" if isinstance(cid, str) else f"{where}: claim #{n}"
        if not isinstance(cid, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", cid):
            raise ConfigError(f"{name}: id must be lower-case letters, digits, '.' or '-'")
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
        params = {k: v for k, v in t.items() if k not in FIELDS}
        groups = params.get("groups")
        if isinstance(groups, dict) and all(isinstance(g, dict) for g in groups.values()):
            params["groups"] = {name: as_match(g) for name, g in groups.items()}   # the rule checks the shape
        specs.append(ClaimSpec(cid, t["text"].strip(), t["rule"], as_match(t["match"]), dict(t.get("settings", {})),
                               params, t.get("part") or study, t.get("reason", "")))
    return tuple(specs)
