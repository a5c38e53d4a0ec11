"""CIFAR-10 nets that differ in optimizer, learning rate and seed, trained together in one process: the
population twin of `dlrepro.train.cifar_task.CifarTask` (the reference it is tested equal to).

The members' parameters live in one flat (S, P) leaf tensor, each parameter a view of its columns; their
BatchNorm buffers are stacked (S, ...). One step runs the net once for all members with
`torch.func.functional_call` under `torch.vmap` (mode "vmap"), which batches each convolution into one
grouped convolution and keeps BatchNorm statistics per member, or member after member over the same stacked
storage (mode "loop"); either way one backward pass fills the (S, P) gradient and one stacked update
(`dlrepro.train.stacked_optim`) applies each member's own optimizer and lr. vmap rather than a hand-written
grouped-convolution twin of the net: it lowers to the same grouped convolutions and works for any net.
vmap is the default (on the 2-core CPU it beat both five single runs and loop on the real ConvNet, while a
narrow net ran faster as plain convolutions: BENCHMARKS.md, "ConvNet population"; on a GPU one launch for
all members is what fills the device); `benchmarks/part2_population.py` measures both on the device and
the faster one trains. The net is any `nn.Module` (functional_call rebinds its
parameters and buffers), so the tests run a narrow net and the ConvNet alike.

Batches: member s reads exactly what its single run reads (`EpochBatches` with its seed); members with one
seed share one batch tensor (no copy). The uint8 images stay on the device and are normalised there. With
`graph=True` on CUDA the whole step (normalise, forward, backward, update) is captured as one CUDA graph
per batch size and replayed; if capture fails it says so once and steps eagerly.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from dlrepro import seeds as seeds_mod
from dlrepro.data import cifar10
from dlrepro.errors import ConfigError
from dlrepro.models.outputs import emit, eval_batch_size
from dlrepro.train.batches import EpochBatches, PopulationBatches
from dlrepro.train.cifar_task import device_split, eval_batches, input_stats, make_optimizer, running_epoch
from dlrepro.train.config import CNNConfig
from dlrepro.train.engine import BatchStats, Schedule, metrics_dict
from dlrepro.train.stacked_optim import StackedOptimizer

MODES = ("vmap", "loop")


def step_options(device: torch.device) -> tuple[str, bool]:
    """(mode, graph) for a population on `device`: where it runs, not what it computes, so set by the
    environment, not the config: DLREPRO_CNN_MODE (vmap | loop; default vmap) and DLREPRO_CUDA_GRAPH
    (1 | 0; default 1: capture the step on CUDA)."""
    mode = os.environ.get("DLREPRO_CNN_MODE") or "vmap"
    if mode not in MODES:
        raise ConfigError(f"DLREPRO_CNN_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    return mode, os.environ.get("DLREPRO_CUDA_GRAPH", "1") != "0"


def build_cnn_population(cfgs: list[CNNConfig], **options: Any) -> PopulationCifarTask:
    """The population of `cnn` configs that share a `dlrepro.train.build.population_key`: each member
    initialised, batched and optimised exactly as `dlrepro.train.build` builds its single run, under the
    protocol settings of the configs (outputs, train_metrics, normalize). `options` go to PopulationCifarTask
    (mode, graph), else `step_options`' defaults."""
    from dlrepro.data.cifar10 import load_cifar10
    from dlrepro.registry import CIFAR_MODELS
    from dlrepro.train.device import resolve_device
    from dlrepro.train.plugins import build, make_net

    cfg = cfgs[0]
    device = resolve_device(cfg.device)
    data = load_cifar10(cfg.data_root, verify=cfg.verify_data, cache_dir=cfg.cache_dir)
    models = []
    for c in cfgs:
        torch.manual_seed(c.seed)  # PyTorch's default initialisation draws from the global generator
        models.append(make_net(build(c.net, CIFAR_MODELS)))
    mode, graph = step_options(device)
    options = {"mode": mode, "graph": graph, **options}
    return PopulationCifarTask(models, [(c.optimizer, c.lr) for c in cfgs], data, device=device,
                               batch_size=cfg.batch_size, epochs=cfg.epochs, eval_every=cfg.eval_every,
                               seeds=[c.seed for c in cfgs], augment=cfg.augment, subset=cfg.subset,
                               test_subset=cfg.test_subset, precision=cfg.precision,
                               channels_last=cfg.channels_last, outputs=cfg.outputs,
                               train_metrics=cfg.train_metrics, normalize=cfg.normalize, **options)


class PopulationCifarTask:
    """S CIFAR-10 runs in one: `models[s]` (its initial weights) trained with `members[s]` = (optimizer, lr)
    on the batches of `seeds[s]`. Other arguments as `CifarTask`'s (outputs, train_metrics and normalize:
    the as-run protocol's settings), plus `mode` (vmap | loop) and `graph` (capture the step as a CUDA graph
    on a CUDA device)."""

    def __init__(self, models: list[nn.Module], members: list[tuple[str, float]], data: cifar10.Cifar10, *,
                 device: torch.device, batch_size: int, epochs: int, eval_every: int, seeds: list[int],
                 augment: str = "none", subset: int = 0, test_subset: int = 0, precision: str = "fp32",
                 channels_last: bool = False, mode: str = "vmap", graph: bool = False, eval_batch: int = 1000,
                 outputs: str = "logits", train_metrics: str = "eval", input_dtype: torch.dtype = torch.float32,
                 normalize: str = "channel"):
        if not len(models) == len(members) == len(seeds):
            raise ValueError("one model, one (optimizer, lr) and one seed per member")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.size, self.device, self.mode, self.augment = len(models), device, mode, augment
        # as CifarTask: under softmax-batch evaluation goes in training-size batches, in `eval_order`;
        # "running" train metrics are the mean over the current epoch's batches
        self.outputs, self.running, self.input_dtype = outputs, train_metrics == "running", input_dtype
        self.eval_batch = eval_batch_size(outputs, batch_size, eval_batch)
        self.epoch_stats = BatchStats()
        self.graph = graph and device.type == "cuda"
        self.graph_error: str | None = None
        self.autocast_dtype = torch.bfloat16 if precision == "bf16" else None
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.train_xy = device_split(data.train_images, data.train_labels, subset, device)
        self.test_xy = device_split(data.test_images, data.test_labels, test_subset, device)
        self.mean, self.std = input_stats(normalize, self.train_xy[0])

        first = models[0]
        self.param_names = [n for n, _ in first.named_parameters()]
        self.shapes = [p.shape for p in first.parameters()]
        self.sizes = [s.numel() for s in self.shapes]
        self.keys = list(first.state_dict())  # a member's state_dict has the single model's keys, in order
        param_groups = [make_optimizer(name, m.parameters(), lr).state_dict()["param_groups"]
                        for m, (name, lr) in zip(models, members, strict=True)]
        flat = torch.stack([torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in models])
        self.flat = flat.to(device).requires_grad_()
        self.buffers = {n: torch.stack([m.get_buffer(n).detach() for m in models]).to(device)
                        for n, _ in first.named_buffers()}
        self.base = copy.deepcopy(first).to("meta")  # the architecture only: functional_call supplies the tensors
        self.optimizer = StackedOptimizer(self.flat, members, param_groups, self.shapes)
        self.streams = [seeds_mod.torch_generator(s, seeds_mod.AUGMENT, device) for s in seeds]
        self.shared = len(set(seeds)) == 1  # one seed: one batch tensor serves every member
        self.batches = (EpochBatches(*self.train_xy, batch_size, seeds[0]) if self.shared
                        else PopulationBatches(*self.train_xy, batch_size, seeds))
        spe = self.batches.steps_per_epoch
        self.schedule = Schedule(total_steps=epochs * spe, eval_every=eval_every * spe, steps_per_epoch=spe)
        self._graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor, tuple]] = {}

    # --- the members' tensors -------------------------------------------------------------------------------

    def params(self) -> dict[str, torch.Tensor]:
        """Each parameter as a (S, *shape) view of the flat tensor (made anew each step: autograd frees the
        views' graph with the backward pass)."""
        return {n: c.view(self.size, *shape) for n, c, shape in
                zip(self.param_names, self.flat.split(self.sizes, dim=1), self.shapes, strict=True)}

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        # no weight-cast cache: a cached cast would outlive a captured graph's replay
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, cache_enabled=not self.graph)

    def _inputs(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """Normalised float inputs of a (B, 3, H, W) or (S, B, 3, H, W) uint8 batch."""
        x = cifar10.normalize(x_uint8.reshape(-1, *x_uint8.shape[-3:]), self.mean, self.std, dtype=self.input_dtype)
        return x.view(x_uint8.shape)

    def _member(self, p: dict, b: dict, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One member's (mean loss, number correct) on one batch: the single run's step, functionally."""
        if self.memory_format is torch.channels_last and self.mode == "loop":
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            logits = functional_call(self.base, (p, b), (x,))
        out = emit(logits.float(), self.outputs)  # logits are (B, C) here, under vmap too: B is the batch axis
        return F.cross_entropy(out, y), (out.argmax(1) == y).sum()

    def _all(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(S,) losses and numbers correct of every member: x and y are shared ((B, ...), (B,)) or per
        member ((S, B, ...), (S, B))."""
        params, x_dim, y_dim = self.params(), (None if x.ndim == 4 else 0), (None if y.ndim == 1 else 0)
        if self.mode == "vmap":
            return torch.vmap(self._member, in_dims=(0, 0, x_dim, y_dim))(params, self.buffers, x, y)
        results = [self._member({k: v[s] for k, v in params.items()}, {k: v[s] for k, v in self.buffers.items()},
                                x if x_dim is None else x[s], y if y_dim is None else y[s]) for s in range(self.size)]
        return torch.stack([r[0] for r in results]), torch.stack([r[1] for r in results])

    def _body(self, x_uint8: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The step: normalise, forward and backward for all members, the stacked update."""
        self.base.train()
        losses, correct = self._all(self._inputs(x_uint8), y)
        losses.sum().backward()  # member s's columns get the gradient of its own loss only
        self.optimizer.step()
        return losses.detach() * y.shape[-1], correct

    # --- the engine's PopulationTask ------------------------------------------------------------------------

    def train_step(self, step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = self.batches.get(step)
        if self.augment == "flipcrop":  # each member its own stream, as its single run
            x = torch.stack([cifar10.flip_crop(x if self.shared else x[s], g) for s, g in enumerate(self.streams)])
        stats = None
        if self.graph:
            with contextlib.suppress(_CaptureFailed):
                stats = (*self._replay(x, y), y.shape[-1])
        if stats is None:
            self.flat.grad = None
            stats = (*self._body(x, y), y.shape[-1])
        if self.running:
            self.epoch_stats = running_epoch(self.epoch_stats, step, self.batches.steps_per_epoch, stats)
        return stats

    @torch.no_grad()
    def _eval_split(self, x_all: torch.Tensor, y_all: torch.Tensor) -> tuple[list[float], list[float]]:
        loss_sum = torch.zeros(self.size, device=self.device, dtype=torch.float64)
        correct = torch.zeros(self.size, device=self.device, dtype=torch.int64)
        self.base.eval()
        for x, y in eval_batches(x_all, y_all, self.eval_batch, self.outputs):
            losses, hits = self._all(self._inputs(x), y)
            loss_sum += losses * len(y)
            correct += hits
        n = len(y_all)
        return (loss_sum.double() / n).tolist(), (correct.double() / n).tolist()

    def evaluate(self, batches: BatchStats) -> list[dict[str, float]]:
        test = self._eval_split(*self.test_xy)
        if self.running and self.epoch_stats.count:
            train = tuple(a.tolist() for a in self.epoch_stats.member_means())
        else:
            train = self._eval_split(*self.train_xy)
        return [metrics_dict((train[0][s], train[1][s]), (test[0][s], test[1][s])) for s in range(self.size)]

    def state_dict(self, member: int) -> dict[str, Any]:
        """Member `member` as its single run's state_dict (model, optimizer, augment stream)."""
        params = self.params()
        model = {k: (params[k] if k in params else self.buffers[k])[member].detach().clone() for k in self.keys}
        return {"model": model, "optimizer": self.optimizer.member_state(member),
                "augment_stream": self.streams[member].get_state()}

    @torch.no_grad()
    def load_state_dict(self, member: int, state: dict[str, Any]) -> None:
        model = state["model"]
        self.flat[member] = torch.cat([model[n].reshape(-1).to(self.flat) for n in self.param_names])
        for k, buf in self.buffers.items():
            buf[member] = model[k].to(buf.device, buf.dtype)
        self.optimizer.load_member_state(member, state["optimizer"])
        self.streams[member].set_state(state["augment_stream"])

    @torch.no_grad()
    def freeze(self, member: int) -> None:
        """Zero the member's weights, buffers and optimizer state; its update stays zero from now on."""
        self.flat[member] = 0
        for buf in self.buffers.values():
            buf[member] = 0
        self.optimizer.freeze(member)

    # --- CUDA graphs ----------------------------------------------------------------------------------------

    def _replay(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (tuple(x.shape), tuple(y.shape))
        if key not in self._graphs:
            self._graphs[key] = self._capture(x, y)
        graph, static_x, static_y, outs = self._graphs[key]
        static_x.copy_(x)
        static_y.copy_(y)
        graph.replay()
        return outs[0].clone(), outs[1].clone()

    def _capture(self, x: torch.Tensor, y: torch.Tensor):
        """Capture `_body` for batches shaped as x, y. Three warm-up steps on a side stream (as CUDA graph
        capture requires) run on a snapshot that is restored afterwards, so capturing changes no member."""
        static_x, static_y = x.clone(), y.clone()
        saved = self._snapshot()
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self.flat.grad = None
                    self._body(static_x, static_y)
            torch.cuda.current_stream().wait_stream(side)
            self._restore(saved)
            self.flat.grad = None
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                outs = self._body(static_x, static_y)
        except Exception as exc:
            self._restore(saved)
            self.graph, self.graph_error = False, f"{type(exc).__name__}: {exc}"
            print(f"dlrepro: CUDA graph capture failed ({self.graph_error}); stepping eagerly", file=sys.stderr)
            raise _CaptureFailed from exc
        return graph, static_x, static_y, outs

    def _tensors(self) -> list[torch.Tensor]:
        o = self.optimizer
        return [self.flat, o.m, o.v, o.t, *self.buffers.values()]

    @torch.no_grad()
    def _snapshot(self) -> list[torch.Tensor]:
        return [t.detach().clone() for t in self._tensors()]

    @torch.no_grad()
    def _restore(self, saved: list[torch.Tensor]) -> None:
        for t, s in zip(self._tensors(), saved, strict=True):
            t.copy_(s)


class _CaptureFailed(Exception):
    """Graph capture failed; the step runs eagerly (the reason is in `graph_error`)."""
