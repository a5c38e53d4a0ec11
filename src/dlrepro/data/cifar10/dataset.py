"""What CIFAR-10 is and what a load returns: the classes, the official files and their MD5s, the layouts a
copy can have, the `Cifar10` result, and the small helpers every reader shares (one-line error text, the
progress bar)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from dlrepro import errors

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")

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

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz")
# The most a file of a copy can hold, so that a hostile copy cannot make a load read gigabytes. A 32x32 RGB
# image is 3 KB uncompressed (PNG or JPEG headers and metadata add little); an official batch file is
# 31 MB (10,000 rows of 3,072 bytes). Larger files are refused, naming the file and the limit.
MAX_IMAGE_BYTES = 256 * 2**10
MAX_BATCH_BYTES = 64 * 2**20


def size_limit(name: str) -> tuple[int, str]:
    """(bytes, what) a file of a copy may hold: a batch file (or batches.meta), else an image."""
    return (MAX_BATCH_BYTES, "an official batch file") if name in FILE_MD5 else (MAX_IMAGE_BYTES, "a 32x32 image")

# The layouts of an unpacked copy, and how a report names them.
OFFICIAL = "official"  # the official python batches (MD5-checkable)
IMAGE_FOLDER = "imagefolder"  # train/<class>/*.png|jpg and test/<class>/... (a re-encoded copy)
LAYOUT_NAMES = {OFFICIAL: "official python batches", IMAGE_FOLDER: "PNG/JPEG class folders"}

NO_VERIFY = "pass --no-verify (verify=False) for a re-encoded or custom copy"

Namer = Callable[[str], str]  # relative file name -> how to name that file in an error message
Arrays = dict[str, np.ndarray]  # "train_images", "train_labels", "test_images", "test_labels" -> array


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
    layout: str = ""  # OFFICIAL (MD5-checkable batches) or IMAGE_FOLDER (a re-encoded PNG/JPEG copy)
    from_cache: bool = False  # True when the arrays were memory-mapped from an existing cache


def from_arrays(arrays: Arrays, **facts) -> Cifar10:
    """A `Cifar10` of the four named arrays plus the given facts (source, format, ...)."""
    return Cifar10(train_images=arrays["train_images"], train_labels=arrays["train_labels"],
                   test_images=arrays["test_images"], test_labels=arrays["test_labels"], **facts)


def progress(**kwargs) -> tqdm:
    """A tqdm bar on stderr, shown only when stderr is a terminal."""
    return tqdm(disable=not (sys.stderr is not None and sys.stderr.isatty()), leave=False, **kwargs)


def one_line(exc: BaseException) -> str:
    """An exception as short one-line text, for use inside DatasetError messages."""
    return errors.one_line(exc, limit=200)
