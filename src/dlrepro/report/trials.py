"""The run folders that stand for a study profile's trials, as the report finds them. A trial naming a user's
class has its module's sha256 in its id, which only its run knows (the report imports no plugin): such a trial
is found by its run's recorded config."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from pathlib import Path

from dlrepro.errors import ConfigError
from dlrepro.runs.folder import Folder
from dlrepro.runs.load import stored_config
from dlrepro.train.config import RunConfig, config_from_dict

PluginRuns = dict[str, list[tuple[str, dict]]]   # the plugin-free trial id -> (run id, stored config)


def names_a_plugin(cfg: RunConfig) -> bool:
    """Whether the trial names a user's class (its id then holds the class module's sha256)."""
    return any(getattr(cfg, f) not in table for f, table in cfg.PLUGGABLE.items())


def plugin_runs(study_dir: Path) -> PluginRuns:
    """The run folders under `study_dir` whose config records a user's class, by their plugin-free trial id."""
    runs: PluginRuns = defaultdict(list)
    folder = Folder(Path(study_dir).parent.parent)
    if folder.outside(Path(study_dir)) is None:
        for d in folder.subdirs(Path(study_dir)):
            stored = stored_config(d, folder)
            if stored and stored.get("plugins"):
                bare = {k: v for k, v in stored.items() if k not in ("plugins", "plugin_info")}
                with contextlib.suppress(ConfigError, TypeError, ValueError):
                    runs[config_from_dict(bare).default_name()].append((d.name, stored))
    return runs


def profile_trials(configs: list[RunConfig], recorded: list | None = None,
                   runs: PluginRuns | None = None) -> dict[str, dict]:
    """Trial id -> config of `configs` (a profile's trials under one protocol). A trial naming a user's class
    is the run of `runs` (`plugin_runs`) whose config is the trial's with its plugins recorded (the one the
    last sweep listed in `recorded` when an edited plugin left several)."""
    listed = set(recorded or ())
    trials = {}
    for cfg in configs:
        found = sorted((runs or {}).get(cfg.default_name(), []), key=lambda r: (r[0] not in listed, r[0]))
        tid, stored = found[0] if found else (cfg.default_name(), cfg.to_dict())
        trials[tid] = stored
    return trials
