"""Studies as TOML files: fixed settings, grid axes and profiles, expanded into run configs.

The built-in studies are package data beside this module (`dlrepro/studies/<name>.toml`, read with
importlib.resources, so an installed wheel has them); `load_study` takes such a name or a path to a file.

    [study]    name, title, description
    [fixed]    settings shared by every trial (the `dlrepro train` flag names, with _ for -)
    [grid]     axes; every combination is one trial. An axis joining field names with "_" (for example
               optimizer_lr = [["adam", 1e-4], ["sgd", 1e-4]]) sets those fields together.
    [profiles.<name>]  `fixed = {...}` and `grid = {...}` overrides: smoke (seconds), quick (minutes on
               2 CPU cores), full (the reference settings). A joined axis in a profile replaces the
               base axes of the fields it sets.
    [[claims]] the claims the report judges from the study's runs (read by dlrepro.claims.spec).
    [protocols.<name>]  named sets of settings every trial also runs under (dlrepro.studies.protocols); a
               profile's `protocols = [...]` says which run (default: every one; `stated` alone when the
               file names none).

A file is checked completely before anything runs: unknown tables or keys, an unknown model, an empty
axis or a bad value raise ConfigError naming the file, the key and the reason.

`--set key=value` overrides (`Study.with_sets`) apply on top of a profile: a single value sets the field in
every trial (a plain axis of that field is dropped, and it wins over a joined axis that sets the field too);
a list replaces the axis of that name, or makes one. Trials that end up identical run once.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from dlrepro.claims.spec import ClaimSpec, parse_claims
from dlrepro.errors import ConfigError
from dlrepro.studies import schema
from dlrepro.studies.protocols import SINGLE, STATED, Protocol, parse_profile_protocols, parse_protocols
from dlrepro.train.config import CONFIG_TYPES, RunConfig, config_from_dict
from dlrepro.train.plugins import RECORDED

PROFILES = ("smoke", "quick", "full")
DEFAULT_PROFILE = "quick"  # what `sweep` and `reproduce` run unless told


def builtin_names() -> list[str]:
    """The studies shipped in the package, by name."""
    return sorted(f.name.removesuffix(".toml") for f in resources.files(__package__).iterdir()
                  if f.name.endswith(".toml"))


def builtin_source(name: str) -> str:
    """The TOML text of a built-in study (what `dlrepro studies --show NAME` prints)."""
    if name not in builtin_names():
        raise ConfigError(f"unknown study {name!r}; choose a built-in study ({', '.join(builtin_names())}) "
                          "or give the path to a .toml file")
    return (resources.files(__package__) / f"{name}.toml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    description: str
    path: Path
    fixed: dict
    grid: dict
    profiles: dict
    source: str = ""        # the TOML text, as read
    builtin: bool = False   # shipped in the package (loaded by name)
    sets: dict = dataclasses.field(default_factory=dict)  # --set overrides, key -> value
    claims: tuple[ClaimSpec, ...] = ()                     # its [[claims]] tables
    protocols: dict = dataclasses.field(default_factory=lambda: {STATED: Protocol(STATED)})  # name -> Protocol

    def settings(self, profile: str) -> tuple[dict, dict]:
        """(fixed, grid) with the profile's overrides and then the --set overrides applied."""
        if profile not in self.profiles:
            raise ConfigError(f"{self.path}: profile {profile!r} is not defined; "
                              f"choose from {', '.join(self.profiles)}")
        over = self.profiles[profile]
        grid = dict(self.grid)
        for axis in over.get("grid", {}):  # a joined axis replaces the axes of the fields it sets
            for name in _joined_fields(axis):
                grid.pop(name, None)
        fixed, grid = {**self.fixed, **over.get("fixed", {})}, {**grid, **over.get("grid", {})}
        for key, value in self.sets.items():
            if _is_axis_value(key, value, _models(fixed, grid)):
                fixed.pop(key, None)
                grid[key] = value
            else:
                grid.pop(key, None)
                fixed[key] = value
        return fixed, grid

    def trials(self, profile: str, protocol: str = STATED) -> list[RunConfig]:
        """Every grid point as a validated config under `protocol`, in grid order (a point equal to an earlier
        one is left out); a protocol's `only` leaves out the points it does not run."""
        return self._stated(profile) if protocol == STATED else protocol_configs(self.variants(profile), protocol)

    def _stated(self, profile: str) -> list[RunConfig]:
        fixed, grid = self.settings(profile)
        scalar_sets = {k: fixed[k] for k in self.sets if k in fixed}  # they win over joined axes
        schema.check_grid_size(f"{self.path} ({self.describe(profile)})", grid)
        axes = list(grid.items())
        configs, seen = [], set()
        for combo in itertools.product(*(values for _, values in axes)):
            d = dict(fixed)
            for (axis, _), value in zip(axes, combo, strict=True):
                d.update(_axis_assignment(self.path, axis, value))
            d.update(scalar_sets)
            try:
                cfg = config_from_dict(d)
            except ConfigError as exc:
                raise ConfigError(f"{self.path} ({self.describe(profile)}): {exc}") from None
            if cfg.default_name() not in seen:
                seen.add(cfg.default_name())
                configs.append(cfg)
        return configs

    def profile_protocols(self, profile: str) -> tuple[str, ...]:
        """The protocols `profile` runs, stated first (default: every protocol of the study)."""
        self.settings(profile)  # an undefined profile: ConfigError
        return self.profiles[profile].get("protocols") or tuple(self.protocols)

    def explaining(self) -> Study:
        """This study as `--explain` sweeps it: each protocol but the stated one followed by its single-setting
        protocols (`Protocol.singles`), in the study and in every profile that runs it, less those that change
        no trial of that profile (a setting the protocol gives its stated value)."""
        singles = {n: p.singles() for n, p in self.protocols.items() if n != STATED and SINGLE not in n}
        protocols = {}
        for name, p in self.protocols.items():
            protocols[name] = p
            protocols.update({s.name: s for s in singles.get(name, [])})
        profiles = {}
        for name, over in self.profiles.items():
            chosen = over.get("protocols") or tuple(self.protocols)
            try:
                stated: list[tuple[dict, str]] | None = [(c.to_dict(), c.default_name()) for c in self._stated(name)]
            except ConfigError:   # a profile that the --set overrides do not fit: its trials name the problem
                stated = None
            profiles[name] = {**over, "protocols": tuple(dict.fromkeys(
                m for n in chosen for m in (n, *(s.name for s in singles.get(n, [])
                                                 if stated is None or s.changes_some(stated, self.sets)))))}
        return dataclasses.replace(self, protocols=protocols, profiles=profiles)

    def variants(self, profile: str) -> list[dict[str, RunConfig]]:
        """Per stated trial (grid order): protocol -> its config under each protocol of `profile` that runs it."""
        names = self.profile_protocols(profile)
        out = []
        for cfg in self._stated(profile):
            base = cfg.to_dict()
            v = {STATED: cfg}
            for name in names:
                p = self.protocols[name]
                if name == STATED or not p.applies(base):
                    continue
                changes = {k: val for k, val in p.changes(base).items() if k not in self.sets}
                try:
                    v[name] = config_from_dict({**base, **changes})
                except ConfigError as exc:
                    raise ConfigError(f"{self.path} ({self.describe(profile)}, protocol {name}): {exc}") from None
            out.append(v)
        return out

    def protocol_trials(self, profile: str) -> dict[str, list[RunConfig]]:
        """protocol -> its trials, for each protocol `profile` runs (its grid points' variants made once)."""
        variants = self.variants(profile)
        return {name: protocol_configs(variants, name) for name in self.profile_protocols(profile)}

    def all_trials(self, profile: str) -> list[RunConfig]:
        """What a sweep of `profile` runs: the trials of each of its protocols, once each (stated first)."""
        found: dict[str, RunConfig] = {}
        for trials in self.protocol_trials(profile).values():
            found.update({c.default_name(): c for c in trials if c.default_name() not in found})
        return list(found.values())

    def describe(self, profile: str) -> str:
        """'profile smoke' or 'profile smoke, --set steps=100 seed=[0, 1]'."""
        sets = " ".join(f"{k}={_toml_text(v)}" for k, v in self.sets.items())
        return f"profile {profile}" + (f", --set {sets}" if sets else "")

    def keys(self, profile: str) -> set[str]:
        """What --set may name under `profile`: the settings of the study's model(s) and its grid axes."""
        fixed, grid = self.settings(profile)
        return set().union(*(_fields_of(m) for m in _models(fixed, grid))) | set(grid)

    def with_sets(self, sets: dict, profile: str) -> Study:
        """This study with `--set` overrides (key -> value, see `parse_set`), checked under `profile`:
        an unknown key or a bad value raises ConfigError."""
        _refuse_recorded("--set", sets)
        known = self.keys(profile)
        for key, value in sets.items():
            if key not in known:
                raise ConfigError(f"--set {key}: not a setting or grid axis of study {self.name} ({profile}); "
                                  f"it has: {', '.join(sorted(known))}")
            if not _is_field(key) and not (isinstance(value, list) and value):
                raise ConfigError(f"--set {key}: {key!r} is a joined grid axis; give a non-empty list of "
                                  f"[{', '.join(_joined_fields(key))}] values")
            if isinstance(value, list) and not value:
                raise ConfigError(f"--set {key}=[]: an axis needs at least one value")
            schema.check_value(key, value, _is_axis_value(key, value, _models(*self.settings(profile))))
        study = dataclasses.replace(self, sets={**self.sets, **sets})
        fixed, grid = study.settings(profile)
        for key in sets:
            if key in grid and _is_field(key):
                joined = [a for a in grid if a != key and key in _joined_fields(a)]
                if joined:
                    raise ConfigError(f"--set {key}: the grid axis {joined[0]!r} sets {key!r} too; give one "
                                      f"value, or --set {joined[0]}=[...] to replace that axis")
        _check_keys(self.path, profile, fixed, grid)
        study.variants(profile)
        return study


def protocol_configs(variants: list[dict[str, RunConfig]], protocol: str) -> list[RunConfig]:
    """A protocol's trials from a profile's `Study.variants`, in grid order (a point equal to an earlier one
    left out)."""
    return list({c.default_name(): c for v in variants if (c := v.get(protocol)) is not None}.values())


def parse_set(text: str) -> tuple[str, object]:
    """'steps=2000' -> ('steps', 2000); the value is read as a TOML value (seed=[0,1,2], lr=1e-3,
    one_hot=true, cell="lstm"); a bare word is a string (cell=lstm, cell=my_pkg.cells:MyCell). '-' in the key
    reads as '_'."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip().replace("-", "_"), raw.strip()
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key) or not raw:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. steps=2000 or seed=[0,1,2]")
    try:
        doc = tomllib.loads(f"value = {raw}")
    except tomllib.TOMLDecodeError:
        doc = {"value": raw} if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]*", raw) else {}  # cell=pkg.mod:Cls
    except (RecursionError, ValueError):  # nested too deeply; an integer of more than 4,300 digits
        raise ConfigError(f"--set {key}: the value is nested too deeply or is a number too long to read") from None
    if set(doc) != {"value"}:
        raise ConfigError(f"--set {key}={raw}: not a TOML value (strings inside a list need quotes, "
                          f"e.g. cell=[\"rnn\",\"lstm\"])")
    return key, doc["value"]


def _toml_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return str(value)


def _models(fixed: dict, grid: dict) -> list:
    return grid.get("model", [fixed.get("model")])


def _is_axis_value(key: str, value, models) -> bool:
    """Whether a --set value is a grid axis (a list of values) rather than one value. A setting that is
    itself a list (hidden = [64, 32]) is an axis only as a list of lists."""
    if not isinstance(value, list):
        return False
    tuple_field = any(f.name == key and f.type.startswith("tuple") for m in models if m in CONFIG_TYPES
                      for f in fields(CONFIG_TYPES[m]))
    return not tuple_field or all(isinstance(v, list) for v in value)


def _joined_fields(axis: str) -> list[str]:
    """The fields a joined axis sets ('optimizer_lr' -> ['optimizer', 'lr']); [] for a plain field."""
    if _is_field(axis):
        return []
    return _split_axis(axis, axis.count("_") + 1) or []


def _fields_of(model) -> set[str]:
    """The settings a study or --set may write for `model`: its config's fields, less those dlrepro records
    itself (a user's classes, `dlrepro.train.plugins.RECORDED`: set only after their check)."""
    cls = CONFIG_TYPES.get(model) if isinstance(model, str) else None
    return {f.name for f in fields(cls)} - set(RECORDED) if cls else set()


def _refuse_recorded(where: str, keys) -> None:
    """A key naming a field dlrepro records itself (alone or in a joined axis): one ConfigError line."""
    for key in keys:
        if any(key == n or key.startswith(n + "_") or key.endswith("_" + n) or f"_{n}_" in key for n in RECORDED):
            raise ConfigError(f"{where}: {key!r}: plugins and plugin_info are recorded by dlrepro when it checks "
                              "a class of your own, not settings; name the class in cell, net or optimizer")


def _axis_assignment(path, axis: str, value) -> dict:
    if "_" in axis and isinstance(value, list) and not _is_field(axis):
        names = _split_axis(axis, len(value))
        if names is None:
            raise ConfigError(f"{path}: grid axis {axis!r}: a joined axis needs {axis.count('_') + 1}-item "
                              f"values naming fields, got {value!r}")
        return dict(zip(names, value, strict=True))
    return {axis: value}


def _all_fields() -> set[str]:
    return set().union(*(_fields_of(m) for m in CONFIG_TYPES))


def _is_field(name: str) -> bool:
    return name in _all_fields()


def _split_axis(axis: str, n: int) -> list[str] | None:
    """Split 'optimizer_lr' into n field names ('optimizer', 'lr'), allowing fields that contain '_'."""
    parts = axis.split("_")
    for cuts in itertools.combinations(range(1, len(parts)), n - 1):
        bounds = (0, *cuts, len(parts))
        names = ["_".join(parts[a:b]) for a, b in itertools.pairwise(bounds)]
        if all(_is_field(name) for name in names):
            return names
    return None


def load_study(study: str | os.PathLike) -> Study:
    """A built-in study by name (`palindrome`; `dlrepro studies` lists them) or a study file by path, read and
    fully checked (every profile is expanded once)."""
    path = Path(study)
    builtin = not path.is_file() and path.suffix != ".toml" and len(path.parts) == 1
    if builtin:
        text = builtin_source(path.name)  # ConfigError listing the built-in names when there is none
        path = Path(str(resources.files(__package__) / f"{path.name}.toml"))
    else:
        try:
            text = schema.read_study_text(path)  # a regular file of at most 1 MiB (not a FIFO, not /dev/zero)
        except FileNotFoundError:
            hint = f" (the built-in study is named without .toml: {path.stem})" if path.stem in builtin_names() else ""
            raise ConfigError(f"study file {path} does not exist{hint}") from None
    loaded = parse_study(text, path, builtin)
    if not builtin and loaded.name in builtin_names() and text != builtin_source(loaded.name):
        # an edited copy of a built-in study (or any other file of that name): its runs and record would
        # replace the built-in study's in the results folder, which its report reads
        raise ConfigError(f"{path}: [study] name {loaded.name!r} is a built-in study's name; give the study its "
                          f"own name (e.g. name = \"my-{loaded.name}\"), so that its runs and record do not replace "
                          f"the built-in study's in OUT/runs/{loaded.name}")
    return loaded


def parse_study(text: str, path: Path, builtin: bool = False) -> Study:
    """Check a study's TOML text (`path` names it in errors and gives its default name)."""
    doc = schema.parse_document(text, path)  # TOML, and every value's type (ConfigError naming the key)
    unknown = sorted(set(doc) - {"study", "fixed", "grid", "profiles", "claims", "protocols"})
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; allowed: study, fixed, grid, profiles, "
                          "claims, protocols")
    meta = doc.get("study", {})
    bad_meta = sorted(set(meta) - {"name", "title", "description"})
    if bad_meta:
        raise ConfigError(f"{path}: [study] has unknown key(s) {', '.join(bad_meta)}")
    fixed, grid, profiles = doc.get("fixed", {}), doc.get("grid", {}), doc.get("profiles", {})
    profiles = {p: profiles.get(p, {}) for p in PROFILES} | profiles
    protocols = parse_protocols(doc.get("protocols", {}), str(path), _is_field)
    for name, over in profiles.items():
        bad = sorted(set(over) - {"fixed", "grid", "protocols"})
        if bad:
            raise ConfigError(f"{path}: [profiles.{name}] has unknown key(s) {', '.join(bad)}; use fixed, grid or "
                              "protocols")
        chosen = parse_profile_protocols(over.get("protocols"), f"{path}: [profiles.{name}]", protocols)
        if chosen is not None and STATED not in chosen:
            raise ConfigError(f"{path}: [profiles.{name}] protocols must include \"stated\" (the other protocols "
                              "are changes to its trials, and their verdicts are read beside its)")
        if chosen is not None:
            profiles[name] = {**over, "protocols": (STATED, *(p for p in chosen if p != STATED))}
    name = meta.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise ConfigError(f"{path}: [study] name {name!r} must be letters, digits, '_', '-' or '.' "
                          "(it names the study's run folder)")
    study = Study(name=name, title=meta.get("title", path.stem),
                  description=meta.get("description", "").strip(), path=path, fixed=fixed, grid=grid,
                  profiles=profiles, source=text, builtin=builtin,
                  claims=parse_claims(doc.get("claims", []), str(path), name), protocols=protocols)
    for name in profiles:
        f, g = study.settings(name)
        _check_keys(path, name, f, g)
        if not study.trials(name):
            raise ConfigError(f"{path} (profile {name}): the grid is empty")
        study.variants(name)  # each protocol's settings, checked on every trial it changes
    return study


def _check_keys(path, profile, fixed, grid) -> None:
    _refuse_recorded(f"{path} (profile {profile})", [*fixed, *grid])
    models = grid.get("model", [fixed.get("model")])
    models = models if isinstance(models, list) else [models]
    for model in models:
        if not isinstance(model, str) or model not in CONFIG_TYPES:
            raise ConfigError(f"{path} (profile {profile}): key 'model': unknown model {model!r}; "
                              f"choose from {', '.join(CONFIG_TYPES)}")
    known = set().union(*(_fields_of(m) for m in models))
    for key in fixed:
        if key not in known:
            raise ConfigError(f"{path} (profile {profile}): [fixed] key {key!r} is not a setting of "
                              f"{'/'.join(models)}")
    for axis, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path} (profile {profile}): [grid] axis {axis!r} must be a non-empty list")
        if axis not in known and _split_axis(axis, axis.count("_") + 1) is None and not any(
                isinstance(v, list) and _split_axis(axis, len(v)) for v in values):
            raise ConfigError(f"{path} (profile {profile}): [grid] axis {axis!r} is not a setting of "
                              f"{'/'.join(models)}")
