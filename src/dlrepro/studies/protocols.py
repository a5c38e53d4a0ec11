"""Protocols: named sets of settings under which a study's trials run ("as the paper states" / "as the code ran").

    [protocols.as-run]
    description = "as the reference's code ran"
    fixed = { split = "first" }                 # settings of every trial under this protocol
    only = { lr = 0.001 }                       # optional: the protocol runs only these trials (a list: any of
                                                # its values); the others run under the stated protocol only
    [[protocols.as-run.when]]                   # optional, repeatable: settings of the trials that match
    match = { model = "mlp-torch" }
    fixed = { outputs = "sigmoid", order = "none" }

    [profiles.quick]
    protocols = ["stated", "as-run"]            # which protocols the profile runs (default: every one)

`stated` is the protocol of the study's own settings (fixed, grid, profile): it is always there, comes first,
and changes nothing (a `[protocols.stated]` table may give it a description, nothing else). Another protocol
takes each trial of the stated protocol (after the profile and `--set`), applies its `fixed`, then the `fixed`
of each `when` whose `match` the stated trial's settings meet (in file order, a later one winning), and keeps
the keys `--set` names as `--set` gave them (the command line has the last word). `only` and `match` are
matched against the stated trial. A trial that comes out equal under two protocols runs once and belongs to
both.

A protocol's single-setting protocols (`Protocol.singles`, run by `--explain`) each switch one of its settings
alone: `as-run:outputs` is the stated trial with the `outputs` that `as-run` gives it and every other setting as
stated. A claim that differs as stated and reproduces under `as-run` is explained by the setting(s) whose single
protocol reproduces it too. Their names hold a ':', which no declared protocol's name may.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dlrepro.claims.evidence import matches
from dlrepro.claims.protocols import SINGLE, STATED
from dlrepro.claims.spec import as_match
from dlrepro.errors import ConfigError
from dlrepro.train.config import config_from_dict

KEYS = ("description", "fixed", "only", "when")


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str = ""
    fixed: dict = field(default_factory=dict)
    only: dict | None = None                       # field -> value or tuple of values (any); None: every trial
    when: tuple[tuple[dict, dict], ...] = ()       # (match, fixed) pairs

    def applies(self, cfg: dict) -> bool:
        """Whether the protocol runs the stated trial `cfg` (its `only`)."""
        return self.only is None or matches(cfg, self.only)

    def changes(self, cfg: dict) -> dict:
        """The settings this protocol gives the stated trial `cfg` (its fixed and the matching `when` parts)."""
        out = dict(self.fixed)
        for match, fixed in self.when:
            if matches(cfg, match):
                out.update(fixed)
        return out

    def changes_some(self, stated: list[tuple[dict, str]], sets: dict) -> bool:
        """Whether this protocol gives some of the `stated` trials (their settings and ids) other settings than
        they have, the keys of `sets` (--set, which has the last word) left out."""
        for base, name in stated:
            changes = {k: v for k, v in self.changes(base).items() if k not in sets}
            if self.applies(base) and changes:
                try:
                    if config_from_dict({**base, **changes}).default_name() != name:
                        return True
                except ConfigError:
                    return True   # an invalid setting: the study's `variants` names it
        return False

    def setting_names(self) -> list[str]:
        """Every setting this protocol sets (in its fixed, then its `when` parts), each once."""
        return list(dict.fromkeys([*self.fixed, *(k for _, fixed in self.when for k in fixed)]))

    def singles(self) -> list[Protocol]:
        """One protocol per setting this one sets: that setting as this protocol gives it (to the same trials,
        its `only` and `when` kept), every other setting as stated."""
        return [Protocol(f"{self.name}{SINGLE}{key}", f"as stated, but {key} as under {self.name}",
                         {key: self.fixed[key]} if key in self.fixed else {}, self.only,
                         tuple((match, {key: fixed[key]}) for match, fixed in self.when if key in fixed))
                for key in self.setting_names()]


def parse_protocols(tables: dict, where: str, is_field) -> dict[str, Protocol]:
    """The `[protocols.*]` tables of a study file (types already checked by the schema), `stated` first.
    `is_field(name)` tells whether a name is a run setting (a key of `only` or `match` must be one)."""
    out = {STATED: Protocol(STATED, "the settings as the study states them")}
    for name, t in tables.items():
        at = f"{where}: [protocols.{name}]"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or len(name) > 64:
            raise ConfigError(f"{at}: a protocol's name must be letters, digits, '_', '-' or '.' (at most 64)")
        bad = sorted(set(t) - set(KEYS))
        if bad:
            raise ConfigError(f"{at} has unknown key(s) {', '.join(bad)}; allowed: {', '.join(KEYS)}")
        if name == STATED:
            if set(t) - {"description"}:
                raise ConfigError(f"{at}: the stated protocol is the study's own settings; it takes only a "
                                  "description (put its settings in [fixed] and [grid])")
            out[STATED] = Protocol(STATED, t.get("description", "").strip() or out[STATED].description)
            continue
        when = []
        for n, part in enumerate(t.get("when", []), 1):
            bad = sorted(set(part) - {"match", "fixed"})
            if bad or not part.get("match"):
                raise ConfigError(f"{at}: when #{n} must be a table of match = {{...}} and fixed = {{...}}"
                                  + (f" (unknown key(s) {', '.join(bad)})" if bad else " (its match is empty)"))
            when.append((_tuples(part["match"], f"{at}: when #{n} match", is_field), dict(part.get("fixed", {}))))
        only = _tuples(t["only"], f"{at}: only", is_field) if "only" in t else None
        if not t.get("fixed") and not any(f for _, f in when):
            raise ConfigError(f"{at}: sets no setting; give it fixed = {{...}} or a [[protocols.{name}.when]] "
                              "with fixed = {...}")
        out[name] = Protocol(name, t.get("description", "").strip(), dict(t.get("fixed", {})), only, tuple(when))
    return out


def parse_profile_protocols(value, where: str, known: dict) -> tuple[str, ...] | None:
    """A profile's `protocols = [...]` (None when it names none: every protocol runs)."""
    if value is None:
        return None
    if not value:
        raise ConfigError(f"{where}: protocols must name at least one protocol (e.g. [\"stated\"])")
    unknown = [p for p in value if p not in known]
    if unknown:
        raise ConfigError(f"{where}: protocols: unknown protocol {unknown[0]!r}; the study names "
                          f"{', '.join(known)}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: protocols names a protocol twice")
    return tuple(value)


def _tuples(match: dict, where: str, is_field) -> dict:
    if not match:
        raise ConfigError(f"{where}: the table is empty; name the settings to match, e.g. {{ model = \"rnn\" }}")
    for key, value in match.items():
        if not is_field(key):
            raise ConfigError(f"{where}: {key!r} is not a run setting")
        if isinstance(value, list) and not value:
            raise ConfigError(f"{where}: {key} = [] matches nothing")
    return as_match(match)
