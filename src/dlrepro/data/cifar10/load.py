"""The two entry points: ``load_cifar10`` (training) and ``prepare`` (``dlrepro data cifar10``).

Both locate a copy, memory-map its cache when a valid one exists, and otherwise decode the copy (official
batches, class folders, or an archive of either) and write the cache, so that a first load and a later one
hand back the same memory-mapped arrays.  Every problem a user can fix raises a one-line DatasetError.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from dlrepro.data.cifar10.archive import decode_archive
from dlrepro.data.cifar10.cache import cache_entries, ensure_writable_dir, identity, read_cache, write_cache
from dlrepro.data.cifar10.dataset import (
    ARCHIVE_NAME,
    CLASSES,
    IMAGE_FOLDER,
    LAYOUT_NAMES,
    MAX_BATCH_BYTES,
    OFFICIAL,
    URL,
    Arrays,
    Cifar10,
    Namer,
    from_arrays,
)
from dlrepro.data.cifar10.download import fetch_archive
from dlrepro.data.cifar10.imagefolder import decode_image_folder, image_listing, tree_from_dir
from dlrepro.data.cifar10.locate import ARCHIVE, Source, find_source, not_found, resolve_root
from dlrepro.data.cifar10.official import decode_official, official_files
from dlrepro.errors import DatasetError
from dlrepro.readfile import FileRefused, read_regular


def load_cifar10(root: str | os.PathLike | None = None, verify: bool = True,
                 cache_dir: str | os.PathLike | None = None) -> Cifar10:
    """Load CIFAR-10 from ``root`` (or $DLREPRO_CIFAR10), decoding once and memory-mapping afterwards.

    With ``verify=True`` the official files must match the official MD5s, and an image-folder copy must hold
    5,000 / 1,000 RGB images per class.  Structural checks (shapes, label range, class folders, 32x32
    images) always run.  ``verify=False`` (``--no-verify``) is for a re-encoded, subset or custom copy.
    The returned arrays are read-only memory maps of the cache (plain arrays if nothing was writable).
    """
    root_path = resolve_root(root)
    source = find_source(root_path)
    if source is None:
        raise not_found(root_path)
    return _load_source(source, verify, cache_dir)


def prepare(root: str | os.PathLike | None = None, download: bool = False, verify: bool = True,
            cache_dir: str | os.PathLike | None = None) -> str:
    """Locate (or, when asked, download), check, decode and cache CIFAR-10; return a readable report.

    This is ``dlrepro data cifar10 --root DIR [--download] [--no-verify]``.  Nothing is downloaded unless
    ``download`` is true and no copy is found under ``root`` (which is then created if needed).
    """
    root_path = resolve_root(root, must_exist=not download)
    source = find_source(root_path) if root_path.exists() else None
    if source is None:
        if not download:
            raise not_found(root_path)
        archive = root_path / ARCHIVE_NAME
        fetch_archive(URL, archive)
        source = Source(archive, ARCHIVE)
    return _report(_load_source(source, verify, cache_dir), verify)


def _load_source(source: Source, verify: bool, cache_dir: str | os.PathLike | None) -> Cifar10:
    """Memory-map a valid cache of ``source`` if there is one, else decode it and write the cache."""
    ident = identity(source.path, _source_files(source))
    entries = cache_entries(source.path, cache_dir)
    for entry in entries:
        cached = read_cache(entry, ident, verify)
        if cached is not None:
            return cached
    arrays, layout = _decode_source(source, verify)
    fmt = LAYOUT_NAMES[layout] + (f" (from archive {source.path.name})" if source.kind == ARCHIVE else "")
    writable = next((entry for entry in entries if ensure_writable_dir(entry)), None)
    if writable is None:
        return from_arrays(arrays, source=str(source.path), format=fmt, layout=layout)
    write_cache(writable, ident, verify, layout, fmt, arrays)
    del arrays  # hand back the memory-mapped copy, so first and later loads behave the same
    cached = read_cache(writable, ident, verify)
    if cached is None:  # pragma: no cover - only if the cache vanished between write and read
        raise DatasetError(f"the CIFAR-10 cache at {writable} could not be read back: delete it and retry")
    return dataclasses.replace(cached, from_cache=False)


def _source_files(source: Source) -> list[str]:
    """The files whose size and mtime identify ``source``; raises DatasetError when some are missing."""
    if source.kind == ARCHIVE:
        return [str(source.path)]
    if source.kind == OFFICIAL:
        return [str(p) for p in official_files(source.path)]
    listing = image_listing(tree_from_dir(source.path), _file_namer(source.path))
    return [str(path) for _, paths, _ in listing.values() for path in paths]


def _decode_source(source: Source, verify: bool) -> tuple[Arrays, str]:
    """Decode ``source`` into the four arrays; return them and the layout that was found."""
    namer = _file_namer(source.path)
    if source.kind == OFFICIAL:
        blobs = {path.name: _read_batch_file(path) for path in official_files(source.path)}
        return decode_official(blobs, namer, verify), OFFICIAL
    if source.kind == IMAGE_FOLDER:
        return decode_image_folder(image_listing(tree_from_dir(source.path), namer), verify), IMAGE_FOLDER
    return decode_archive(source.path, verify)


def _read_batch_file(path: Path) -> bytes:
    """An official file's bytes: a regular file of at most MAX_BATCH_BYTES (DatasetError otherwise)."""
    try:
        return read_regular(path, MAX_BATCH_BYTES, "CIFAR-10 batch file")
    except FileRefused as exc:
        raise DatasetError(f"{exc}: re-extract or re-download {ARCHIVE_NAME}") from None


def _file_namer(directory: Path) -> Namer:
    return lambda name: os.path.join(directory, name)


def _report(dataset: Cifar10, verify: bool) -> str:
    """A short multi-line summary: format, cache location, counts per class."""
    if not verify:
        check = "not verified (--no-verify)"
    elif dataset.layout == IMAGE_FOLDER:
        check = "a re-encoded copy: counts, image size and mode checked (no MD5 exists for it)"
    else:
        check = "MD5-verified"
    if not dataset.cache_dir:
        cache = "none (no writable location; the data is decoded on every load)"
    else:
        cache = f"{dataset.cache_dir} ({'reused' if dataset.from_cache else 'written now'})"
    train = np.bincount(dataset.train_labels, minlength=len(CLASSES))
    test = np.bincount(dataset.test_labels, minlength=len(CLASSES))
    lines = [
        f"CIFAR-10: {len(dataset.train_labels):,} train + {len(dataset.test_labels):,} test images",
        f"source: {dataset.source}",
        f"format: {dataset.format}, {check}",
        f"cache:  {cache}",
        f"{'class':<12}{'train':>8}{'test':>8}",
    ]
    for name, n_train, n_test in zip(CLASSES, train, test, strict=True):
        lines.append(f"{name:<12}{n_train:>8}{n_test:>8}")
    lines.append(f"{'total':<12}{train.sum():>8}{test.sum():>8}")
    return "\n".join(lines)
