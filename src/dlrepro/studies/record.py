"""What a results folder keeps about the studies that ran into it, so its report rebuilds from the folder alone.

    OUT/runs/<study>/study.toml   the study file as it was read (rerun it with `dlrepro sweep` on this path)
    OUT/runs/<study>/study.json   the study record: name, title, description, whether it is built in, the
                                  profile and the --set overrides that ran, the trial ids of that sweep, and
                                  the machine it ran on (hardware, as reproduce.json has it)
                                  (version 2) which of them each protocol ran ("protocols": name -> trial ids;
                                  a record without it ran the stated protocol only)
    OUT/reproduce.json            the reproduce record (`dlrepro reproduce`): the profile, the CIFAR-10 copy
                                  used, the dlrepro version, the hardware, and why a study was not run

The study's files are written when a sweep starts (an interrupted sweep still leaves them) and replaced by
the next one; reproduce.json when `dlrepro reproduce` has run its studies. The report reads them as untrusted
input (`dlrepro.runs.folder`): a record that is not what this module writes is one error naming it; a study
record's trial ids are plain folder names, never paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
from pathlib import Path

import dlrepro
from dlrepro.errors import ConfigError, one_line
from dlrepro.files import atomic_write_bytes, atomic_write_json
from dlrepro.run_format import short
from dlrepro.runs.folder import MB, Folder, Unreadable
from dlrepro.studies.protocols import STATED
from dlrepro.studies.spec import Study, builtin_names, load_study, parse_study
from dlrepro.train.plugins import resolve_all

RECORD, SOURCE = "study.json", "study.toml"
RECORD_LIMIT, SOURCE_LIMIT = 64 * MB, 4 * MB  # a record lists up to a grid's worth of trial ids
RECORD_VERSION = 2  # 2: "protocols"
RECORD_FIELDS = {"name": str, "title": str, "description": str, "builtin": bool, "file": str, "profile": str,
                 "sets": dict, "trials": list, "dlrepro": str, "hardware": dict, "version": int, "protocols": dict}
REPRODUCE, REPRODUCE_LIMIT = "reproduce.json", 1 * MB
REPRODUCE_FIELDS = {"profile": str, "cifar_verified": bool, "cifar_source": str, "dlrepro_version": str,
                    "hardware": dict, "not_run": dict}


def hardware() -> dict:
    """The machine the runs are made on, for the report: CPU model, cores, GPU. Imports no torch (a rerun with
    nothing left to train never does): the GPU model comes from the NVIDIA driver's /proc entry, or from torch
    only when a trial already imported it."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = None
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        with contextlib.suppress(OSError):
            gpu = next((line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                        if line.startswith("Model:")), None)
        break
    torch = sys.modules.get("torch")
    if gpu is None and torch is not None and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "platform": platform.platform()}


def write_study_record(study: Study, profile: str, study_dir: Path, trial_ids: list[str]) -> None:
    study_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(study_dir / SOURCE, study.source.encode())
    # ids as the sweep runs them: a user's class checked, its module's sha256 in the id (cached checks)
    protocols = {name: [c.default_name() for c in resolve_all(trials)]
                 for name, trials in study.protocol_trials(profile).items()}
    atomic_write_json(study_dir / RECORD, {
        "version": RECORD_VERSION, "name": study.name, "title": study.title, "description": study.description,
        "builtin": study.builtin, "file": study.path.name if study.builtin else str(study.path), "profile": profile,
        "sets": study.sets, "trials": trial_ids, "protocols": protocols, "dlrepro": dlrepro.__version__,
        "hardware": hardware(),
    })


def recorded_protocols(info: dict) -> dict[str, list[str]]:
    """protocol -> trial ids, as study.json records them; a record without protocols ran the stated protocol
    only (its trials, when listed)."""
    return info.get("protocols") or {STATED: list(info.get("trials", []))}


def is_plain_name(name) -> bool:
    """A name that is one folder directly inside another: not empty, no '/', not '.' or '..'."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and not any(c in name for c in "/\\\0"))


def _stored_study_record(study_dir: Path) -> dict | None:
    """study.json of a study folder (OUT/runs/<study>), None when there is none; Unreadable naming it when it
    leads out of OUT, is no regular file, or does not hold what `write_study_record` writes."""
    path = Path(study_dir) / RECORD
    folder = Folder(Path(study_dir).parent.parent)
    if not folder.exists(path):
        return None
    record = folder.read_json(path, RECORD_LIMIT)
    if not isinstance(record, dict):
        raise folder.error(path, f"holds a {type(record).__name__}, not a study record (a JSON object); "
                                 "delete it or rerun the study's sweep")
    for key, kind in RECORD_FIELDS.items():
        if key in record and not isinstance(record[key], kind):
            raise folder.error(path, f"{key} {json.dumps(record[key])[:40]} is not a {kind.__name__}; delete "
                                     "the file or rerun the study's sweep")
    if any(v is not None and not isinstance(v, str | int) for v in (record.get("hardware") or {}).values()):
        raise folder.error(path, "hardware holds texts and numbers only; delete the file or rerun the study's sweep")
    protocols = record.get("protocols", {})
    if any(not is_plain_name(name) or not isinstance(ids, list) for name, ids in protocols.items()):
        raise folder.error(path, "protocols is not a table of protocol names and trial id lists; delete the file "
                                 "or rerun the study's sweep")
    bad = next((t for t in [*record.get("trials", []), *(t for ids in protocols.values() for t in ids)]
                if not is_plain_name(t)), None)
    if bad is not None:
        raise folder.error(path, f"trial id {json.dumps(bad)[:60]} is not a plain folder name; the report reads "
                                 "only run folders inside the study's folder")
    return record


def read_study_record(study_dir: Path) -> dict:
    """name, title, description (and profile, sets, trials when recorded) of the study in `study_dir`:
    from its study.json; for a built-in study that never ran into this folder (or ran before study.json
    existed), from the package; otherwise the folder's name stands for the title."""
    name = Path(study_dir).name
    inside = Folder(Path(study_dir).parent.parent).outside(Path(study_dir)) is None
    record = _stored_study_record(study_dir) if inside else None  # a study folder that is a link out is not read
    if record is not None:
        return {"name": name, "title": name, "description": "", **record}
    if name in builtin_names():
        study = load_study(name)
        return {"name": name, "title": study.title, "description": study.description, "builtin": True}
    return {"name": name, "title": name, "description": ""}


def recorded_study(study_dir: Path, record: dict) -> Study | None:
    """The study as its last sweep ran it: the folder's study.toml with the recorded --set overrides; None when
    the folder holds no record of it or it cannot be read (`read_recorded_study` says why)."""
    return read_recorded_study(study_dir, record)[0]


def read_recorded_study(study_dir: Path, record: dict) -> tuple[Study | None, str | None]:
    """(the study as its last sweep ran it, None) -- or (None, None) when the folder records no sweep of it, or
    (None, why) naming the file and the problem when its study.toml cannot be read: not a regular file inside
    the folder, too large, not a study file (its TOML, a setting, a claim's id or shape)."""
    source = Path(study_dir) / SOURCE
    folder = Folder(Path(study_dir).parent.parent)
    if "profile" not in record or not folder.exists(source):
        return None, None
    where = source.relative_to(folder.root).as_posix() if source.is_relative_to(folder.root) else str(source)
    try:
        study = parse_study(folder.read_text(source, SOURCE_LIMIT), Path(where), bool(record.get("builtin")))
        sets = record.get("sets") or {}
        return (study.with_sets(sets, record["profile"]) if sets else study), None
    except Unreadable as exc:
        return None, exc.short
    except ConfigError as exc:
        return None, one_line(exc, limit=300)
    except (RecursionError, TypeError, AttributeError, KeyError, ValueError) as exc:
        return None, f"{where}: not a study file ({type(exc).__name__})"


def ran_with(record: dict) -> str:
    """'Ran with profile smoke.' / 'Ran with profile smoke and --set steps=100.' ('' when not recorded)."""
    if "profile" not in record:
        return ""
    sets = " ".join(f"{k}={json.dumps(v)}" for k, v in (record.get("sets") or {}).items())
    return f"Ran with profile {record['profile']}" + (f" and --set {sets}." if sets else ".")


def study_runs(study_dir: Path, record: dict) -> tuple[list[Path], str]:
    """The run folders of the study's last sweep (the trials its record lists, in grid order; every run folder
    when nothing is recorded) and a note on the folders of earlier sweeps left out ('' when none)."""
    study_dir = Path(study_dir)
    folders = Folder(study_dir.parent.parent).subdirs(study_dir)
    if "trials" not in record:
        return folders, ""
    listed = set(record["trials"])
    present = {p.name for p in folders}
    ours = [study_dir / t for t in record["trials"] if is_plain_name(t) and t in present]
    others = [p for p in folders if p.name not in listed and (p / "config.json").exists()]
    note = (f"{len(others)} other run folder(s) under {study_dir}, from earlier sweeps with other settings, "
            "are not shown." if others else "")
    return ours, note



def write_reproduce_record(out: Path, record: dict) -> None:
    """OUT/reproduce.json: REPRODUCE_FIELDS, each of its type (what `read_reproduce_record` accepts); keys an
    earlier record held that this version does not know are kept as they were."""
    atomic_write_json(Path(out) / REPRODUCE, record)


def read_reproduce_record(out: Path) -> dict:
    """OUT/reproduce.json ({} when there is none), or Unreadable naming it when it is not what `dlrepro
    reproduce` writes (the report then stops: the record is about the whole folder)."""
    folder = Folder(out)
    path = folder.root / REPRODUCE
    if not folder.exists(path):
        return {}
    record = folder.read_json(path, REPRODUCE_LIMIT)
    fix = "delete it (the report then says the profile and hardware are unknown) or rerun `dlrepro reproduce`"
    if not isinstance(record, dict):
        raise folder.error(path, f"holds a {type(record).__name__}, not a JSON object; {fix}")
    for key, kind in REPRODUCE_FIELDS.items():
        value = record.get(key)
        if value is not None and not isinstance(value, kind):
            raise folder.error(path, f"{key} {short(value)} is not a {kind.__name__}; {fix}")
    texts = [*(record.get("not_run") or {}).values(), *(record.get("hardware") or {}).values()]
    if any(v is not None and not isinstance(v, str | int) for v in texts):
        raise folder.error(path, f"not_run and hardware hold texts and numbers only; {fix}")
    return record
