"""CIFAR-10: a safe, fast loader and the batched tensor helpers of the training input pipeline.

``load_cifar10(root)`` accepts three kinds of copy:

1. the official python version: ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``
   (``root`` may also point straight at ``cifar-10-batches-py/``);
2. an image-folder copy: ``train/<class>/*.png|jpg`` and ``test/<class>/*.png|jpg``, optionally inside
   one wrapping top-level folder;
3. a ``.tar``, ``.tar.gz`` or ``.tar.xz`` archive of either (``root`` is the archive itself, or a
   directory holding exactly one archive).

Verification (``verify=True``, the default): the official files must match the official MD5s; an
image-folder copy cannot be MD5-checked by anyone (it is re-encoded), so what can be checked is: 5,000 train
and 1,000 test images per class (50,000 / 10,000), each 32x32 pixels in RGB mode.  ``verify=False``
(``--no-verify``) skips the MD5s, and for image folders the counts and the mode (a subset or a custom copy).

Safety: the official batches are pickles, read with an unpickler that can only rebuild plain containers
and numpy arrays.  Archive members are checked one by one (no absolute paths, ``..``, links or special
files) and read straight from the archive stream, so nothing is ever half-extracted on disk.
Speed: decoded arrays are cached once as ``.npy`` files (with a JSON manifest of the source's identity)
and later loads memory-map them.  Every problem a user can fix raises a one-line ``DatasetError``.

The loader needs no torch (a source check or `dlrepro data cifar10` does not import it); the tensor helpers
at the end import it when called.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import http.client
import io
import json
import lzma
import multiprocessing
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm import tqdm

from dlrepro.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    import torch

try:  # numpy >= 2 moved the array-rebuild function; old pickles still name numpy.core
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

__all__ = [
    "CLASSES",
    "Cifar10",
    "channel_stats",
    "crop_flip_at",
    "flip_crop",
    "load_cifar10",
    "normalize",
    "prepare",
    "safe_extract",
    "stratified_subset",
    "to_device_tensor",
]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
OFFICIAL_FILES = (*TRAIN_BATCHES, TEST_BATCH, META_FILE)
FILE_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
ENV_VAR = "DLREPRO_CIFAR10"
CACHE_DIRNAME = ".dlrepro-cache"

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz")
SPLITS = ("train", "test")

_OFFICIAL = "official"
_IMAGE_FOLDER = "imagefolder"
_ARCHIVE = "archive"
_LAYOUT_NAMES = {_OFFICIAL: "official python batches", _IMAGE_FOLDER: "PNG/JPEG class folders"}

_ROW = 3 * 32 * 32
_OFFICIAL_BATCH_SIZE = 10_000
_ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")
_CACHE_VERSION = 1
_MANIFEST = "manifest.json"
_POOL_MIN_IMAGES = 4096  # below this, decoding inline beats starting worker processes
_CHUNK = 512  # images per decoding task
_NO_VERIFY = "pass --no-verify (verify=False) for a re-encoded or custom copy"
_PER_CLASS = {"train": 5_000, "test": 1_000}  # images per class in a complete copy

Namer = Callable[[str], str]  # relative file name -> how to name that file in an error message


# --------------------------------------------------------------------------------------------- result


@dataclasses.dataclass(frozen=True)
class Cifar10:
    """The decoded dataset: uint8 NHWC images, int64 labels, and where they came from."""

    train_images: np.ndarray = dataclasses.field(repr=False)
    train_labels: np.ndarray = dataclasses.field(repr=False)
    test_images: np.ndarray = dataclasses.field(repr=False)
    test_labels: np.ndarray = dataclasses.field(repr=False)
    classes: tuple[str, ...] = CLASSES
    source: str = ""  # the dataset directory or archive that was read
    format: str = ""  # what was found there, in words
    cache_dir: str = ""  # where the .npy cache lives ("" when no location was writable)
    layout: str = ""  # "official" (MD5-checkable batches) or "imagefolder" (a re-encoded PNG/JPEG copy)
    from_cache: bool = False  # True when the arrays were memory-mapped from an existing cache


@dataclasses.dataclass(frozen=True)
class _Source:
    """A located copy: ``kind`` is _OFFICIAL or _IMAGE_FOLDER (a directory) or _ARCHIVE (a file)."""

    path: Path
    kind: str


# ------------------------------------------------------------------------------------------ public API


def load_cifar10(root: str | os.PathLike | None = None, verify: bool = True,
                 cache_dir: str | os.PathLike | None = None) -> Cifar10:
    """Load CIFAR-10 from ``root`` (or $DLREPRO_CIFAR10), decoding once and memory-mapping afterwards.

    With ``verify=True`` the official files must match the official MD5s, and an image-folder copy must hold
    5,000 / 1,000 RGB images per class (see the module docstring).  Structural checks (shapes, label range,
    class folders, 32x32 images) always run.
    The returned arrays are read-only memory maps of the cache (plain arrays if nothing was writable).
    """
    root_path = _resolve_root(root)
    source = _find_source(root_path)
    if source is None:
        raise _not_found(root_path)
    return _load_source(source, verify, cache_dir)


def prepare(root: str | os.PathLike | None = None, download: bool = False, verify: bool = True,
            cache_dir: str | os.PathLike | None = None) -> str:
    """Locate (or, when asked, download), check, decode and cache CIFAR-10; return a readable report.

    This is ``dlrepro data cifar10 --root DIR [--download] [--no-verify]``.  Nothing is downloaded unless
    ``download`` is true and no copy is found under ``root`` (which is then created if needed).
    """
    root_path = _resolve_root(root, must_exist=not download)
    source = _find_source(root_path) if root_path.exists() else None
    if source is None:
        if not download:
            raise _not_found(root_path)
        archive = root_path / ARCHIVE_NAME
        _download(URL, archive)
        source = _Source(archive, _ARCHIVE)
    return _report(_load_source(source, verify, cache_dir), verify)


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a .tar/.tar.gz/.tar.xz into ``dest`` after checking every member; return ``dest``.

    Absolute paths, ``..`` components, links and device/FIFO members are refused with a DatasetError
    naming the member, before anything is written; tarfile's 'data' filter is applied on top where
    available.  Extraction goes to a temporary folder next to ``dest`` that is renamed into place, so a
    crash never leaves a half-extracted tree at ``dest``.  (The loader itself never extracts: it reads
    members straight from the archive, see ``_read_archive``.)
    """
    archive, dest = Path(archive), Path(dest)
    with _open_tar(archive) as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(member, archive)
        _extract_members(tar, members, dest)
    return dest


# ---------------------------------------------------------------------------------- locating the copy


def _resolve_root(root: str | os.PathLike | None, must_exist: bool = True) -> Path:
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


def _not_found(root: Path) -> DatasetError:
    return DatasetError(
        f"no CIFAR-10 copy found in {root}: expected {ARCHIVE_NAME}, its extracted {BATCHES_DIR}/, "
        "train/ and test/ class folders, or one .tar/.tar.gz/.tar.xz archive of them; run "
        f"'dlrepro data cifar10 --root {root} --download' or put the file at {root / ARCHIVE_NAME}"
    )


def _find_source(root: Path) -> _Source | None:
    """What ``root`` holds: an unpacked layout first, else an archive; None when there is nothing."""
    if root.is_file():
        if _is_archive_name(root.name):
            return _Source(root, _ARCHIVE)
        raise DatasetError(f"{root} is neither a CIFAR-10 directory nor a .tar/.tar.gz/.tar.xz archive")
    unpacked = _find_layout(root)
    if unpacked is not None:
        return unpacked
    archives = sorted(p for p in _visible_entries(root) if p.is_file() and _is_archive_name(p.name))
    if root / ARCHIVE_NAME in archives:
        return _Source(root / ARCHIVE_NAME, _ARCHIVE)
    if len(archives) > 1:
        names = ", ".join(p.name for p in archives)
        raise DatasetError(f"{root} holds several archives ({names}): pass the one to use as --root")
    return _Source(archives[0], _ARCHIVE) if archives else None


def _find_layout(directory: Path) -> _Source | None:
    """An unpacked copy in ``directory``: official batches, or class folders (maybe inside one wrapper)."""
    if (directory / BATCHES_DIR).is_dir():
        return _Source(directory / BATCHES_DIR, _OFFICIAL)
    if any((directory / name).exists() for name in OFFICIAL_FILES):
        return _Source(directory, _OFFICIAL)
    if _has_splits(directory):
        return _Source(directory, _IMAGE_FOLDER)
    subdirs = [p for p in _visible_entries(directory) if p.is_dir() and p.name != "__MACOSX"]
    if len(subdirs) == 1 and _has_splits(subdirs[0]):
        return _Source(subdirs[0], _IMAGE_FOLDER)
    return None


def _has_splits(directory: Path) -> bool:
    return all((directory / split).is_dir() for split in SPLITS)


def _visible_entries(directory: Path) -> list[Path]:
    """Entries of ``directory`` except hidden ones (such as our own .dlrepro-cache)."""
    return [p for p in directory.iterdir() if not p.name.startswith(".")]


def _is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


# -------------------------------------------------------------------------------------- loading flow


def _load_source(source: _Source, verify: bool, cache_dir: str | os.PathLike | None) -> Cifar10:
    """Memory-map a valid cache of ``source`` if there is one, else decode it and write the cache."""
    identity = _identity(source.path, _source_files(source))
    entries = _cache_entries(source.path, cache_dir)
    for entry in entries:
        cached = _read_cache(entry, identity, verify)
        if cached is not None:
            return cached
    arrays, layout = _decode_source(source, verify)
    fmt = _describe_format(source, layout)
    writable = next((entry for entry in entries if _ensure_writable_dir(entry)), None)
    if writable is None:
        return Cifar10(**arrays, source=str(source.path), format=fmt, layout=layout)
    _write_cache(writable, identity, verify, layout, fmt, arrays)
    del arrays  # hand back the memory-mapped copy, so first and later loads behave the same
    cached = _read_cache(writable, identity, verify)
    if cached is None:  # pragma: no cover - only if the cache vanished between write and read
        raise DatasetError(f"the CIFAR-10 cache at {writable} could not be read back: delete it and retry")
    return dataclasses.replace(cached, from_cache=False)


def _describe_format(source: _Source, layout: str) -> str:
    name = _LAYOUT_NAMES[layout]
    return f"{name} (from archive {source.path.name})" if source.kind == _ARCHIVE else name


def _source_files(source: _Source) -> list[str]:
    """The files whose size and mtime identify ``source``; raises DatasetError when some are missing."""
    if source.kind == _ARCHIVE:
        return [str(source.path)]
    if source.kind == _OFFICIAL:
        return [str(p) for p in _official_files(source.path)]
    listing = _image_listing(_tree_from_dir(source.path), _file_namer(source.path))
    return [path for _, paths, _ in listing.values() for path in paths]


def _decode_source(source: _Source, verify: bool) -> tuple[dict[str, np.ndarray], str]:
    """Decode ``source`` into the four arrays; return them and the layout that was found."""
    namer = _file_namer(source.path)
    if source.kind == _OFFICIAL:
        blobs = {path.name: path.read_bytes() for path in _official_files(source.path)}
        return _decode_official(blobs, namer, verify), _OFFICIAL
    if source.kind == _IMAGE_FOLDER:
        return _decode_image_folder(_image_listing(_tree_from_dir(source.path), namer), verify), _IMAGE_FOLDER
    return _decode_archive(source.path, verify)


def _file_namer(directory: Path) -> Namer:
    return lambda name: os.path.join(directory, name)


# ------------------------------------------------------------------------------------------ the cache


def _identity(root: Path, files: Sequence[str]) -> dict:
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


def _cache_entries(source: Path, cache_dir: str | os.PathLike | None) -> list[Path]:
    """Where the cache of ``source`` may live: the preferred place, then the per-user fallback."""
    key = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    if cache_dir is not None:
        preferred = Path(cache_dir).expanduser().resolve() / f"cifar10-{key}"
    else:
        preferred = source.parent / CACHE_DIRNAME / f"cifar10-{key}"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    user_cache = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return [preferred, user_cache / "dlrepro" / "cifar10" / key]


def _ensure_writable_dir(path: Path) -> bool:
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


def _read_cache(entry: Path, identity: dict, verify: bool) -> Cifar10 | None:
    """The memory-mapped cache in ``entry`` if it was built from this very source, else None."""
    try:
        manifest = json.loads((entry / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != _CACHE_VERSION or manifest.get("source") != identity:
        return None
    if verify and not manifest.get("verified"):
        return None  # built without the checks (MD5s, or an image folder's counts and modes): rebuild with them
    try:
        arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _ARRAYS}
    except (OSError, ValueError):
        return None
    if not _arrays_look_right(arrays):
        return None
    return Cifar10(**arrays, source=identity["path"], format=manifest.get("format", ""),
                   cache_dir=str(entry), from_cache=True, layout=manifest.get("layout", ""))


def _arrays_look_right(arrays: dict[str, np.ndarray]) -> bool:
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
            return False
        if labels.dtype != np.int64 or labels.shape != images.shape[:1]:
            return False
    return True


def _write_cache(entry: Path, identity: dict, verify: bool, layout: str, fmt: str,
                 arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays, then the manifest, each atomically; the manifest is what makes a cache valid."""
    (entry / _MANIFEST).unlink(missing_ok=True)
    for name in _ARRAYS:
        with _atomic_file(entry / f"{name}.npy") as f:
            np.save(f, arrays[name], allow_pickle=False)
    manifest = {"version": _CACHE_VERSION, "dataset": "cifar10", "source": identity, "verified": verify,
                "layout": layout, "format": fmt,
                "shapes": {name: list(arrays[name].shape) for name in _ARRAYS}}
    with _atomic_file(entry / _MANIFEST) as f:
        f.write(json.dumps(manifest, indent=2).encode())


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator:
    """A binary file that appears at ``path`` (via os.replace) only once fully written and synced."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; the cache is as shareable as the data
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------ official pickle batches


def _official_files(directory: Path) -> list[Path]:
    """The seven official files, in a fixed order; a missing one is a DatasetError naming it."""
    paths = [directory / name for name in OFFICIAL_FILES]
    for path in paths:
        if not path.is_file():
            raise DatasetError(
                f"CIFAR-10 file {path} is missing: the copy is incomplete; re-extract or re-download "
                f"{ARCHIVE_NAME}"
            )
    return paths


def _decode_official(blobs: dict[str, bytes], namer: Namer, verify: bool) -> dict[str, np.ndarray]:
    """Check (MD5s when ``verify``, structure always) and decode the seven official files' contents."""
    if verify:
        for name in OFFICIAL_FILES:
            _check_md5(hashlib.md5(blobs[name], usedforsecurity=False).hexdigest(), FILE_MD5[name], namer(name))
    _check_meta(blobs[META_FILE], namer(META_FILE))
    train = [_read_batch(blobs[name], namer(name), verify) for name in TRAIN_BATCHES]
    test_images, test_labels = _read_batch(blobs[TEST_BATCH], namer(TEST_BATCH), verify)
    return {
        "train_images": np.concatenate([images for images, _ in train]),
        "train_labels": np.concatenate([labels for _, labels in train]),
        "test_images": test_images,
        "test_labels": test_labels,
    }


def _read_batch(blob: bytes, where: str, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as (uint8 NHWC images, int64 labels), after structural checks."""
    batch = _unpickle(blob, where)
    data, labels = _field(batch, "data", where), _field(batch, "labels", where)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _ROW:
        raise DatasetError(
            f"{where}: 'data' is {_describe_value(data)}, but CIFAR-10 rows are {_ROW} uint8 values "
            "(3x32x32, channel-major): the file is not a CIFAR-10 batch; re-download it"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(
            f"{where}: 'labels' is not a list of integers ({_one_line(exc)}); re-download it"
        ) from exc
    if labels.ndim != 1 or len(labels) != len(data):
        raise DatasetError(
            f"{where} holds {len(data)} images but {labels.size} labels: the file is corrupt; re-download it"
        )
    outside = labels[(labels < 0) | (labels >= len(CLASSES))]
    if outside.size:
        raise DatasetError(f"{where} has label {outside[0]} outside 0-9: the file is corrupt; re-download it")
    if verify and len(data) != _OFFICIAL_BATCH_SIZE:
        raise DatasetError(
            f"{where} holds {len(data)} images, an official batch holds {_OFFICIAL_BATCH_SIZE}: "
            f"re-download it, or {_NO_VERIFY}"
        )
    # Each row is 1024 red, then 1024 green, then 1024 blue values (row-major 32x32 planes): CHW -> HWC.
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels


def _check_meta(blob: bytes, where: str) -> None:
    """batches.meta must list the ten official class names, in the official order."""
    names = _field(_unpickle(blob, where), "label_names", where)
    try:
        decoded = tuple(n.decode("ascii") if isinstance(n, bytes) else n for n in names)
    except (TypeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{where}: 'label_names' is unreadable ({_one_line(exc)}); re-download it") from exc
    if decoded != CLASSES:
        raise DatasetError(
            f"{where} lists classes {list(decoded)}, not CIFAR-10's {list(CLASSES)}: wrong dataset; "
            "re-download it"
        )


def _field(batch: object, key: str, where: str) -> object:
    """``batch[key]``, accepting bytes keys (official, Python 2) and str keys (re-pickled copies)."""
    if isinstance(batch, dict):
        for candidate in (key.encode(), key):
            if candidate in batch:
                return batch[candidate]
    raise DatasetError(f"{where} has no '{key}' entry: it is not a CIFAR-10 batch file; re-download it")


def _describe_value(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__name__}"


def _check_md5(actual: str, expected: str, where: str) -> None:
    if actual != expected:
        raise DatasetError(
            f"{where} fails the MD5 check (it is {actual}, the official file is {expected}): it is truncated, "
            f"corrupt or not the official file; re-download it, or {_NO_VERIFY}"
        )


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """The only use pickles make of ``_codecs.encode``: bytes pickled by Python 3 at protocol 2."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refused a _codecs.encode call that is not str -> latin1 bytes")
    return text.encode("latin1")


# Everything a CIFAR-10 batch pickle may name.  dicts, lists, bytes, str and ints need no globals;
# numpy arrays are rebuilt via _reconstruct(ndarray, shape, dtype) and ndarray.__setstate__.
_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that can only build plain containers and numpy arrays.

    Plain ``pickle.load`` calls whatever callable the file names (``os.system``, ``builtins.eval``...),
    so a tampered "dataset" could run code the moment it is read.  CIFAR-10 batches need nothing but
    numpy's array rebuilding, so ``find_class`` admits exactly that and refuses everything else.
    """

    def __init__(self, file: io.BytesIO, where: str) -> None:
        super().__init__(file, encoding="bytes")  # the official files are Python 2 pickles
        self._where = where

    def find_class(self, module: str, name: str) -> object:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise DatasetError(
                f"{self._where} is not a plain CIFAR-10 batch: its pickle asks for {module}.{name}, which "
                "is refused (only numpy arrays are allowed); delete it and re-download the official archive"
            )
        return allowed


def _unpickle(blob: bytes, where: str) -> object:
    """Unpickle one batch file's bytes with the restricted unpickler; damage becomes a DatasetError."""
    try:
        return _BatchUnpickler(io.BytesIO(blob), where).load()
    except DatasetError:
        raise
    except Exception as exc:  # a damaged pickle can fail in many ways: EOFError, UnpicklingError, ...
        raise DatasetError(f"{where} is truncated or corrupt ({_one_line(exc)}): re-download it") from exc


# ------------------------------------------------------------------------------------ image folders

# A class-folder tree: split -> class folder name -> file name -> payload (a path, or bytes from an archive).
Tree = dict[str, dict[str, dict[str, object]]]
# A checked listing: split -> (names for messages, payloads, labels), sorted class by class, then by name.
Listing = dict[str, tuple[list[str], list, np.ndarray]]


def _tree_from_dir(directory: Path) -> Tree:
    """The class folders of ``directory``/train and /test as a Tree of file paths (hidden entries skipped)."""
    tree: Tree = {}
    for split in SPLITS:
        tree[split] = {}
        for entry in _scandir_visible(directory / split):
            if entry.is_dir():
                tree[split][entry.name] = {e.name: e.path for e in _scandir_visible(entry.path)}
    return tree


def _scandir_visible(path: str | Path) -> list[os.DirEntry]:
    with os.scandir(path) as it:
        return [entry for entry in it if not entry.name.startswith(".")]


def _image_listing(tree: Tree, namer: Namer) -> Listing:
    """Check a Tree (exactly the ten classes, only images, none empty) and flatten it in a fixed order."""
    listing: Listing = {}
    for split in SPLITS:
        classes = tree[split]
        unknown = sorted(set(classes) - set(CLASSES))
        missing = [name for name in CLASSES if name not in classes]
        if unknown or missing:
            problem = f"unknown class folder(s) {unknown}" if unknown else f"no class folder(s) {missing}"
            raise DatasetError(
                f"{namer(split)} has {problem}: the class folders must be exactly {', '.join(CLASSES)}"
            )
        names, payloads, labels = [], [], []
        for label, name in enumerate(CLASSES):
            files = classes[name]
            if not files:
                raise DatasetError(f"class folder {namer(f'{split}/{name}')} holds no images: the copy is incomplete")
            for file_name in sorted(files):  # sorted, so the order never depends on the file system
                where = namer(f"{split}/{name}/{file_name}")
                if "/" in file_name or not file_name.lower().endswith(IMAGE_SUFFIXES):
                    raise DatasetError(f"{where} is not a .png/.jpg image: remove it from the class folder")
                names.append(where)
                payloads.append(files[file_name])
                labels.append(label)
        listing[split] = (names, payloads, np.asarray(labels, dtype=np.int64))
    return listing


def _check_counts(listing: Listing) -> None:
    """A complete copy: 5,000 train and 1,000 test images per class (checked before anything is decoded)."""
    for split, (names, _, labels) in listing.items():
        counts = np.bincount(labels, minlength=len(CLASSES))
        for label, n in enumerate(counts):
            if n != _PER_CLASS[split]:
                folder = os.path.dirname(names[int(np.argmax(labels == label))])
                raise DatasetError(
                    f"class folder {folder} holds {n:,} images but a complete CIFAR-10 copy has {_PER_CLASS[split]:,} "
                    f"per class ({_PER_CLASS[split] * len(CLASSES):,} {split} images in all, {len(labels):,} found): "
                    f"complete the copy, or {_NO_VERIFY}"
                )


def _decode_image_folder(listing: Listing, verify: bool) -> dict[str, np.ndarray]:
    """Check the counts (when ``verify``), then decode both splits, in parallel worker processes when there
    are many images; with ``verify`` every image must be RGB, else it is converted."""
    if verify:
        _check_counts(listing)
    total = sum(len(names) for names, _, _ in listing.values())
    arrays = {}
    with _chunk_mapper(total) as mapper:
        for split, (names, payloads, labels) in listing.items():
            arrays[f"{split}_images"] = _decode_images(names, payloads, mapper, f"decoding CIFAR-10 {split}", verify)
            arrays[f"{split}_labels"] = labels
    return arrays


@contextlib.contextmanager
def _chunk_mapper(total: int) -> Iterator[Callable]:
    """An order-preserving map over chunks: a process pool for big jobs, the builtin map for small ones."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(cpus, 16)
    if total < _POOL_MIN_IMAGES or workers < 2:
        yield map
        return
    # Processes, not threads: a 32x32 decode is mostly Python overhead, which threads would serialize.
    with multiprocessing.get_context().Pool(workers) as pool:
        yield functools.partial(pool.imap, chunksize=1)


def _decode_images(names: list[str], payloads: list, mapper: Callable, desc: str, rgb_only: bool = False) -> np.ndarray:
    """Decode images into one (N, 32, 32, 3) uint8 array, a chunk per task, with a progress bar."""
    out = np.empty((len(names), 32, 32, 3), dtype=np.uint8)
    starts = range(0, len(names), _CHUNK)
    chunks = [list(zip(names[i:i + _CHUNK], payloads[i:i + _CHUNK], strict=True)) for i in starts]
    with _progress(total=len(names), desc=desc, unit="img") as bar:
        decode = functools.partial(_decode_chunk, rgb_only=rgb_only)
        for start, images in zip(starts, mapper(decode, chunks), strict=True):
            out[start:start + len(images)] = images
            bar.update(len(images))
    return out


def _decode_chunk(chunk: list[tuple[str, object]], rgb_only: bool = False) -> np.ndarray:
    """Decode a list of (name, path or bytes) images; runs in a worker process for big jobs."""
    out = np.empty((len(chunk), 32, 32, 3), dtype=np.uint8)
    for i, (name, payload) in enumerate(chunk):
        out[i] = _decode_image(name, payload, rgb_only)
    return out


def _decode_image(name: str, payload: object, rgb_only: bool = False) -> np.ndarray:
    """One 32x32 image (a path or its bytes) as RGB uint8 (converted to RGB unless ``rgb_only``, which
    refuses other modes); anything else is a DatasetError naming it."""
    try:
        with Image.open(io.BytesIO(payload) if isinstance(payload, bytes) else payload) as image:
            if image.size != (32, 32):
                width, height = image.size
                raise DatasetError(
                    f"image {name} is {width}x{height} pixels but CIFAR-10 images are 32x32: "
                    "replace it or fix the copy"
                )
            if rgb_only and image.mode != "RGB":
                raise DatasetError(
                    f"image {name} is in mode {image.mode} but CIFAR-10 images are RGB: fix the copy, or {_NO_VERIFY}"
                )
            return np.asarray(image.convert("RGB"))
    except DatasetError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # Pillow raises all these
        raise DatasetError(
            f"cannot decode image {name} ({_one_line(exc)}): the file is corrupt; replace it"
        ) from exc


# ----------------------------------------------------------------------------------------- archives


def _decode_archive(archive: Path, verify: bool) -> tuple[dict[str, np.ndarray], str]:
    """Check and decode an archive of either layout, reading its members in memory."""
    if verify and archive.name == ARCHIVE_NAME:
        _check_md5(_md5_file(archive), ARCHIVE_MD5, str(archive))
    files = _read_archive(archive)
    found = _layout_of_names(files, archive)
    if found is None:
        raise DatasetError(
            f"archive {archive} holds neither CIFAR-10 batch files nor train/ and test/ class folders: "
            "it is not a CIFAR-10 copy"
        )
    layout, prefix = found
    namer = _member_namer(archive, prefix)
    if layout == _OFFICIAL:
        return _decode_official(_official_members(files, prefix, archive), namer, verify), _OFFICIAL
    return _decode_image_folder(_image_listing(_tree_from_names(files, prefix), namer), verify), _IMAGE_FOLDER


def _read_archive(archive: Path) -> dict[str, bytes | None]:
    """One streaming pass over ``archive``: every member checked, the files we need read into memory.

    Returns normalized member name -> bytes (None for files that are neither batches nor images).
    Reading members in memory instead of extracting them writes nothing that a member name could
    point anywhere, and is much faster: creating 60,000 small files costs far more than decoding them.
    """
    files: dict[str, bytes | None] = {}
    with _open_tar(archive) as tar, _progress(desc=f"reading {archive.name}", unit="file") as bar:
        for member in tar:
            _check_member(member, archive)
            if not member.isfile():
                continue
            name = str(PurePosixPath(member.name))  # drops "./" and doubled slashes
            wanted = PurePosixPath(name).name in FILE_MD5 or name.lower().endswith(IMAGE_SUFFIXES)
            files[name] = tar.extractfile(member).read() if wanted else None
            bar.update(1)
    return files


@contextlib.contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    """Open an archive (any compression); read errors anywhere inside become one DatasetError."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            yield tar
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
        raise DatasetError(
            f"archive {archive} is truncated or corrupt ({_one_line(exc)}): re-download it"
        ) from exc


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse a member that could write outside the target folder or create anything but files/folders."""
    path = PurePosixPath(member.name)
    drive = member.name[:1].isalpha() and member.name[1:2] == ":"  # C:... on Windows
    if path.is_absolute() or member.name.startswith("\\") or drive:
        reason = "absolute path"
    elif ".." in path.parts:
        reason = "'..' path component"
    elif member.issym() or member.islnk():
        reason = "symbolic or hard link"
    elif not (member.isfile() or member.isdir()):
        reason = "device, FIFO or other special file"
    else:
        return
    raise DatasetError(
        f"archive {archive} has an unsafe member {member.name!r} ({reason}): refusing to read it; "
        "use a trusted copy, e.g. re-download the official archive"
    )


def _layout_of_names(files: dict[str, bytes | None], archive: Path) -> tuple[str, str] | None:
    """(layout, folder prefix) of an archive's file names, like _find_layout does for directories."""
    paths = [PurePosixPath(name) for name in files]
    batch_dirs = sorted({str(p.parent) for p in paths if p.name in FILE_MD5})
    if len(batch_dirs) > 1:
        raise DatasetError(
            f"archive {archive} has CIFAR-10 batch files in several folders ({', '.join(batch_dirs)}): "
            "repack it with a single copy"
        )
    if batch_dirs:
        return _OFFICIAL, batch_dirs[0]
    tops = {p.parts[0] for p in paths if len(p.parts) > 1 and not p.parts[0].startswith(".")}
    tops.discard("__MACOSX")
    if set(SPLITS) <= tops:
        return _IMAGE_FOLDER, "."
    if len(tops) == 1:  # one wrapping folder
        (top,) = tops
        if set(SPLITS) <= {p.parts[1] for p in paths if len(p.parts) > 2 and p.parts[0] == top}:
            return _IMAGE_FOLDER, top
    return None


def _member_namer(archive: Path, prefix: str) -> Namer:
    return lambda name: f"{PurePosixPath(prefix, name)} in archive {archive}"


def _official_members(files: dict[str, bytes | None], prefix: str, archive: Path) -> dict[str, bytes]:
    """The seven official files' bytes from an archive; a missing one is a DatasetError naming it."""
    blobs = {}
    for name in OFFICIAL_FILES:
        member = str(PurePosixPath(prefix, name))
        if files.get(member) is None:
            raise DatasetError(
                f"archive {archive} has no member {member}: the copy is incomplete; re-download {ARCHIVE_NAME}"
            )
        blobs[name] = files[member]
    return blobs


def _tree_from_names(files: dict[str, bytes | None], prefix: str) -> Tree:
    """The class folders under ``prefix`` of an archive, as a Tree of member bytes."""
    base = PurePosixPath(prefix)
    tree: Tree = {split: {} for split in SPLITS}
    for name, payload in files.items():
        path = PurePosixPath(name)
        if not path.is_relative_to(base):
            continue
        parts = path.relative_to(base).parts
        if len(parts) < 3 or parts[0] not in SPLITS or any(part.startswith(".") for part in parts):
            continue  # not inside a class folder (files next to train/ and test/ are ignored), or hidden
        split, class_name, *rest = parts
        tree[split].setdefault(class_name, {})["/".join(rest)] = payload
    return tree


def _extract_members(tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: Path) -> None:
    """Extract checked members into a temporary folder beside ``dest``, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
    try:
        # Our own checks come first; the 'data' filter (Python >= 3.11.4) is a second line of defence.
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp, members=members, **extra)
        if dest.exists():
            shutil.rmtree(dest)  # a stale tree from an interrupted earlier run
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------------- download, report


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` to ``dest`` through a temporary file, checking the official MD5 before renaming."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    by_hand = f"download {url} by hand and put it at {dest}"
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    bar = _progress(total=total, desc=f"downloading {dest.name}", unit="B", unit_scale=True)
                    with bar:
                        while chunk := response.read(1 << 20):
                            out.write(chunk)
                            digest.update(chunk)
                            bar.update(len(chunk))
            except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts, bad replies
                raise DatasetError(f"download of {url} failed ({_one_line(exc)}): {by_hand}") from exc
        if digest.hexdigest() != ARCHIVE_MD5:
            raise DatasetError(
                f"the download of {url} is corrupt (MD5 {digest.hexdigest()}, expected {ARCHIVE_MD5}): "
                f"retry, or {by_hand}"
            )
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _report(dataset: Cifar10, verify: bool) -> str:
    """A short multi-line summary: format, cache location, counts per class."""
    if not verify:
        check = "not verified (--no-verify)"
    elif dataset.layout == _IMAGE_FOLDER:
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


def _progress(**kwargs) -> tqdm:
    """A tqdm bar on stderr, shown only when stderr is a terminal."""
    return tqdm(disable=not (sys.stderr is not None and sys.stderr.isatty()), leave=False, **kwargs)


def _one_line(exc: BaseException) -> str:
    """An exception as short one-line text, for use inside DatasetError messages."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# ---------------------------------------------------------------------------- training input helpers


def channel_stats(images: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) std in [0, 1] units of uint8 images, NHWC or NCHW.

    Sums are accumulated exactly in int64, a chunk at a time, so 50,000 images need little extra memory.
    Returns two float32 tensors of shape (3,) on the images' device.
    """
    import torch

    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.array(images))  # a copy: memory-mapped arrays are read-only
    if images.dtype != torch.uint8 or images.ndim != 4 or 3 not in (images.shape[1], images.shape[-1]):
        raise ValueError(f"expected uint8 images of shape (N, 3, H, W) or (N, H, W, 3), got {images.dtype} "
                         f"{tuple(images.shape)}")
    dims = (0, 2, 3) if images.shape[1] == 3 else (0, 1, 2)
    total = torch.zeros(3, dtype=torch.int64, device=images.device)
    squares = torch.zeros(3, dtype=torch.int64, device=images.device)
    for chunk in images.split(4096):
        wide = chunk.to(torch.int64)
        total += wide.sum(dim=dims)
        squares += (wide * wide).sum(dim=dims)
    count = images.numel() // 3
    mean = total.cpu().double() / count
    var = squares.cpu().double() / count - mean * mean
    std = var.clamp_min(0).sqrt()
    return (mean / 255).float().to(images.device), (std / 255).float().to(images.device)


def to_device_tensor(images: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """uint8 NHWC numpy images (memory-mapped is fine) as a contiguous uint8 NCHW tensor on ``device``."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    import torch

    # np.array copies, which also makes a read-only memory map writable as torch.from_numpy wants.
    nhwc = torch.from_numpy(np.array(images, copy=True)).to(device)
    return nhwc.permute(0, 3, 1, 2).contiguous()  # transpose on the device, where it is fastest


def normalize(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(batch / 255 - mean) / std`` per channel, as a new ``dtype`` tensor (default float32; batch is
    uint8 NCHW)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if batch.ndim != 4:
        raise ValueError(f"expected an NCHW batch, got shape {tuple(batch.shape)}")
    mean = torch.as_tensor(mean, device=batch.device).to(dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(std, device=batch.device).to(dtype).view(1, -1, 1, 1)
    out = batch.to(dtype, copy=True)
    return out.div_(255).sub_(mean).div_(std)


def flip_crop(batch: torch.Tensor, generator: torch.Generator | None = None, pad: int = 4) -> torch.Tensor:
    """Random crop after ``pad``-pixel zero padding, plus a random horizontal flip, per image.

    Fully batched: one padded copy, then one gather with per-sample offsets.  ``generator`` must live on
    the batch's device; the same generator state gives the same result.
    """
    import torch

    n = batch.shape[0]
    shifts = torch.randint(-pad, pad + 1, (2, n), generator=generator, device=batch.device)
    flip = torch.randint(0, 2, (n,), generator=generator, device=batch.device).bool()
    return crop_flip_at(batch, shifts[0], shifts[1], flip, pad)


def crop_flip_at(batch: torch.Tensor, shift_y: torch.Tensor, shift_x: torch.Tensor, flip: torch.Tensor,
                 pad: int = 4) -> torch.Tensor:
    """The deterministic part of ``flip_crop``: shift each image by (shift_y, shift_x) in [-pad, pad].

    Output pixel (i, j) of image n is input pixel (i + shift_y[n], j + shift_x[n]) (zero outside the
    image), mirrored left-right when ``flip[n]``.  Zero shifts and no flip give the batch back unchanged.
    """
    import torch

    if batch.ndim != 4:
        raise ValueError(f"expected an NCHW batch, got shape {tuple(batch.shape)}")
    n, c, h, w = batch.shape
    dev = batch.device
    padded = batch.new_zeros((n, c, h + 2 * pad, w + 2 * pad))
    padded[:, :, pad:pad + h, pad:pad + w] = batch
    rows = (pad + shift_y.to(dev)).view(n, 1) + torch.arange(h, device=dev)  # (n, h)
    cols = torch.arange(w, device=dev).expand(n, w)
    cols = torch.where(flip.to(dev).view(n, 1), w - 1 - cols, cols) + (pad + shift_x.to(dev)).view(n, 1)
    index_n = torch.arange(n, device=dev).view(n, 1, 1, 1)
    index_c = torch.arange(c, device=dev).view(1, c, 1, 1)
    return padded[index_n, index_c, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def stratified_subset(labels: np.ndarray | torch.Tensor | Sequence[int], n: int) -> np.ndarray:
    """Indices of ``n`` examples taken round-robin by class, returned in ascending order.

    Round r takes the r-th example (in index order) of every class that still has one, classes in
    ascending label order, so every class is represented as equally as possible.  Deterministic.
    """
    if hasattr(labels, "cpu"):  # a tensor
        labels = labels.cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError(f"labels must be one-dimensional, got shape {labels.shape}")
    if not 0 <= n <= len(labels):
        raise ConfigError(f"subset size must be between 0 and {len(labels)}, got {n}")
    _, class_index = np.unique(labels, return_inverse=True)
    order = np.argsort(class_index, kind="stable")  # by class, ascending index within each class
    sorted_classes = class_index[order]
    group_start = np.searchsorted(sorted_classes, sorted_classes, side="left")
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - group_start  # position of each example within its class
    chosen = np.lexsort((class_index, rank))[:n]  # round (rank) first, then class
    return np.sort(chosen).astype(np.int64)
