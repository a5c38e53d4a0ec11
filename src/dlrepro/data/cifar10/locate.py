"""Locating a copy: the root (given, or $DLREPRO_CIFAR10) and what it holds.

An unpacked layout wins over an archive: official batches (``cifar-10-batches-py/``, or the root itself
holding the batch files), else ``train/`` and ``test/`` class folders (maybe inside one wrapping folder),
else ``cifar-10-python.tar.gz`` or the only archive in the root.  The root may also be an archive itself.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from dlrepro.data.cifar10.dataset import (
    ARCHIVE_NAME,
    ARCHIVE_SUFFIXES,
    BATCHES_DIR,
    IMAGE_FOLDER,
    OFFICIAL,
    OFFICIAL_FILES,
    SPLITS,
)
from dlrepro.errors import DatasetError

ENV_VAR = "DLREPRO_CIFAR10"
ARCHIVE = "archive"  # the kind of a Source that is an archive file (its layout is found inside)


@dataclasses.dataclass(frozen=True)
class Source:
    """A located copy: ``kind`` is OFFICIAL or IMAGE_FOLDER (a directory) or ARCHIVE (a file)."""

    path: Path
    kind: str


def resolve_root(root: str | os.PathLike | None, must_exist: bool = True) -> Path:
    """``root``, or $DLREPRO_CIFAR10 when it is None, as an absolute path."""
    if root is None or str(root) == "":
        root = os.environ.get(ENV_VAR, "")
        if not root:
            raise DatasetError(f"no CIFAR-10 location given: pass --data-root DIR or set {ENV_VAR}")
    path = Path(root).expanduser().resolve()
    if must_exist and not path.exists():
        raise DatasetError(
            f"CIFAR-10 root {path} does not exist: create it and put {ARCHIVE_NAME} there, "
            "or pass --download to fetch it"
        )
    return path


def not_found(root: Path) -> DatasetError:
    return DatasetError(
        f"no CIFAR-10 copy found in {root}: expected {ARCHIVE_NAME}, its extracted {BATCHES_DIR}/, "
        "train/ and test/ class folders, or one .tar/.tar.gz/.tar.xz archive of them; run "
        f"'dlrepro data cifar10 --root {root} --download' or put the file at {root / ARCHIVE_NAME}"
    )


def find_source(root: Path) -> Source | None:
    """What ``root`` holds: an unpacked layout first, else an archive; None when there is nothing."""
    if root.is_file():
        if _is_archive_name(root.name):
            return Source(root, ARCHIVE)
        raise DatasetError(f"{root} is neither a CIFAR-10 directory nor a .tar/.tar.gz/.tar.xz archive")
    unpacked = find_layout(root)
    if unpacked is not None:
        return unpacked
    archives = sorted(p for p in _visible_entries(root) if p.is_file() and _is_archive_name(p.name))
    if root / ARCHIVE_NAME in archives:
        return Source(root / ARCHIVE_NAME, ARCHIVE)
    if len(archives) > 1:
        names = ", ".join(p.name for p in archives)
        raise DatasetError(f"{root} holds several archives ({names}): pass the one to use as --root")
    return Source(archives[0], ARCHIVE) if archives else None


def find_layout(directory: Path) -> Source | None:
    """An unpacked copy in ``directory``: official batches, or class folders (maybe inside one wrapper)."""
    if (directory / BATCHES_DIR).is_dir():
        return Source(directory / BATCHES_DIR, OFFICIAL)
    if any((directory / name).exists() for name in OFFICIAL_FILES):
        return Source(directory, OFFICIAL)
    if _has_splits(directory):
        return Source(directory, IMAGE_FOLDER)
    subdirs = [p for p in _visible_entries(directory) if p.is_dir() and p.name != "__MACOSX"]
    if len(subdirs) == 1 and _has_splits(subdirs[0]):
        return Source(subdirs[0], IMAGE_FOLDER)
    return None


def _has_splits(directory: Path) -> bool:
    return all((directory / split).is_dir() for split in SPLITS)


def _visible_entries(directory: Path) -> list[Path]:
    """Entries of ``directory`` except hidden ones (such as our own .dlrepro-cache)."""
    return [p for p in directory.iterdir() if not p.name.startswith(".")]


def _is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)
