"""Turn a validated config into a `Task` the engine can train."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig, RunConfig

if TYPE_CHECKING:
    from dlrepro.data.toy import ToyData
    from dlrepro.train.engine import PopulationTask, Task


def toy_data(cfg: MLPConfig) -> ToyData:
    """The toy dataset a toy-set MLP config trains and is evaluated on (generated, then split)."""
    from dlrepro.data.toy import make_toy

    return make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed, split=cfg.split)


def build_task(cfg: RunConfig) -> Task:
    if isinstance(cfg, MLPConfig) and cfg.dataset == "cifar10":
        return _cifar_mlp_task(cfg)
    if isinstance(cfg, MLPConfig):
        data = toy_data(cfg)
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
    return None


def build_population(cfgs: list[RunConfig]) -> PopulationTask:
    """One `PopulationTask` for configs that differ only in their (distinct) seeds, all of one
    `population_kind`."""
    kinds = {population_kind(c) for c in cfgs}
    keys = {c.population_key() for c in cfgs}
    if None in kinds or len(kinds) != 1 or len(keys) != 1:
        raise ValueError("a population needs configs of one population kind that differ only in seed")
    cfg, seeds = cfgs[0], [c.seed for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"a population needs distinct seeds, got {seeds}")
    if isinstance(cfg, RNNConfig):
        from dlrepro.train.rnn_task import PopulationPalindromeTask

        return PopulationPalindromeTask(cfg, seeds)
    if not isinstance(cfg, MLPConfig):
        raise TypeError(f"no population task for config type {type(cfg).__name__}")
    data = toy_data(cfg)
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
    model = seeded_mlp(32 * 32 * 3, cfg.hidden, 10, cfg.seed, dtype, cfg.init)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    return CifarTask(model, optimizer, data, device=device, batch_size=cfg.batch_size,
                     epochs=cfg.epochs, eval_every=cfg.eval_every, seed=cfg.seed, input_dtype=dtype,
                     outputs=cfg.outputs, train_metrics=cfg.train_metrics, normalize=cfg.normalize,
                     order=cfg.order)


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
                     compile=cfg.compile, outputs=cfg.outputs, train_metrics=cfg.train_metrics,
                     normalize=cfg.normalize)
