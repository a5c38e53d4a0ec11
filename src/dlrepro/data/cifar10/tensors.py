"""From the decoded arrays to training batches, as batched tensor ops on the training device: a
class-balanced subset, the uint8 NCHW device tensor, the per-channel statistics, normalisation, and the
random crop + flip augmentation.

This is the only module of the package that imports torch; the loader modules beside it never do, so
locating, checking and caching a copy (``dlrepro data cifar10``) needs no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from dlrepro.errors import ConfigError


def stratified_subset(labels: np.ndarray | torch.Tensor | Sequence[int], n: int) -> np.ndarray:
    """Indices of ``n`` examples taken round-robin by class, returned in ascending order.

    Round r takes the r-th example (in index order) of every class that still has one, classes in
    ascending label order, so every class is represented as equally as possible.  Deterministic.
    """
    labels = np.asarray(labels.cpu().numpy() if isinstance(labels, torch.Tensor) else labels)
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


def to_device_tensor(images: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """uint8 NHWC numpy images (memory-mapped is fine) as a contiguous uint8 NCHW tensor on ``device``."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    # np.array copies, which also makes a read-only memory map writable as torch.from_numpy wants.
    nhwc = torch.from_numpy(np.array(images, copy=True)).to(device)
    return nhwc.permute(0, 3, 1, 2).contiguous()  # transpose on the device, where it is fastest


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


def normalize(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """``(batch / 255 - mean) / std`` per channel, as a new ``dtype`` tensor (default float32; batch is
    uint8 NCHW)."""
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
