"""Studies as TOML files: fixed settings, grid axes and profiles, expanded into run configs.

    [study]    name, title, description
    [fixed]    settings shared by every trial (the `dlrepro train` flag names, with _ for -)
    [grid]     axes; every combination is one trial. An axis joining field names with "_" (for example
               optimizer_lr = [["adam", 1e-4], ["sgd", 1e-4]]) sets those fields together.
    [profiles.<name>]  `fixed = {...}` and `grid = {...}` overrides: smoke (seconds), quick (minutes on
               2 CPU cores), full (the reference settings). A joined axis in a profile replaces the
               base axes of the fields it sets.

A file is checked completely before anything runs: unknown tables or keys, an unknown model, an empty
axis or a bad value raise ConfigError naming the file, the key and the reason.
"""

from __future__ import annotations

import itertools
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from dlrepro.errors import ConfigError
from dlrepro.train.config import CONFIG_TYPES, RunConfig, config_from_dict

PROFILES = ("smoke", "quick", "full")
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs"


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    description: str
    path: Path
    fixed: dict
    grid: dict
    profiles: dict

    def settings(self, profile: str) -> tuple[dict, dict]:
        """(fixed, grid) with the profile's overrides applied."""
        if profile not in self.profiles:
            raise ConfigError(f"{self.path}: profile {profile!r} is not defined; "
                              f"choose from {', '.join(self.profiles)}")
        over = self.profiles[profile]
        grid = dict(self.grid)
        for axis in over.get("grid", {}):  # a joined axis replaces the axes of the fields it sets
            names = _split_axis(axis, axis.count("_") + 1) if not _is_field(axis) else None
            for name in names or ():
                grid.pop(name, None)
        return {**self.fixed, **over.get("fixed", {})}, {**grid, **over.get("grid", {})}

    def trials(self, profile: str) -> list[RunConfig]:
        """Every grid point as a validated config, in grid order."""
        fixed, grid = self.settings(profile)
        axes = list(grid.items())
        configs = []
        for combo in itertools.product(*(values for _, values in axes)):
            d = dict(fixed)
            for (axis, _), value in zip(axes, combo, strict=True):
                d.update(_axis_assignment(self.path, axis, value))
            try:
                configs.append(config_from_dict(d))
            except ConfigError as exc:
                raise ConfigError(f"{self.path} (profile {profile}): {exc}") from None
        return configs


def _fields_of(model) -> set[str]:
    cls = CONFIG_TYPES.get(model) if isinstance(model, str) else None
    return {f.name for f in fields(cls)} if cls else set()


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


def load_study(path: str | os.PathLike) -> Study:
    """Read and fully check a study file (every profile is expanded once)."""
    path = Path(path)
    if not path.exists() and not path.suffix and (CONFIG_DIR / f"{path}.toml").exists():
        path = CONFIG_DIR / f"{path}.toml"
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"study file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(doc) - {"study", "fixed", "grid", "profiles"})
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; allowed: study, fixed, grid, profiles")
    meta = doc.get("study", {})
    bad_meta = sorted(set(meta) - {"name", "title", "description"})
    if bad_meta:
        raise ConfigError(f"{path}: [study] has unknown key(s) {', '.join(bad_meta)}")
    fixed, grid, profiles = doc.get("fixed", {}), doc.get("grid", {}), doc.get("profiles", {})
    profiles = {p: profiles.get(p, {}) for p in PROFILES} | profiles
    for name, over in profiles.items():
        bad = sorted(set(over) - {"fixed", "grid"})
        if bad:
            raise ConfigError(f"{path}: [profiles.{name}] has unknown key(s) {', '.join(bad)}; use fixed or grid")
    name = meta.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
        raise ConfigError(f"{path}: [study] name {name!r} must be letters, digits, '_', '-' or '.' "
                          "(it names the study's run folder)")
    study = Study(name=name, title=meta.get("title", path.stem),
                  description=meta.get("description", "").strip(), path=path, fixed=fixed, grid=grid,
                  profiles=profiles)
    for name in profiles:
        f, g = study.settings(name)
        _check_keys(path, name, f, g)
        if not study.trials(name):
            raise ConfigError(f"{path} (profile {name}): the grid is empty")
    return study


def _check_keys(path, profile, fixed, grid) -> None:
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
