"""The run folders that stand for a study profile's trials, as the report finds them (a trial naming a user's
class is found by its run's recorded config, since its id holds the class module's sha256)."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from pathlib import Path

from dlrepro.claims.protocols import STATED
from dlrepro.errors import ConfigError
from dlrepro.runs.folder import Folder
from dlrepro.runs.load import stored_config
from dlrepro.studies.spec import Study
from dlrepro.train.config import config_from_dict


def profile_trials(study_dir: Path, study: Study, profile: str, recorded: list | None = None,
                   protocol: str = STATED) -> dict[str, dict]:
    """Trial id -> config of the profile's trials under `protocol`. The id of a trial naming a user's class
    holds its module's sha256, which only its run knows (the report imports no plugin): such a trial is the
    run folder whose config is the trial's with its plugins recorded (the one the last sweep listed in
    `recorded` when an edited plugin left several)."""
    configs = study.trials(profile, protocol)
    plugged = {cfg.default_name() for cfg in configs
               if any(getattr(cfg, f) not in table for f, table in cfg.PLUGGABLE.items())}
    runs: dict[str, list[tuple[str, dict]]] = defaultdict(list)   # the plugin-free id -> (run id, config)
    folder = Folder(Path(study_dir).parent.parent)
    if plugged and folder.outside(Path(study_dir)) is None:
        for d in folder.subdirs(Path(study_dir)):
            stored = stored_config(d, folder)
            if stored and stored.get("plugins"):
                bare = {k: v for k, v in stored.items() if k not in ("plugins", "plugin_info")}
                with contextlib.suppress(ConfigError, TypeError, ValueError):
                    runs[config_from_dict(bare).default_name()].append((d.name, stored))
    listed = set(recorded or ())
    trials = {}
    for cfg in configs:
        found = sorted(runs.get(cfg.default_name(), []), key=lambda r: (r[0] not in listed, r[0]))
        tid, stored = found[0] if found else (cfg.default_name(), cfg.to_dict())
        trials[tid] = stored
    return trials
