"""The official python version: seven pickle files (five train batches, the test batch, batches.meta).

Each batch is a dict with a (10000, 3072) uint8 'data' array of channel-major rows and a list of 'labels'.
The files are pickles, and plain ``pickle.load`` calls whatever callable a file names, so they are read
with an unpickler that can only rebuild plain containers and numpy arrays.  With ``verify`` every file must
match its official MD5; the structural checks (row size, label range, class names) always run.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import numpy as np

from dlrepro.data.cifar10.dataset import (
    ARCHIVE_NAME,
    CLASSES,
    FILE_MD5,
    META_FILE,
    NO_VERIFY,
    OFFICIAL_FILES,
    TEST_BATCH,
    TRAIN_BATCHES,
    Arrays,
    Namer,
    one_line,
)
from dlrepro.errors import DatasetError

try:  # numpy >= 2 moved the array-rebuild function; old pickles still name numpy.core
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct  # type: ignore[no-redef]  # numpy 2 moved it

_ROW = 3 * 32 * 32
_OFFICIAL_BATCH_SIZE = 10_000


def official_files(directory: Path) -> list[Path]:
    """The seven official files, in a fixed order; a missing one is a DatasetError naming it."""
    paths = [directory / name for name in OFFICIAL_FILES]
    for path in paths:
        if not path.is_file():
            raise DatasetError(
                f"CIFAR-10 file {path} is missing: the copy is incomplete; re-extract or re-download "
                f"{ARCHIVE_NAME}"
            )
    return paths


def decode_official(blobs: dict[str, bytes], namer: Namer, verify: bool) -> Arrays:
    """Check (MD5s when ``verify``, structure always) and decode the seven official files' contents."""
    if verify:
        for name in OFFICIAL_FILES:
            check_md5(hashlib.md5(blobs[name], usedforsecurity=False).hexdigest(), FILE_MD5[name], namer(name))
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
    batch = unpickle(blob, where)
    data, raw_labels = _field(batch, "data", where), _field(batch, "labels", where)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _ROW:
        raise DatasetError(
            f"{where}: 'data' is {_describe_value(data)}, but CIFAR-10 rows are {_ROW} uint8 values "
            "(3x32x32, channel-major): the file is not a CIFAR-10 batch; re-download it"
        )
    try:
        labels = np.asarray(raw_labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DatasetError(f"{where}: 'labels' is not a list of integers ({one_line(exc)}); re-download it") from exc
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
            f"re-download it, or {NO_VERIFY}"
        )
    # Each row is 1024 red, then 1024 green, then 1024 blue values (row-major 32x32 planes): CHW -> HWC.
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels


def _check_meta(blob: bytes, where: str) -> None:
    """batches.meta must list the ten official class names, in the official order."""
    names = _field(unpickle(blob, where), "label_names", where)
    try:
        decoded = tuple(n.decode("ascii") if isinstance(n, bytes) else n for n in cast(Iterable, names))
    except (TypeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{where}: 'label_names' is unreadable ({one_line(exc)}); re-download it") from exc
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


# --------------------------------------------------------------------------------------------- MD5s


def check_md5(actual: str, expected: str, where: str) -> None:
    if actual != expected:
        raise DatasetError(
            f"{where} fails the MD5 check (it is {actual}, the official file is {expected}): it is truncated, "
            f"corrupt or not the official file; re-download it, or {NO_VERIFY}"
        )


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------ the restricted unpickler


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


def unpickle(blob: bytes, where: str) -> object:
    """Unpickle one batch file's bytes with the restricted unpickler; damage becomes a DatasetError."""
    try:
        return _BatchUnpickler(io.BytesIO(blob), where).load()
    except DatasetError:
        raise
    except Exception as exc:  # a damaged pickle can fail in many ways: EOFError, UnpicklingError, ...
        raise DatasetError(f"{where} is truncated or corrupt ({one_line(exc)}): re-download it") from exc
