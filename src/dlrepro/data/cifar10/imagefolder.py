"""Image-folder copies: ``train/<class>/*.png|jpg`` and ``test/<class>/...``, in a directory or an archive.

A folder (or archive) becomes a `Tree` of payloads (file paths, or member bytes), is checked and flattened
into a `Listing` in a fixed order (class by class, then by file name), and is decoded into arrays, in
worker processes when there are many images.  Such a copy is re-encoded, so no MD5 exists for it: with
``verify`` what is checked is 5,000 train and 1,000 test images per class, each 32x32 pixels in RGB mode.
"""

from __future__ import annotations

import contextlib
import functools
import io
import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from dlrepro.data.cifar10 import TEST_SIZE, TRAIN_SIZE
from dlrepro.data.cifar10.dataset import (
    CLASSES,
    IMAGE_SUFFIXES,
    MAX_IMAGE_BYTES,
    NO_VERIFY,
    SPLITS,
    Arrays,
    Namer,
    one_line,
    progress,
)
from dlrepro.errors import DatasetError
from dlrepro.readfile import FileRefused, file_kind, read_regular

Payload = str | bytes  # an image file's path, or its bytes read from an archive
# A class-folder tree: split -> class folder name -> file name -> payload (None: an archive member not read).
Tree = dict[str, dict[str, dict[str, Payload | None]]]
# A checked listing: split -> (names for messages, payloads, labels), sorted class by class, then by name.
Listing = dict[str, tuple[list[str], list[Payload], np.ndarray]]

_PER_CLASS = {"train": TRAIN_SIZE // len(CLASSES), "test": TEST_SIZE // len(CLASSES)}  # in a complete copy
_POOL_MIN_IMAGES = 4096  # below this, decoding inline beats starting worker processes
_CHUNK = 512  # images per decoding task


def tree_from_dir(directory: Path) -> Tree:
    """The class folders of ``directory``/train and /test as a Tree of file paths (hidden entries skipped)."""
    tree: Tree = {}
    for split in SPLITS:
        tree[split] = {}
        for entry in _scandir_visible(directory / split):
            if entry.is_dir():
                tree[split][entry.name] = {e.name: _regular(e) for e in _scandir_visible(entry.path)}
    return tree


def _regular(entry: os.DirEntry) -> str:
    """A class folder's entry, when it is a file or a folder (a FIFO would block the decoder that opens it)."""
    if not entry.is_file() and not entry.is_dir():
        try:
            kind = file_kind(os.stat(entry.path).st_mode)
        except OSError:
            kind = "a broken link"
        raise DatasetError(f"{entry.path} is {kind}, not an image file: remove it from the class folder")
    return entry.path


def _scandir_visible(path: str | Path) -> list[os.DirEntry]:
    with os.scandir(path) as it:
        return [entry for entry in it if not entry.name.startswith(".")]


def image_listing(tree: Tree, namer: Namer) -> Listing:
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
        names: list[str] = []
        payloads: list[Payload] = []
        labels: list[int] = []
        for label, name in enumerate(CLASSES):
            files = classes[name]
            if not files:
                raise DatasetError(f"class folder {namer(f'{split}/{name}')} holds no images: the copy is incomplete")
            for file_name in sorted(files):  # sorted, so the order never depends on the file system
                where = namer(f"{split}/{name}/{file_name}")
                payload = files[file_name]
                if "/" in file_name or not file_name.lower().endswith(IMAGE_SUFFIXES) or payload is None:
                    raise DatasetError(f"{where} is not a .png/.jpg image: remove it from the class folder")
                names.append(where)
                payloads.append(payload)
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
                    f"complete the copy, or {NO_VERIFY}"
                )


def decode_image_folder(listing: Listing, verify: bool) -> Arrays:
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


def _decode_images(names: list[str], payloads: list[Payload], mapper: Callable, desc: str,
                   rgb_only: bool = False) -> np.ndarray:
    """Decode images into one (N, 32, 32, 3) uint8 array, a chunk per task, with a progress bar."""
    out = np.empty((len(names), 32, 32, 3), dtype=np.uint8)
    starts = range(0, len(names), _CHUNK)
    chunks = [list(zip(names[i:i + _CHUNK], payloads[i:i + _CHUNK], strict=True)) for i in starts]
    with progress(total=len(names), desc=desc, unit="img") as bar:
        decode = functools.partial(_decode_chunk, rgb_only=rgb_only)
        for start, images in zip(starts, mapper(decode, chunks), strict=True):
            out[start:start + len(images)] = images
            bar.update(len(images))
    return out


def _decode_chunk(chunk: list[tuple[str, Payload]], rgb_only: bool = False) -> np.ndarray:
    """Decode a list of (name, path or bytes) images; runs in a worker process for big jobs."""
    out = np.empty((len(chunk), 32, 32, 3), dtype=np.uint8)
    for i, (name, payload) in enumerate(chunk):
        out[i] = _decode_image(name, payload, rgb_only)
    return out


def _decode_image(name: str, payload: Payload, rgb_only: bool = False) -> np.ndarray:
    """One 32x32 image (a path or its bytes) as RGB uint8 (converted to RGB unless ``rgb_only``, which
    refuses other modes); anything else is a DatasetError naming it."""
    try:
        if not isinstance(payload, bytes):  # a path: a regular file of at most what a 32x32 image can be
            payload = read_regular(payload, MAX_IMAGE_BYTES, "CIFAR-10 image")
        with Image.open(io.BytesIO(payload)) as image:
            if image.size != (32, 32):
                width, height = image.size
                raise DatasetError(
                    f"image {name} is {width}x{height} pixels but CIFAR-10 images are 32x32: "
                    "replace it or fix the copy"
                )
            if rgb_only and image.mode != "RGB":
                raise DatasetError(
                    f"image {name} is in mode {image.mode} but CIFAR-10 images are RGB: fix the copy, or {NO_VERIFY}"
                )
            return np.asarray(image.convert("RGB"))
    except DatasetError:
        raise
    except FileRefused as exc:
        raise DatasetError(f"{exc}: remove it from the class folder") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # Pillow raises all these
        raise DatasetError(f"cannot decode image {name} ({one_line(exc)}): the file is corrupt; replace it") from exc
