"""A study file is untrusted input: its size, its nesting and the type of every value are checked here, before
anything else reads it, so a bad file is one line (ConfigError) naming the file, the key and the reason.

    read_study_text   the file, only when it is a regular file of at most MAX_STUDY_BYTES (a FIFO or
                      /dev/zero is refused without blocking on it or reading it)
    parse_document    TOML text -> dict: too deep a nesting (MAX_DEPTH) or an integer too long to print
                      (Python's 4,300-digit limit) is an error, not a traceback; then `check_document`
    check_document    the types, against `schema()` (a JSON Schema, checked with jsonschema)
    check_grid_size   a grid of more than MAX_TRIALS trials is refused with its size, computed without
                      expanding it

`schema()` says what each table holds; the type of each setting comes from the config dataclasses' fields
(`dlrepro.train.config.CONFIG_TYPES`), so a new field is checked without an entry here (a field type not in
_FIELD is left to the config's own check). Which keys a model
has, the value ranges and the unknown tables stay with `dlrepro.studies.spec` and the configs (their messages
name the model). A new table is one entry in SECTIONS (e.g. "claims": {"type": "array", "items":
{"type": "object"}}); tables not listed pass through to spec's own checks.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import fields
from functools import cache
from pathlib import Path

from dlrepro.errors import ConfigError, one_line
from dlrepro.readfile import read_regular
from dlrepro.train.config import CONFIG_TYPES

MAX_STUDY_BYTES = 2**20   # 1 MiB: the built-in studies are about 3 KB
MAX_DEPTH = 10            # tables and lists inside each other: a study needs 7 (profiles.p.grid.axis[[a, [b]]])
MAX_TRIALS = 100_000      # trials in one profile's grid (each is a run directory)

_SCALAR = {"type": ["string", "number", "boolean"]}
# JSON Schema for each declared field type of the configs (bool is no integer here, as in the configs)
_FIELD: dict[str, dict] = {"int": {"type": "integer"}, "float": {"type": "number"}, "str": {"type": "string"},
          "bool": {"type": "boolean"}, "str | None": {"type": "string"},
          "tuple[int, ...]": {"type": "array", "minItems": 1, "items": {"type": "integer"}}}
# Further top-level tables, name -> JSON Schema (see the module docstring).
SECTIONS: dict[str, dict] = {}
_TOML_TYPE = {"object": "a table", "array": "a list", "integer": "an integer", "number": "a number",
              "string": "a string", "boolean": "true or false"}


def _setting_schemas() -> dict[str, dict]:
    """Field name -> the schema of its value: a field that two models declare differently (hidden: an int
    for the RNN, a list of ints for the MLP) takes either."""
    types: dict[str, list[str]] = {}
    for cls in CONFIG_TYPES.values():
        for f in fields(cls):
            kinds = types.setdefault(f.name, [])
            if str(f.type) not in kinds:
                kinds.append(str(f.type))
    options = {name: [_FIELD.get(k, {}) for k in kinds] for name, kinds in types.items()}  # {}: any value
    return {name: {} if {} in schemas else schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
            for name, schemas in options.items()}


def _axis(item: dict) -> dict:
    return {"type": "array", "items": item}  # an empty one: spec.py says so, naming the profile


@cache
def schema() -> dict:
    settings = _setting_schemas()
    any_value = {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]}  # a key spec.py then names as unknown
    # which trials: a setting's value, or a list of values (any of them); a list-valued setting as a list
    match = {"type": "object", "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": any_value}]}}
    fixed = {"type": "object", "properties": settings, "additionalProperties": any_value}
    # a plain axis lists its field's values; a joined one (optimizer_lr) lists lists of values
    grid = {"type": "object", "properties": {k: _axis(v) for k, v in settings.items()},
            "additionalProperties": _axis({"type": "array", "items": any_value})}
    sections = {
        "study": {"type": "object", "properties": {k: {"type": "string"} for k in ("name", "title", "description")}},
        "fixed": fixed,
        "grid": grid,
        "profiles": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"fixed": fixed, "grid": grid,
                                             "protocols": {"type": "array", "items": {"type": "string"}}}}},
        "protocols": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "description": {"type": "string"}, "fixed": fixed, "only": match,
            "when": {"type": "array", "items": {"type": "object", "properties": {"match": match, "fixed": fixed}}}}}},
        **SECTIONS,
    }
    return {"type": "object", "properties": sections}



def read_study_text(path: Path) -> str:
    """A study file's text: a regular file of at most MAX_STUDY_BYTES, UTF-8. ConfigError otherwise."""
    try:
        data = read_regular(path, MAX_STUDY_BYTES, "study file")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"study file {path} cannot be read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"study file {path}: line {line} is not UTF-8 text") from None


def parse_document(text: str, path: Path | str) -> dict:
    """TOML text -> its tables, type-checked (`check_document`). ConfigError naming `path` otherwise."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({one_line(exc)})") from None
    except RecursionError:
        raise ConfigError(f"{path}: tables or lists nested too deeply (a study needs at most {MAX_DEPTH} levels)") \
            from None
    except ValueError as exc:  # an integer of more digits than Python converts (4,300)
        raise ConfigError(f"{path}: a value cannot be read ({one_line(exc).split(';')[0]})") from None
    check_document(doc, path)
    return doc


def check_document(doc: dict, path: Path | str) -> None:
    """Refuse (ConfigError, the first problem found) a document whose nesting or types the schema rejects."""
    _check_depth(doc, path)
    error = _first_error(doc)
    if error is not None:
        parts = list(error.absolute_path)
        n = 2 if parts[:1] in (["profiles"], ["protocols"]) else 1
        table = f"[{'.'.join(map(str, parts[:n]))}]" if parts else "the file"
        raise ConfigError(f"{path}: {_describe(error, table, parts[n:])}")


def check_value(key: str, value, axis: bool) -> None:
    """A --set value: a setting's value, or with `axis` a grid axis of them (ConfigError naming --set KEY)."""
    _check_depth(value, f"--set {key}")
    error = _first_error({"grid": {key: value}} if axis else {"fixed": {key: value}})
    if error is not None:
        raise ConfigError(_describe(error, "--set", list(error.absolute_path)[1:]))


def _first_error(doc: dict):
    import jsonschema  # type: ignore[import-untyped]  # here, not at import: `dlrepro --help` needs none

    return jsonschema.exceptions.best_match(_validator().iter_errors(doc))


@cache
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(schema())


def check_grid_size(where: str, grid: dict) -> None:
    """Refuse a grid of more than MAX_TRIALS trials, counted from the axes' lengths (nothing expanded)."""
    sizes = [len(v) if isinstance(v, list) else 1 for v in grid.values()]
    total = math.prod(sizes)
    if total > MAX_TRIALS:
        shape = " x ".join(f"{n:,} {k}" for k, n in zip(grid, sizes, strict=True))
        raise ConfigError(f"{where}: the grid has {total:,} trials ({shape}), more than the {MAX_TRIALS:,} a study "
                          "may have; split it into several studies or shorten an axis")


def _check_depth(value, where) -> None:
    """Iteratively (a deep value must not exhaust the stack here either)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: tables or lists nested more than {MAX_DEPTH} levels deep")
        if isinstance(v, dict):
            stack.extend((x, depth + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)


def _describe(error, table: str, key_path: list) -> str:
    """'[profiles.smoke] must be a table, got 5' / '[fixed] hidden[0] must be an integer, got '4''."""
    key = "".join(f"[{p}]" if isinstance(p, int) else ("." if i else "") + str(p) for i, p in enumerate(key_path))
    where = f"{table} {key}" if key else table
    value = _short(error.instance)
    if error.validator == "type":
        return f"{where} must be {' or '.join(_TOML_TYPE[t] for t in _as_list(error.validator_value))}, got {value}"
    if error.validator == "minItems":
        return f"{where} must list at least one value, got {value}"
    if error.validator == "anyOf":
        options = [t for sub in error.validator_value for t in _as_list(sub.get("type"))]
        if all(t in _TOML_TYPE for t in options):
            return f"{where} must be {' or '.join(_TOML_TYPE[t] for t in dict.fromkeys(options))}, got {value}"
    return f"{where}: {one_line(Exception(error.message))}"


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _short(value) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else one_line(Exception(repr(value)))
    return text if len(text) <= 80 else text[:77] + "..."
