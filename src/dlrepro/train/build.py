"""Turn a validated config into a `Task` the engine can train."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig, RunConfig

if TYPE_CHECKING:
    from dlrepro.train.engine import PopulationTask, Task


def build_task(cfg: RunConfig) -> Task:
    if isinstance(cfg, MLPConfig) and cfg.dataset == "cifar10":
        return _cifar_mlp_task(cfg)
    if isinstance(cfg, MLPConfig):
        from dlrepro.data.toy import make_toy

        data = make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed)
        splits = (data.x_train, data.y_train, data.x_test, data.y_test, data.n_classes)
        if cfg.model == "mlp-numpy":  # the from-scratch path: no torch
            from dlrepro.train.numpy_mlp_task import NumpyMLPTask

            return NumpyMLPTask(cfg, *splits)
        from dlrepro.train.mlp_task import TorchMLPTask

        return TorchMLPTask(cfg, *splits)
    if isinstance(cfg, RNNConfig):
        from dlrepro.train.rnn_task import PalindromeTask

        return PalindromeTask(cfg)
    if isinstance(cfg, CNNConfig):
        return _cnn_task(cfg)
    raise TypeError(f"no task for config type {type(cfg).__name__}")


def population_kind(cfg: RunConfig) -> str | None:
    """The model kind when seeds of `cfg` can train as one population (each population task sits beside
    its single-run twin: `numpy_mlp_task`, `mlp_task`, `rnn_task`), else None: the toy-set MLPs and the
    recurrent nets."""
    if isinstance(cfg, MLPConfig) and cfg.dataset != "cifar10":
        return cfg.model
    if isinstance(cfg, RNNConfig):  # a user's cell (or optimizer) only when it says its update broadcasts
        from dlrepro.registry import CELLS, OPTIMIZERS
        from dlrepro.train.plugins import broadcasts

        cell_ok = cfg.cell in CELLS or broadcasts(cfg)
        return "rnn" if cell_ok and cfg.optimizer in OPTIMIZERS["rnn"] else None
    if isinstance(cfg, CNNConfig):  # built-in nets and the optimizers the stacked update covers
        from dlrepro.registry import CIFAR_MODELS
        from dlrepro.train.stacked_optim import RULES

        return "cnn" if cfg.net in CIFAR_MODELS and cfg.optimizer in RULES else None
    return None


# Settings in which the members of a population may differ besides the seed: a ConvNet population gives
# each member its own optimizer and lr (dlrepro.train.cnn_population).
MEMBER_SETTINGS = {"cnn": ("optimizer", "lr")}


def population_key(cfg: RunConfig) -> str:
    """Equal for configs that can train as one population: those that differ only in their seed, and for
    the ConvNet also in optimizer and lr (MEMBER_SETTINGS)."""
    kind = population_kind(cfg)
    if kind not in MEMBER_SETTINGS:
        return cfg.population_key()
    key = {k: v for k, v in json.loads(cfg.population_key()).items() if k not in MEMBER_SETTINGS[kind]}
    return json.dumps(key, sort_keys=True)


def build_population(cfgs: list[RunConfig]) -> PopulationTask:
    """One `PopulationTask` for configs of one `population_kind` and one `population_key`: differing
    only in their (distinct) seeds, or for the ConvNet also in MEMBER_SETTINGS (distinct members)."""
    kinds = {population_kind(c) for c in cfgs}
    keys = {population_key(c) for c in cfgs}
    if None in kinds or len(kinds) != 1 or len(keys) != 1:
        raise ValueError("a population needs configs of one population kind that differ only in seed")
    cfg, seeds = cfgs[0], [c.seed for c in cfgs]
    if isinstance(cfg, CNNConfig):
        from dlrepro.train.cnn_population import build_cnn_population

        if len({json.dumps(c.identity(), sort_keys=True) for c in cfgs}) != len(cfgs):
            raise ValueError("a population needs distinct members")
        return build_cnn_population([c for c in cfgs if isinstance(c, CNNConfig)])
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"a population needs distinct seeds, got {seeds}")
    if isinstance(cfg, RNNConfig):
        from dlrepro.train.rnn_task import PopulationPalindromeTask

        return PopulationPalindromeTask(cfg, seeds)
    if not isinstance(cfg, MLPConfig):
        raise TypeError(f"no population task for config type {type(cfg).__name__}")
    from dlrepro.data.toy import make_toy

    data = make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed)
    splits = (data.x_train, data.y_train, data.x_test, data.y_test, data.n_classes)
    if cfg.model == "mlp-numpy":  # the from-scratch path: no torch
        from dlrepro.train.numpy_mlp_task import PopulationNumpyMLPTask

        return PopulationNumpyMLPTask(cfg, seeds, *splits)
    from dlrepro.train.mlp_task import PopulationTorchMLPTask

    return PopulationTorchMLPTask(cfg, seeds, *splits)


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
    model = seeded_mlp(32 * 32 * 3, cfg.hidden, 10, cfg.seed, dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    return CifarTask(model, optimizer, data, device=device, batch_size=cfg.batch_size,
                     epochs=cfg.epochs, eval_every=cfg.eval_every, seed=cfg.seed, input_dtype=dtype)


def _cnn_task(cfg: CNNConfig) -> Task:
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
                     compile=cfg.compile)
