"""A run setting, declared once: a config dataclass field whose metadata holds its --help sentence and the
values it takes (`setting`), the checks those make (`check`), and the readers of the settings given as text
(`parse_hidden`, `parse_seeds`). The configs (dlrepro.train.config) declare their settings with it; the CLI
makes its flags from the same fields (dlrepro.cli_args)."""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any

from dlrepro import registry
from dlrepro.errors import ConfigError

# Ranges of the numeric settings, shared by the CLI and the study files (both build configs, and
# `validate` checks them). Seeds go to NumPy, scikit-learn and torch generators, which take 0..2**32-1.
MAX_SEED = 2**32 - 1
MAX_COUNT = 10**9      # steps, epochs, evaluation interval, samples, batch and layer sizes
MAX_EPOCHS = 10**6
MAX_LAYERS = 64        # hidden layers of an MLP
MAX_INPUT_LENGTH = 10**5
MAX_SEEDS = 4096       # seeds in one --seeds list
MAX_FLOAT = 1e30       # learning rates and clip norms: beyond it torch cannot hold them as float32

# the --help of a setting that may name a user's class (PLUGGABLE)
PLUGIN = "or a class of your own as package.module:Name (README, \"Extending dlrepro\")"


def setting(default: Any, help: str, **checks: Any) -> Any:
    """A run setting: a dataclass field whose metadata holds its --help sentence and its checks.

    The help is one sentence; unless it says where its default goes (`%(default)s`, argparse's), the flag's
    help ends with "(default ...)". The checks, each optional:
      choices     a tuple of values, or a dlrepro.registry table (a user's import path too when the field
                  is PLUGGABLE)
      gt          the value must be finite and > gt                  "--x must be > 0, got ..."
      low, zero   the value must be >= low; `zero` says what 0 means  "--x must be >= 0 (0 = all), got ..."
      high        the value must be <= high                           "--x must be <= 1,000, got ..."
      range       (lo, hi): an integer in lo..hi                      "--x must be an integer in 0..N, got ..."
      by_dataset  {dataset: value}: the default for those datasets (the field's default then is None, read
                  as "the dataset's default": `default` for any other dataset)
      parse       the function that reads the flag's text (a comma list)
      required    the `dlrepro train` flag must be given
      choice_help {choice: text}: added to the help when the flag offers that choice
      applies     ("model" or "dataset", value): the only runs the setting means something for; a `train`
                  command that cannot make such a run offers no flag for it
    """
    if "by_dataset" in checks:
        checks["by_dataset"] = {"*": default, **checks["by_dataset"]}
        default = None
    return field(default=default, metadata={"help": help, **checks})


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _above(name: str, value, low=0) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > low):
        raise ConfigError(f"{flag_name(name)} must be > {low}, got {value}")


def _at_most(name: str, value, hi) -> None:
    if value > hi:
        raise ConfigError(f"{flag_name(name)} must be <= {hi:,}, got {value}" if isinstance(hi, int)
                          else f"{flag_name(name)} must be <= {hi:g}, got {value}")


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{flag_name(name)}: unknown value {value!r}; choose from "
                          f"{', '.join(map(str, choices))}")


def parse_hidden(text: str | list | tuple) -> tuple[int, ...]:
    """'20' or '64,32' (or a list of ints) -> (20,) / (64, 32). Raises ConfigError when unparsable."""
    if isinstance(text, list | tuple):
        parts = list(text)
    else:
        parts = [p.strip() for p in str(text).split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"--hidden must be a comma list of positive integers like 20 or 64,32, "
                          f"got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError(f"--hidden must be a comma list of positive integers like 20 or 64,32, got {text!r}")
    if len(sizes) > MAX_LAYERS or max(sizes) > MAX_COUNT:
        raise ConfigError(f"--hidden must have at most {MAX_LAYERS} layers of at most {MAX_COUNT:,} units, "
                          f"got {text!r}")
    return sizes


def parse_seeds(text: str) -> list[int]:
    """'0-7', '0,3,5' or '0-3,8' -> distinct non-negative seeds in the order given. ConfigError otherwise."""
    seeds: list[int] = []
    too_many = False
    try:
        for part in str(text).split(","):
            lo, sep, hi = part.strip().partition("-")
            lo_i, hi_i = int(lo), int(hi) if sep else int(lo)
            if lo_i < 0 or hi_i < lo_i or hi_i > MAX_SEED:
                raise ValueError
            if len(seeds) + hi_i - lo_i + 1 > MAX_SEEDS:
                too_many = True
                break
            seeds.extend(range(lo_i, hi_i + 1))
    except ValueError:
        raise ConfigError(f"--seeds must be seeds in 0..{MAX_SEED} and ascending ranges like 0-7 or 0,3,5, "
                          f"got {text!r}") from None
    if too_many:
        raise ConfigError(f"--seeds lists more than {MAX_SEEDS} seeds: {text!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds lists a seed twice: {text!r}")
    return seeds


def check(name: str, value: Any, checks: Any, pluggable: bool = False) -> None:
    """ConfigError unless `value` passes the checks of setting `name` (its field's metadata, see `setting`).
    `pluggable`: a registry choice may also be a user's import path."""
    flag = flag_name(name)
    choices = checks.get("choices")
    if isinstance(choices, dict):
        registry.check(flag, value, choices, plugins=pluggable)
    elif choices is not None:
        _choice(name, value, choices)
    if "parse" in checks:
        checks["parse"](value)
    if "gt" in checks:
        _above(name, value, checks["gt"])
    if "low" in checks and not (value >= checks["low"] and (not isinstance(value, float) or math.isfinite(value))):
        zero = f" (0 {checks['zero']})" if "zero" in checks else ""
        raise ConfigError(f"{flag} must be >= {checks['low']}{zero}, got {value}")
    if "range" in checks and not checks["range"][0] <= value <= checks["range"][1]:
        raise ConfigError(f"{flag} must be an integer in {checks['range'][0]}..{checks['range'][1]}, got {value}")
    if "high" in checks:
        _at_most(name, value, checks["high"])
