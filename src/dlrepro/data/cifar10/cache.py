"""The decode-once cache: the four arrays as ``.npy`` files beside a JSON manifest of the source's identity.

A cache entry is valid only when its manifest names this very source (path, sizes, mtimes), the current
cache version and, for a verified load, a verified build; later loads memory-map its arrays.  It lives in
``.dlrepro-cache/`` beside the source (or under ``cache_dir``), else in the per-user cache.  Every file is
written atomically and the manifest last, so a crash never leaves a cache that looks valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlrepro.data.cifar10.dataset import SPLITS, Arrays, Cifar10, from_arrays
from dlrepro.files import atomic_file

CACHE_DIRNAME = ".dlrepro-cache"
ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")
_CACHE_VERSION = 1
_MANIFEST = "manifest.json"


def identity(root: Path, files: Sequence[str]) -> dict:
    """Path, total size, newest mtime and a digest of every file's (path, size, mtime) of a source."""
    digest = hashlib.sha256()
    size = mtime = 0
    for path in files:
        st = os.stat(path)
        size += st.st_size
        mtime = max(mtime, st.st_mtime_ns)
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"path": str(root), "size": size, "mtime_ns": mtime, "files": len(files),
            "digest": digest.hexdigest()}


def cache_entries(source: Path, cache_dir: str | os.PathLike | None) -> list[Path]:
    """Where the cache of ``source`` may live: the preferred place, then the per-user fallback."""
    key = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    if cache_dir is not None:
        preferred = Path(cache_dir).expanduser().resolve() / f"cifar10-{key}"
    else:
        preferred = source.parent / CACHE_DIRNAME / f"cifar10-{key}"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    user_cache = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return [preferred, user_cache / "dlrepro" / "cifar10" / key]


def ensure_writable_dir(path: Path) -> bool:
    """Create ``path`` if needed and say whether files can be written there.

    A directory without any write permission bit counts as read-only even when running as root, so a
    read-only data folder is never written to just because the process could.
    """
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or existing.stat().st_mode & 0o222 == 0:
        return False
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def read_cache(entry: Path, source: dict, verify: bool) -> Cifar10 | None:
    """The memory-mapped cache in ``entry`` if it was built from the ``source`` identity, else None."""
    try:
        manifest = json.loads((entry / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != _CACHE_VERSION or manifest.get("source") != source:
        return None
    if verify and not manifest.get("verified"):
        return None  # built without the checks (MD5s, or an image folder's counts and modes): rebuild with them
    try:
        arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS}
    except (OSError, ValueError):
        return None
    if not _arrays_look_right(arrays):
        return None
    return from_arrays(arrays, source=source["path"], format=manifest.get("format", ""), cache_dir=str(entry),
                       from_cache=True, layout=manifest.get("layout", ""))


def _arrays_look_right(arrays: Arrays) -> bool:
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
            return False
        if labels.dtype != np.int64 or labels.shape != images.shape[:1]:
            return False
    return True


def write_cache(entry: Path, source: dict, verify: bool, layout: str, fmt: str, arrays: Arrays) -> None:
    """Write the arrays, then the manifest, each atomically; the manifest is what makes a cache valid."""
    (entry / _MANIFEST).unlink(missing_ok=True)
    for name in ARRAYS:
        with atomic_file(entry / f"{name}.npy") as f:
            np.save(f, arrays[name], allow_pickle=False)
    manifest = {"version": _CACHE_VERSION, "dataset": "cifar10", "source": source, "verified": verify,
                "layout": layout, "format": fmt,
                "shapes": {name: list(arrays[name].shape) for name in ARRAYS}}
    with atomic_file(entry / _MANIFEST) as f:
        f.write(json.dumps(manifest, indent=2).encode())
