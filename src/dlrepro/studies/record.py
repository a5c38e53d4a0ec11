"""What a results folder keeps about each study that ran into it, so its report rebuilds from the folder alone.

    OUT/runs/<study>/study.toml   the study file as it was read (rerun it with `dlrepro sweep` on this path)
    OUT/runs/<study>/study.json   name, title, description, whether it is built in, the profile and the --set
                                  overrides that ran, and the trial ids of that sweep

Both are written when a sweep starts (an interrupted sweep still leaves them) and replaced by the next one.
"""

from __future__ import annotations

import json
from pathlib import Path

import dlrepro
from dlrepro.errors import ConfigError
from dlrepro.studies.spec import Study, builtin_names, load_study, parse_study

RECORD, SOURCE = "study.json", "study.toml"


def write_record(study: Study, profile: str, study_dir: Path, trial_ids: list[str]) -> None:
    from dlrepro.runs.rundir import atomic_write_bytes, atomic_write_json

    study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(study_dir / SOURCE, study.source.encode())
    atomic_write_json(study_dir / RECORD, {
        "name": study.name, "title": study.title, "description": study.description, "builtin": study.builtin,
        "file": study.path.name if study.builtin else str(study.path), "profile": profile, "sets": study.sets,
        "trials": trial_ids, "dlrepro": dlrepro.__version__,
    })


def read_record(study_dir: Path) -> dict | None:
    """study.json of a study folder, or None when there is none (or it is unreadable)."""
    try:
        record = json.loads((Path(study_dir) / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def study_info(study_dir: Path) -> dict:
    """name, title, description (and profile, sets, trials when recorded) of the study in `study_dir`:
    from its study.json; for a built-in study that never ran into this folder (or ran before study.json
    existed), from the package; otherwise the folder's name stands for the title."""
    name = Path(study_dir).name
    record = read_record(study_dir)
    if record is not None:
        return {"name": name, "title": name, "description": "", **record}
    if name in builtin_names():
        study = load_study(name)
        return {"name": name, "title": study.title, "description": study.description, "builtin": True}
    return {"name": name, "title": name, "description": ""}


def recorded_study(study_dir: Path, info: dict) -> Study | None:
    """The study as its last sweep ran it: the folder's study.toml with the recorded --set overrides; None when
    the folder holds no readable record of it."""
    source = Path(study_dir) / SOURCE
    if "profile" not in info or not source.is_file():
        return None
    try:
        study = parse_study(source.read_text(encoding="utf-8"), source, bool(info.get("builtin")))
        sets = info.get("sets") or {}
        return study.with_sets(sets, info["profile"]) if sets else study
    except (ConfigError, OSError, UnicodeDecodeError):
        return None


def ran_with(info: dict) -> str:
    """'Ran with profile smoke.' / 'Ran with profile smoke and --set steps=100.' ('' when not recorded)."""
    if "profile" not in info:
        return ""
    sets = " ".join(f"{k}={json.dumps(v)}" for k, v in (info.get("sets") or {}).items())
    return f"Ran with profile {info['profile']}" + (f" and --set {sets}." if sets else ".")


def study_runs(study_dir: Path, info: dict) -> tuple[list[Path], str]:
    """The run folders of the study's last sweep (the trials its record lists, in grid order; every run folder
    when nothing is recorded) and a note on the folders of earlier sweeps left out ('' when none)."""
    study_dir = Path(study_dir)
    folders = sorted(p for p in study_dir.iterdir() if p.is_dir()) if study_dir.is_dir() else []
    if "trials" not in info:
        return folders, ""
    listed = set(info["trials"])
    ours = [study_dir / t for t in info["trials"] if (study_dir / t).is_dir()]
    others = [p for p in folders if p.name not in listed and (p / "config.json").exists()]
    note = (f"{len(others)} other run folder(s) under {study_dir}, from earlier sweeps with other settings, "
            "are not shown." if others else "")
    return ours, note
