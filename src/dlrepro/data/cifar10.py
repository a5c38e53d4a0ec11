"""CIFAR-10: a safe, fast loader and the batched tensor helpers of the training input pipeline.

``load_cifar10(root)`` accepts three kinds of copy:

1. the official python version: ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``
   (``root`` may also point straight at ``cifar-10-batches-py/``);
2. an image-folder copy: ``train/<class>/*.png|jpg`` and ``test/<class>/*.png|jpg``, optionally inside
   one wrapping top-level folder;
3. a ``.tar``, ``.tar.gz`` or ``.tar.xz`` archive of either (``root`` is the archive itself, or a
   directory holding exactly one archive).

Safety: the official batches are pickles, which are read with an unpickler that can only rebuild plain
containers and numpy arrays; archives are checked member by member before anything is extracted.
Speed: decoded arrays are cached once as ``.npy`` files (with a JSON manifest of the source's identity)
and later loads memory-map them.  Every problem a user can fix raises a one-line ``DatasetError``.
"""

import contextlib
import dataclasses
import functools
import hashlib
import http.client
import json
import lzma
import multiprocessing
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from dlrepro.errors import ConfigError, DatasetError

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
_NO_VERIFY = "pass --no-verify (verify=False) for a re-encoded or custom copy"


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

    With ``verify=True`` the official files must match the official MD5s; image-folder copies cannot be
    checked and need ``verify=False``.  Structural checks (shapes, label range, class folders) always run.
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
    naming the member, before anything is written.  Extraction goes to a temporary folder next to
    ``dest`` that is renamed into place, so a crash never leaves a half-extracted tree at ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    with _open_tar(archive) as tar:
        members = _checked_members(tar, archive)
        _extract_members(tar, members, archive, dest)
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
    if any((directory / name).exists() for name in FILE_MD5):
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
    if source.kind == _IMAGE_FOLDER and verify:
        raise _not_official(source.path)
    files = _source_files(source)
    identity = _identity(source.path, files)
    entries = _cache_entries(source.path, cache_dir)
    for entry in entries:
        cached = _read_cache(entry, identity, verify)
        if cached is not None:
            return cached
    writable = next((entry for entry in entries if _ensure_writable_dir(entry)), None)
    with contextlib.ExitStack() as stack:
        # Archives are extracted into the cache folder (or a temporary one when nothing is writable).
        workdir = writable or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dlrepro-")))
        arrays, layout = _decode_source(source, verify, workdir)
    fmt = _describe_format(source, layout)
    if writable is None:
        return Cifar10(**arrays, source=str(source.path), format=fmt)
    _write_cache(writable, identity, verify, layout, fmt, arrays)
    del arrays  # hand back the memory-mapped copy, so first and later loads behave the same
    cached = _read_cache(writable, identity, verify)
    if cached is None:  # pragma: no cover - only if the cache vanished between write and read
        raise DatasetError(f"the CIFAR-10 cache at {writable} could not be read back: delete it and retry")
    return dataclasses.replace(cached, from_cache=False)


def _not_official(path: Path) -> DatasetError:
    return DatasetError(
        f"{path} is a PNG/JPEG class-folder copy, not the official {ARCHIVE_NAME}, so it cannot be "
        "MD5-checked: pass --no-verify (verify=False) to use a re-encoded copy such as a JPEG folder"
    )


def _describe_format(source: _Source, layout: str) -> str:
    name = _LAYOUT_NAMES[layout]
    return f"{name} (from archive {source.path.name})" if source.kind == _ARCHIVE else name


def _source_files(source: _Source) -> list[str]:
    """The files whose size and mtime identify ``source``; raises DatasetError when some are missing."""
    if source.kind == _ARCHIVE:
        return [str(source.path)]
    if source.kind == _OFFICIAL:
        return [str(p) for p in _official_files(source.path)]
    return [path for paths, _ in _scan_image_folder(source.path).values() for path in paths]


def _decode_source(source: _Source, verify: bool, workdir: Path) -> tuple[dict[str, np.ndarray], str]:
    """Decode ``source`` into the four arrays; return them and the layout that was found."""
    if source.kind == _OFFICIAL:
        return _decode_official(source.path, verify), _OFFICIAL
    if source.kind == _IMAGE_FOLDER:
        return _decode_image_folder(_scan_image_folder(source.path)), _IMAGE_FOLDER
    return _decode_archive(source.path, verify, workdir)


# ------------------------------------------------------------------------------------------ the cache


def _identity(root: Path, files: Sequence[str]) -> dict:
    """Path, total size, newest mtime and a digest of every file's (name, size, mtime) of a source."""
    digest = hashlib.sha256()
    size = mtime = 0
    for path in files:
        st = os.stat(path)
        size += st.st_size
        mtime = max(mtime, st.st_mtime_ns)
        digest.update(f"{os.path.relpath(path, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
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
        if manifest.get("layout") == _IMAGE_FOLDER:
            raise _not_official(Path(identity["path"]))
        return None  # built without MD5 checks: rebuild with them
    try:
        arrays = {name: np.load(entry / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _ARRAYS}
    except (OSError, ValueError):
        return None
    if not _arrays_look_right(arrays):
        return None
    return Cifar10(**arrays, source=identity["path"], format=manifest.get("format", ""),
                   cache_dir=str(entry), from_cache=True)


def _arrays_look_right(arrays: dict[str, np.ndarray]) -> bool:
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3) or images.ndim != 4:
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
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------ official pickle batches


def _official_files(directory: Path) -> list[Path]:
    """The seven official files, in a fixed order; a missing one is a DatasetError naming it."""
    paths = [directory / name for name in (*TRAIN_BATCHES, TEST_BATCH, META_FILE)]
    for path in paths:
        if not path.is_file():
            raise DatasetError(
                f"CIFAR-10 file {path} is missing: the copy is incomplete; re-extract or re-download "
                f"{ARCHIVE_NAME}"
            )
    return paths


def _decode_official(directory: Path, verify: bool) -> dict[str, np.ndarray]:
    """Check (MD5s when ``verify``, structure always) and decode the official batches."""
    paths = _official_files(directory)
    if verify:
        for path in paths:
            _check_md5(path, FILE_MD5[path.name])
    _check_meta(directory / META_FILE)
    train = [_read_batch(directory / name, verify) for name in TRAIN_BATCHES]
    test_images, test_labels = _read_batch(directory / TEST_BATCH, verify)
    return {
        "train_images": np.concatenate([images for images, _ in train]),
        "train_labels": np.concatenate([labels for _, labels in train]),
        "test_images": test_images,
        "test_labels": test_labels,
    }


def _read_batch(path: Path, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as (uint8 NHWC images, int64 labels), after structural checks."""
    batch = _unpickle(path)
    data, labels = _field(batch, "data", path), _field(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _ROW:
        raise DatasetError(
            f"{path}: 'data' is {_describe_value(data)}, but CIFAR-10 rows are {_ROW} uint8 values "
            "(3x32x32, channel-major): the file is not a CIFAR-10 batch; re-download it"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(
            f"{path}: 'labels' is not a list of integers ({_one_line(exc)}); re-download it"
        ) from exc
    if labels.ndim != 1 or len(labels) != len(data):
        raise DatasetError(
            f"{path} holds {len(data)} images but {labels.size} labels: the file is corrupt; re-download it"
        )
    outside = labels[(labels < 0) | (labels >= len(CLASSES))]
    if outside.size:
        raise DatasetError(f"{path} has label {outside[0]} outside 0-9: the file is corrupt; re-download it")
    if verify and len(data) != _OFFICIAL_BATCH_SIZE:
        raise DatasetError(
            f"{path} holds {len(data)} images, an official batch holds {_OFFICIAL_BATCH_SIZE}: "
            f"re-download it, or {_NO_VERIFY}"
        )
    # Each row is 1024 red, then 1024 green, then 1024 blue values (row-major 32x32 planes): CHW -> HWC.
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels


def _check_meta(path: Path) -> None:
    """batches.meta must list the ten official class names, in the official order."""
    names = _field(_unpickle(path), "label_names", path)
    try:
        decoded = tuple(n.decode("ascii") if isinstance(n, bytes) else n for n in names)
    except (TypeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: 'label_names' is unreadable ({_one_line(exc)}); re-download it") from exc
    if decoded != CLASSES:
        raise DatasetError(
            f"{path} lists classes {list(decoded)}, not CIFAR-10's {list(CLASSES)}: wrong dataset; "
            "re-download it"
        )


def _field(batch: object, key: str, path: Path) -> object:
    """``batch[key]``, accepting bytes keys (official, Python 2) and str keys (re-pickled copies)."""
    if isinstance(batch, dict):
        for candidate in (key.encode(), key):
            if candidate in batch:
                return batch[candidate]
    raise DatasetError(f"{path} has no '{key}' entry: it is not a CIFAR-10 batch file; re-download it")


def _describe_value(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__name__}"


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """The only use pickles make of ``_codecs.encode``: bytes pickled by Python 3 at protocol 2."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refused _codecs.encode call that is not str -> latin1 bytes")
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

    def __init__(self, file, path: Path) -> None:
        super().__init__(file, encoding="bytes")  # the official files are Python 2 pickles
        self._path = path

    def find_class(self, module: str, name: str) -> object:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise DatasetError(
                f"{self._path} is not a plain CIFAR-10 batch: its pickle asks for {module}.{name}, which "
                "is refused (only numpy arrays are allowed); delete it and re-download the official archive"
            )
        return allowed


def _unpickle(path: Path) -> object:
    """Read one batch file with the restricted unpickler; corrupt or truncated files are DatasetErrors."""
    try:
        with open(path, "rb") as f:
            return _BatchUnpickler(f, path).load()
    except DatasetError:
        raise
    except Exception as exc:  # a damaged pickle can fail in many ways: EOFError, UnpicklingError, ...
        raise DatasetError(f"{path} is truncated or corrupt ({_one_line(exc)}): re-download it") from exc


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(path: Path, expected: str) -> None:
    actual = _md5(path)
    if actual != expected:
        raise DatasetError(
            f"{path} fails the MD5 check (it is {actual}, the official file is {expected}): it is truncated, "
            f"corrupt or not the official file; re-download it, or {_NO_VERIFY}"
        )


# ------------------------------------------------------------------------------------ image folders


def _scan_image_folder(directory: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per split, the sorted image paths (class by class in official order) and their labels."""
    listing = {}
    for split in SPLITS:
        class_dirs = _class_dirs(directory / split)
        paths: list[str] = []
        labels: list[int] = []
        for label, name in enumerate(CLASSES):
            files = _class_images(class_dirs[name])
            paths += files
            labels += [label] * len(files)
        listing[split] = (paths, np.asarray(labels, dtype=np.int64))
    return listing


def _class_dirs(split_dir: Path) -> dict[str, str]:
    """The class folders of one split, which must be exactly the ten official names."""
    with os.scandir(split_dir) as it:
        found = {e.name: e.path for e in it if e.is_dir() and not e.name.startswith(".")}
    unknown = sorted(set(found) - set(CLASSES))
    missing = [name for name in CLASSES if name not in found]
    if unknown or missing:
        problem = f"unknown class folder(s) {unknown}" if unknown else f"no class folder(s) {missing}"
        raise DatasetError(
            f"{split_dir} has {problem}: the class folders must be exactly {', '.join(CLASSES)}"
        )
    return found


def _class_images(class_dir: str) -> list[str]:
    """Sorted image paths of one class folder; other visible files are refused, hidden ones skipped."""
    with os.scandir(class_dir) as it:
        names = sorted(e.name for e in it if not e.name.startswith("."))
    for name in names:
        if not name.lower().endswith(IMAGE_SUFFIXES):
            raise DatasetError(
                f"{os.path.join(class_dir, name)} is not a .png/.jpg image: remove it from the class folder"
            )
    if not names:
        raise DatasetError(f"class folder {class_dir} holds no images: the copy is incomplete")
    return [os.path.join(class_dir, name) for name in names]


def _decode_image_folder(listing: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, np.ndarray]:
    """Decode both splits, in parallel worker processes when there are many images."""
    total = sum(len(paths) for paths, _ in listing.values())
    arrays = {}
    with _chunk_mapper(total) as mapper:
        for split, (paths, labels) in listing.items():
            arrays[f"{split}_images"] = _decode_images(paths, mapper, f"decoding CIFAR-10 {split}")
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


def _decode_images(paths: list[str], mapper: Callable, desc: str) -> np.ndarray:
    """Decode ``paths`` into one (N, 32, 32, 3) uint8 array, in chunks, with a progress bar."""
    out = np.empty((len(paths), 32, 32, 3), dtype=np.uint8)
    chunk = 512
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    with _progress(total=len(paths), desc=desc, unit="img") as bar:
        for start, images in zip(range(0, len(paths), chunk), mapper(_decode_chunk, chunks), strict=True):
            out[start:start + len(images)] = images
            bar.update(len(images))
    return out


def _decode_chunk(paths: list[str]) -> np.ndarray:
    """Decode a list of image files (runs in a worker process)."""
    out = np.empty((len(paths), 32, 32, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = _decode_image(path)
    return out


def _decode_image(path: str) -> np.ndarray:
    """One 32x32 image file as an RGB uint8 array; anything else is a DatasetError naming the file."""
    try:
        with Image.open(path) as image:
            if image.size != (32, 32):
                width, height = image.size
                raise DatasetError(
                    f"image {path} is {width}x{height} pixels but CIFAR-10 images are 32x32: "
                    "replace it or fix the copy"
                )
            return np.asarray(image.convert("RGB"))
    except DatasetError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # Pillow raises all these
        raise DatasetError(
            f"cannot decode image {path} ({_one_line(exc)}): the file is corrupt; replace it"
        ) from exc


# ----------------------------------------------------------------------------------------- archives


def _decode_archive(archive: Path, verify: bool, workdir: Path) -> tuple[dict[str, np.ndarray], str]:
    """Check, extract and decode an archive of either layout; the extracted tree is removed afterwards."""
    if verify and archive.name == ARCHIVE_NAME:
        _check_md5(archive, ARCHIVE_MD5)
    dest = workdir / "extracted"
    with _open_tar(archive) as tar:
        members = _checked_members(tar, archive)
        official = any(PurePosixPath(m.name).name in FILE_MD5 for m in members)
        if verify and not official:
            raise _not_official(archive)  # fail before spending time extracting
        _extract_members(tar, members, archive, dest)
    try:
        inner = _find_layout(dest)
        if inner is None:
            raise DatasetError(
                f"archive {archive} holds neither {BATCHES_DIR}/ nor train/ and test/ class folders: "
                f"it is not a CIFAR-10 copy"
            )
        if inner.kind == _IMAGE_FOLDER and verify:
            raise _not_official(archive)
        return _decode_source(inner, verify, workdir)
    finally:
        # Later loads use the .npy cache, so keeping the extracted files would only double the disk use.
        shutil.rmtree(dest, ignore_errors=True)


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


def _checked_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """All members, after refusing any that could write outside the target or create special files."""
    members = tar.getmembers()
    for member in members:
        reason = _unsafe_reason(member)
        if reason:
            raise DatasetError(
                f"archive {archive} has an unsafe member {member.name!r} ({reason}): refusing to extract it; "
                "use a trusted copy, e.g. re-download the official archive"
            )
    return members


def _unsafe_reason(member: tarfile.TarInfo) -> str | None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or member.name.startswith("\\") or (len(member.name) > 1 and member.name[1] == ":"):
        return "absolute path"
    if ".." in path.parts:
        return "'..' path component"
    if member.issym() or member.islnk():
        return "symbolic or hard link"
    if not (member.isfile() or member.isdir()):
        return "device, FIFO or other special file"
    return None


def _extract_members(tar: tarfile.TarFile, members: list[tarfile.TarInfo], archive: Path, dest: Path) -> None:
    """Extract checked members into a temporary folder beside ``dest``, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
    try:
        # Our own checks come first; the 'data' filter (Python >= 3.11.4) is a second line of defence.
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        bar = _progress(total=len(members), desc=f"extracting {archive.name}", unit="file")
        with bar:
            tar.extractall(tmp, members=_counting(members, bar), **extra)
        if dest.exists():
            shutil.rmtree(dest)  # a stale tree from an interrupted earlier load
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _counting(members: list[tarfile.TarInfo], bar: tqdm) -> Iterator[tarfile.TarInfo]:
    for member in members:
        yield member
        bar.update(1)


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
    check = "MD5-verified" if verify else "not MD5-verified (--no-verify)"
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
    # np.array copies, which also makes a read-only memory map writable as torch.from_numpy wants.
    nhwc = torch.from_numpy(np.array(images, copy=True)).to(device)
    return nhwc.permute(0, 3, 1, 2).contiguous()  # transpose on the device, where it is fastest


def normalize(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(batch / 255 - mean) / std`` per channel, as a new ``dtype`` tensor (batch is uint8 NCHW)."""
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
    if isinstance(labels, torch.Tensor):
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
