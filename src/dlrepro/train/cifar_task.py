"""CIFAR-10 tasks: the ConvNet of Part 2 and the MLP 3072-20-10 of Part 1, one input pipeline for both.

The images live as one uint8 NCHW tensor on the training device. Each step takes its minibatch by the
epoch's permutation (`EpochBatches`), optionally augments it (random 4-pixel-padded crop + horizontal flip)
and normalises it with the training set's per-channel mean and std, all as batched tensor ops on the
device. Losses and counts stay on the device (no per-step synchronisation); evaluation runs without
autograd in large batches over the full train and test splits (or the configured subsets).

The protocol settings (dlrepro.train.protocol) wrap this: `outputs` (what the model emits into the loss;
under softmax-batch a prediction depends on its batch, so evaluation goes in batches of the training batch
size, over the split in a fixed order, `eval_order`), `train_metrics` ("running": the train metrics are the
mean over the last epoch's batches, in train mode, each before its update, and the training split is not
evaluated; at step 0, before any batch, an evaluation pass), `normalize` ("half": mean 0.5, std 0.5 per
channel) and `order`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from dlrepro import seeds
from dlrepro.data import cifar10
from dlrepro.models.outputs import emit, eval_batch_size
from dlrepro.registry import OPTIMIZERS
from dlrepro.train.batches import EpochBatches
from dlrepro.train.engine import BatchStats, Schedule, metrics_dict


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """The ConvNet study's optimizer `name` (dlrepro.registry.OPTIMIZERS["cnn"], or a user's class by import
    path), with torch's fused implementation where the registry says it has one (same update, tested equal)."""
    from dlrepro.train.plugins import build

    entry = OPTIMIZERS["cnn"].get(name)
    return build(name, OPTIMIZERS["cnn"])(params, lr=lr, **({"fused": True} if entry and entry.fused else {}))


EVAL_ORDER_SEED = 20_000_713  # the fixed evaluation order under softmax-batch; no run's seed streams


def eval_order(n: int) -> np.ndarray:
    """The order in which a split of n images is evaluated when predictions depend on their batch
    (softmax-batch): one fixed permutation, the same for every run. Not the stored order, which may be
    sorted by class (an image-folder copy is: batches of one class would make the batch-axis softmax
    meaningless), while the reference evaluated the official files' order, whose classes are mixed."""
    return np.random.default_rng(EVAL_ORDER_SEED).permutation(n)


def eval_batches(x_all: torch.Tensor, y_all: torch.Tensor, size: int, outputs: str):
    """A split's evaluation batches (images, labels) of `size`: in stored order, or in `eval_order` when the
    predictions depend on their batch (softmax-batch)."""
    order = torch.from_numpy(eval_order(len(y_all))).to(y_all.device) if outputs == "softmax-batch" else None
    for lo in range(0, len(y_all), size):
        if order is None:
            yield x_all[lo:lo + size], y_all[lo:lo + size]
        else:
            rows = order[lo:lo + size]
            yield x_all.index_select(0, rows), y_all.index_select(0, rows)


def input_stats(normalize: str, train_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel (mean, std) inputs are normalised with: the training split's (channel), or 0.5 and 0.5
    (half, the as-run `Normalize((0.5,) * 3, (0.5,) * 3)`)."""
    if normalize == "half":
        half = torch.full((3,), 0.5, device=train_x.device)
        return half, half
    return cifar10.channel_stats(train_x)


def running_epoch(stats: BatchStats, step: int, steps_per_epoch: int, batch: tuple) -> BatchStats:
    """The epoch's batches so far (train_metrics "running") with this step's `batch` (loss sum, correct,
    count) added; a step that starts an epoch starts them afresh."""
    if step % steps_per_epoch == 0:
        stats = BatchStats()
    stats.add(*batch)
    return stats


def device_split(images: np.ndarray, labels: np.ndarray, n: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A split on the device as uint8 images and int64 labels: its first n images, stratified (0 = all)."""
    idx = cifar10.stratified_subset(labels, n) if n else np.arange(len(labels))
    x = cifar10.to_device_tensor(np.asarray(images[idx]), device)
    return x, torch.as_tensor(np.asarray(labels[idx]), dtype=torch.int64, device=device)


class CifarTask:
    """Train `model` on CIFAR-10 with `optimizer`; epoch-based, eval every `eval_every` epochs."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: cifar10.Cifar10, *,
                 device: torch.device, batch_size: int, epochs: int, eval_every: int, seed: int,
                 augment: str = "none", subset: int = 0, test_subset: int = 0, precision: str = "fp32",
                 channels_last: bool = False, compile: bool = False, eval_batch: int = 1000,
                 input_dtype: torch.dtype = torch.float32, outputs: str = "logits", train_metrics: str = "eval",
                 normalize: str = "channel", order: str = "each"):
        self.device, self.augment, self.input_dtype = device, augment, input_dtype
        self.outputs, self.running = outputs, train_metrics == "running"
        self.eval_batch = eval_batch_size(outputs, batch_size, eval_batch)
        self.train_xy = device_split(data.train_images, data.train_labels, subset, device)
        self.test_xy = device_split(data.test_images, data.test_labels, test_subset, device)
        self.mean, self.std = input_stats(normalize, self.train_xy[0])
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.to(device=device, memory_format=self.memory_format)  # type: ignore[call-overload]  # torch stubs omit memory_format
        self.optimizer = optimizer
        self.forward = torch.compile(self.model) if compile else self.model
        self.autocast_dtype = torch.bfloat16 if precision == "bf16" else None
        self.augment_stream = seeds.torch_generator(seed, seeds.AUGMENT, device)  # not the weights' stream
        self.batches = EpochBatches(*self.train_xy, batch_size, seed, order)
        spe = self.batches.steps_per_epoch
        self.schedule = Schedule(total_steps=epochs * spe, eval_every=eval_every * spe, steps_per_epoch=spe)
        self.epoch_stats = BatchStats()  # train_metrics "running": this epoch's batches so far

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)  # weights stay fp32

    def _inputs(self, x_uint8: torch.Tensor) -> torch.Tensor:
        x = cifar10.normalize(x_uint8, self.mean, self.std, dtype=self.input_dtype)
        return x.contiguous(memory_format=self.memory_format)

    def train_step(self, step: int):
        x, y = self.batches.get(step)
        if self.augment == "flipcrop":
            x = cifar10.flip_crop(x, self.augment_stream)
        if not self.model.training:  # set once after each evaluation: Module.train() walks every submodule
            self.model.train()
        with self._autocast():
            logits = self.forward(self._inputs(x))
        out = emit(logits.float(), self.outputs)
        loss = F.cross_entropy(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if not self.running:  # the train metrics come from an evaluation pass: only the loss is watched
            return loss.detach() * len(y), 0, len(y)
        stats = loss.detach() * len(y), (out.detach().argmax(1) == y).sum(), len(y)
        self.epoch_stats = running_epoch(self.epoch_stats, step, self.batches.steps_per_epoch, stats)
        return stats

    @torch.no_grad()
    def _eval_split(self, x_all: torch.Tensor, y_all: torch.Tensor) -> tuple[float, float]:
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        for x, y in eval_batches(x_all, y_all, self.eval_batch, self.outputs):
            with self._autocast():
                logits = emit(self.forward(self._inputs(x)).float(), self.outputs)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
        return float(loss_sum) / len(y_all), int(correct) / len(y_all)

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        self.model.eval()
        if self.running and self.epoch_stats.count:
            train = self.epoch_stats.means()
        else:
            train = self._eval_split(*self.train_xy)
        return metrics_dict(train, self._eval_split(*self.test_xy))

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "augment_stream": self.augment_stream.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.augment_stream.set_state(state["augment_stream"])
