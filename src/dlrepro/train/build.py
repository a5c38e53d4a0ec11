"""Turn a validated config into a `Task` the engine can train."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from dlrepro import registry
from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig, RunConfig

if TYPE_CHECKING:
    from dlrepro.data.toy import ToyData
    from dlrepro.train.engine import PopulationTask, Task


def build_task(cfg: RunConfig) -> Task:
    """The task of `cfg`'s model kind (dlrepro.registry.MODEL_KINDS: its `task`)."""
    kind = registry.MODEL_KINDS.get(cfg.model)
    if kind is None:
        raise TypeError(f"no task for model {cfg.model!r}")
    return registry.load(kind.task)(cfg)


def population_kind(cfg: RunConfig) -> str | None:
    """The model kind when `cfg` can train as a member of one population (the kind has a population task,
    which sits beside its single-run twin: `numpy_mlp_task`, `mlp_task`, `rnn_task`, `cnn_population`), else
    None. Not for a run that reads a data source unless its kind's population reads it (the ConvNet's does,
    the CIFAR-10 MLP's kind's does not), nor for a setting of its kind's `single_only` away from its default,
    nor for a user's class unless it says its update broadcasts over the members (a cell that declares it; a
    user's optimizer never)."""
    kind = registry.MODEL_KINDS.get(cfg.model)
    if kind is None or kind.population is None or (cfg.data_source is not None and not kind.population_reads_data):
        return None
    defaults = {f.name: f.default for f in fields(cfg)}
    if any(name in defaults and getattr(cfg, name) != defaults[name] for name in kind.single_only):
        return None
    for name, table in cfg.PLUGGABLE.items():
        if getattr(cfg, name) not in table and not (name == "cell" and _broadcasts(cfg)):
            return None
    return cfg.model


def _broadcasts(cfg: RunConfig) -> bool:
    from dlrepro.train.plugins import broadcasts

    return broadcasts(cfg)


def build_population(cfgs: list[RunConfig]) -> PopulationTask:
    """One `PopulationTask` for distinct configs of one `population_kind` and one `population_key`: they
    differ only in their seeds, or in their kind's `member_settings` (the ConvNet's optimizer and lr). The
    kind's population function takes the members' configs."""
    kinds = {population_kind(c) for c in cfgs}
    keys = {c.population_key() for c in cfgs}
    if None in kinds or len(kinds) != 1 or len(keys) != 1:
        raise ValueError("a population needs configs of one population kind that differ only in seed "
                         "(or in the settings its members may differ in)")
    if len({json.dumps(c.identity(), sort_keys=True) for c in cfgs}) != len(cfgs):
        raise ValueError(f"a population needs distinct members, got seeds {[c.seed for c in cfgs]}")
    population = registry.MODEL_KINDS[cfgs[0].model].population
    assert population is not None  # population_kind says so
    return registry.load(population)(cfgs)


def _seeds(cfgs: list) -> list[int]:
    """The members' seeds: the only setting in which the members of a seed population differ."""
    return [c.seed for c in cfgs]


def toy_split(cfg: MLPConfig) -> tuple[ToyData, tuple]:
    """The toy dataset's 80/20 split a run trains on, and its arrays as the MLP tasks take them. The task
    keeps it as `toy_data`, which the run saves (data.npz) for the report."""
    from dlrepro.data.toy import make_toy

    data = make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed, split=cfg.split)
    return data, (data.x_train, data.y_train, data.x_test, data.y_test, data.n_classes)


def _keeping(task: Any, data: ToyData) -> Any:
    task.toy_data = data  # the split it trains on, for the run to save
    return task


def numpy_mlp_task(cfg: MLPConfig) -> Task:
    """The from-scratch NumPy MLP on a toy dataset: no torch."""
    from dlrepro.train.numpy_mlp_task import NumpyMLPTask

    data, splits = toy_split(cfg)
    return _keeping(NumpyMLPTask(cfg, *splits), data)


def numpy_mlp_population(cfgs: list[MLPConfig]) -> PopulationTask:
    from dlrepro.train.numpy_mlp_task import PopulationNumpyMLPTask

    data, splits = toy_split(cfgs[0])
    return _keeping(PopulationNumpyMLPTask(cfgs[0], _seeds(cfgs), *splits), data)


def torch_mlp_task(cfg: MLPConfig) -> Task:
    """The PyTorch MLP on a toy dataset, or on CIFAR-10 (3072-...-10)."""
    if cfg.data_source is not None:
        return _cifar_mlp_task(cfg)
    from dlrepro.train.mlp_task import TorchMLPTask

    data, splits = toy_split(cfg)
    return _keeping(TorchMLPTask(cfg, *splits), data)


def torch_mlp_population(cfgs: list[MLPConfig]) -> PopulationTask:
    from dlrepro.train.mlp_task import PopulationTorchMLPTask

    data, splits = toy_split(cfgs[0])
    return _keeping(PopulationTorchMLPTask(cfgs[0], _seeds(cfgs), *splits), data)


def palindrome_task(cfg: RNNConfig) -> Task:
    from dlrepro.train.rnn_task import PalindromeTask

    return PalindromeTask(cfg)


def palindrome_population(cfgs: list[RNNConfig]) -> PopulationTask:
    from dlrepro.train.rnn_task import PopulationPalindromeTask

    return PopulationPalindromeTask(cfgs[0], _seeds(cfgs))


def _cifar_mlp_task(cfg: MLPConfig) -> Task:
    """The MLP 3072-...-10 on CIFAR-10: weights from the NumPy MLP's seeded init, as for the toy sets."""
    import torch

    from dlrepro.data.cifar10 import load_cifar10
    from dlrepro.train.cifar_task import CifarTask
    from dlrepro.train.device import resolve_device
    from dlrepro.train.mlp_task import seeded_mlp

    device = resolve_device(cfg.device)  # before the data loads: a bad device leaves no trace
    data = load_cifar10(cfg.data_root, verify=cfg.verify_data, cache_dir=cfg.cache_dir)
    dtype = getattr(torch, cfg.dtype)
    model = seeded_mlp(32 * 32 * 3, cfg.hidden, 10, cfg.seed, dtype, cfg.init)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    return CifarTask(model, optimizer, data, device=device, batch_size=cfg.batch_size,
                     epochs=cfg.epochs, eval_every=cfg.eval_every, seed=cfg.seed, input_dtype=dtype,
                     outputs=cfg.outputs, train_metrics=cfg.train_metrics, normalize=cfg.normalize,
                     order=cfg.order)


def cnn_task(cfg: CNNConfig) -> Task:
    import torch

    from dlrepro.data.cifar10 import load_cifar10
    from dlrepro.registry import CIFAR_MODELS
    from dlrepro.train.cifar_task import CifarTask, make_optimizer
    from dlrepro.train.device import resolve_device
    from dlrepro.train.plugins import build, make_net

    device = resolve_device(cfg.device)
    data = load_cifar10(cfg.data_root, verify=cfg.verify_data, cache_dir=cfg.cache_dir)
    torch.manual_seed(cfg.seed)  # PyTorch's default initialisation draws from the global generator
    model = make_net(build(cfg.net, CIFAR_MODELS))
    optimizer = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    return CifarTask(model, optimizer, data, device=device, batch_size=cfg.batch_size, epochs=cfg.epochs,
                     eval_every=cfg.eval_every, seed=cfg.seed, augment=cfg.augment, subset=cfg.subset,
                     test_subset=cfg.test_subset, precision=cfg.precision, channels_last=cfg.channels_last,
                     compile=cfg.compile, outputs=cfg.outputs, train_metrics=cfg.train_metrics,
                     normalize=cfg.normalize)
