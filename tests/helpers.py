"""Helpers shared by the tests and the benchmarks (tests import them as `from helpers import ...`; pytest puts
tests/ on sys.path, and the benchmark scripts add it themselves)."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from dlrepro.data.cifar10 import CLASSES, SPLITS, TEST_BATCH, TRAIN_BATCHES, Cifar10

# --- synthetic CIFAR-10 ---------------------------------------------------------------------------------
# Tiny random copies in each layout the loader reads (official batches, class folders, archives of either),
# and an in-memory dataset for code that takes a `Cifar10` directly. Nothing here imports torch.

PER_BATCH = 20  # images per official batch in make_official's copy


def random_images(n: int, seed: int) -> np.ndarray:
    """``n`` random uint8 NHWC 32x32 RGB images."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def synthetic_cifar10(n_train: int, n_test: int, seed: int = 0) -> Cifar10:
    """An in-memory `Cifar10` of random images and labels (nothing on disk)."""
    rng = np.random.default_rng(seed)
    return Cifar10(train_images=random_images(n_train, seed), train_labels=rng.integers(0, 10, n_train),
                   test_images=random_images(n_test, seed + 1), test_labels=rng.integers(0, 10, n_test),
                   source="synthetic", format="synthetic")


def write_pickle(path: Path, obj: object) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_batch(path: Path, images: np.ndarray | None, labels, data: np.ndarray | None = None) -> None:
    """A batch as the official files hold it: channel-major rows, bytes keys, a list of int labels (the rows
    are ``data`` when given, else ``images``')."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1) if data is None else data
    write_pickle(path, {b"batch_label": path.name.encode(), b"labels": [int(x) for x in labels],
                        b"data": rows, b"filenames": [f"{i}.png".encode() for i in range(len(rows))]})


def make_official(parent: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """parent/cifar-10-batches-py with five 20-image train batches and a 20-image test batch; returns the
    arrays a load should give."""
    batches = parent / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    images = random_images(6 * PER_BATCH, seed)
    labels = rng.integers(0, 10, size=6 * PER_BATCH)
    for i, name in enumerate([*TRAIN_BATCHES, TEST_BATCH]):
        part = slice(i * PER_BATCH, (i + 1) * PER_BATCH)
        write_batch(batches / name, images[part], labels[part])
    write_pickle(batches / "batches.meta", {b"label_names": [c.encode() for c in CLASSES],
                                            b"num_cases_per_batch": PER_BATCH, b"num_vis": 3072})
    n_train = 5 * PER_BATCH
    return {"train_images": images[:n_train], "train_labels": labels[:n_train],
            "test_images": images[n_train:], "test_labels": labels[n_train:]}


def make_folder(root: Path, per_class: dict[str, int] | None = None, suffix: str = ".png",
                seed: int = 1) -> dict[str, np.ndarray]:
    """root/train/<class>/NNNN.png and root/test/<class>/NNNN.png; returns the arrays in load order."""
    per_class = per_class or {"train": 3, "test": 2}
    expected = {}
    for offset, split in enumerate(SPLITS):
        n = per_class[split]
        images = random_images(10 * n, seed + offset)
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for k in range(n):
                # Names written in reverse, so a test sees that loading sorts them.
                Image.fromarray(images[label * n + k]).save(folder / f"{n - 1 - k:04d}{suffix}")
        order = np.arange(10 * n).reshape(10, n)[:, ::-1].reshape(-1)  # sorted names = reversed writes
        expected[f"{split}_images"] = images[order]
        expected[f"{split}_labels"] = np.repeat(np.arange(10), n)
    return expected


def make_tar(source_dir: Path, archive: Path, arcname: str = "") -> Path:
    """An archive of source_dir's contents (compression from the suffix), under arcname if given."""
    mode = {".gz": "w:gz", ".xz": "w:xz"}.get(archive.suffix, "w")
    with tarfile.open(archive, mode) as tar:
        for child in sorted(source_dir.iterdir()):
            tar.add(child, arcname=f"{arcname}/{child.name}" if arcname else child.name)
    return archive


# --- end of synthetic CIFAR-10 ---------------------------------------------------------------------------
