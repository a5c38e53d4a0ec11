"""CIFAR-10: a safe, fast loader, and the batched tensor helpers of the training input pipeline.

``load_cifar10(root)`` accepts three kinds of copy:

1. the official python version: ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``
   (``root`` may also point straight at ``cifar-10-batches-py/``);
2. an image-folder copy: ``train/<class>/*.png|jpg`` and ``test/<class>/*.png|jpg``, optionally inside
   one wrapping top-level folder;
3. a ``.tar``, ``.tar.gz`` or ``.tar.xz`` archive of either (``root`` is the archive itself, or a
   directory holding exactly one archive).

The modules, in the order a load runs through them:

- ``load``: the entry points ``load_cifar10`` and ``prepare`` (``dlrepro data cifar10``);
- ``locate``: the root (given, or $DLREPRO_CIFAR10) and which copy it holds;
- ``official``: the official pickle batches, their MD5s and the restricted unpickler;
- ``imagefolder``: class folders of PNG/JPEG images, decoded in worker processes;
- ``archive``: a checked, in-memory read of an archive of either layout (nothing is extracted);
- ``cache``: the decode-once ``.npy`` cache that later loads memory-map;
- ``download``: fetching the official archive, only on request;
- ``dataset``: the facts every module shares (classes, file names, MD5s) and the ``Cifar10`` result;
- ``tensors``: subset, device tensor, channel statistics, normalisation, crop + flip.

Only ``tensors`` imports torch. Every module is imported here only when one of its names is first used, so
locating, checking and caching a copy never imports torch, and reading the split sizes (TRAIN_SIZE,
TEST_SIZE) imports nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# The official splits' sizes (images): every module that counts CIFAR-10 images reads them here.
TRAIN_SIZE, TEST_SIZE = 50_000, 10_000

if TYPE_CHECKING:
    from dlrepro.data.cifar10.dataset import (
        ARCHIVE_MD5,
        ARCHIVE_NAME,
        BATCHES_DIR,
        CLASSES,
        FILE_MD5,
        OFFICIAL_FILES,
        SPLITS,
        TEST_BATCH,
        TRAIN_BATCHES,
        Cifar10,
    )
    from dlrepro.data.cifar10.load import load_cifar10, prepare
    from dlrepro.data.cifar10.locate import ENV_VAR
    from dlrepro.data.cifar10.tensors import (
        channel_stats,
        crop_flip_at,
        flip_crop,
        normalize,
        stratified_subset,
        to_device_tensor,
    )

__all__ = [
    "TEST_SIZE",
    "TRAIN_SIZE",
    "ARCHIVE_MD5",
    "ARCHIVE_NAME",
    "BATCHES_DIR",
    "CLASSES",
    "ENV_VAR",
    "FILE_MD5",
    "OFFICIAL_FILES",
    "SPLITS",
    "TEST_BATCH",
    "TRAIN_BATCHES",
    "Cifar10",
    "channel_stats",
    "crop_flip_at",
    "flip_crop",
    "load_cifar10",
    "normalize",
    "prepare",
    "stratified_subset",
    "to_device_tensor",
]

# Where each name lives: imported on first use, so that the split sizes (a config's range) cost no import of
# NumPy or Pillow, and the tensor helpers no import of torch until they are used.
_HOMES = {**dict.fromkeys(("ARCHIVE_MD5", "ARCHIVE_NAME", "BATCHES_DIR", "CLASSES", "FILE_MD5", "OFFICIAL_FILES",
                           "SPLITS", "TEST_BATCH", "TRAIN_BATCHES", "Cifar10"), "dataset"),
          "load_cifar10": "load", "prepare": "load", "ENV_VAR": "locate",
          **dict.fromkeys(("channel_stats", "crop_flip_at", "flip_crop", "normalize", "stratified_subset",
                           "to_device_tensor"), "tensors")}


def __getattr__(name: str) -> object:
    """A name of the loader's modules, imported on first use: ``cifar10.load_cifar10`` works as before."""
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
