"""Turn a validated config into a `Task` the engine can train."""

from __future__ import annotations

from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig, RunConfig


def build_task(cfg: RunConfig):
    if isinstance(cfg, MLPConfig) and cfg.dataset == "cifar10":
        return _cifar_mlp_task(cfg)
    if isinstance(cfg, MLPConfig):
        from dlrepro.data.toy import make_toy

        data = make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed)
        if cfg.model == "mlp-numpy":  # the from-scratch path: no torch
            from dlrepro.train.numpy_mlp_task import NumpyMLPTask as task_cls
        else:
            from dlrepro.train.mlp_task import TorchMLPTask as task_cls
        return task_cls(cfg, data.x_train, data.y_train, data.x_test, data.y_test, data.n_classes)
    if isinstance(cfg, RNNConfig):
        from dlrepro.train.rnn_task import PalindromeTask

        return PalindromeTask(cfg)
    if isinstance(cfg, CNNConfig):
        return _cnn_task(cfg)
    raise TypeError(f"no task for config type {type(cfg).__name__}")


def population_kind(cfg: RunConfig) -> str | None:
    """The model kind when seeds of `cfg` can train as one population (see `dlrepro.train.population`),
    else None: the toy-set MLPs and the recurrent nets."""
    if isinstance(cfg, MLPConfig) and cfg.dataset != "cifar10":
        return cfg.model
    if isinstance(cfg, RNNConfig):
        return "rnn"
    return None


def build_population(cfgs: list[RunConfig]):
    """One `PopulationTask` for configs that differ only in their seed (all of one `population_kind`)."""
    kinds = {population_kind(c) for c in cfgs}
    keys = {c.population_key() for c in cfgs}
    if None in kinds or len(kinds) != 1 or len(keys) != 1:
        raise ValueError("a population needs configs of one population kind that differ only in seed")
    cfg = cfgs[0]
    if isinstance(cfg, RNNConfig):
        from dlrepro.train.population import PopulationPalindromeTask

        return PopulationPalindromeTask(cfgs)
    from dlrepro.data.toy import make_toy

    data = make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed)
    if cfg.model == "mlp-numpy":  # the from-scratch path: no torch
        from dlrepro.train.numpy_mlp_task import PopulationNumpyMLPTask as task_cls
    else:
        from dlrepro.train.population import PopulationTorchMLPTask as task_cls
    return task_cls(cfgs, data.x_train, data.y_train, data.x_test, data.y_test, data.n_classes)


def _cifar_mlp_task(cfg: MLPConfig):
    """The MLP 3072-...-10 on CIFAR-10: weights from the NumPy MLP's seeded init, as for the toy sets."""
    import numpy as np
    import torch

    from dlrepro import numpy_nn
    from dlrepro.data.cifar10 import load_cifar10
    from dlrepro.models import MLP
    from dlrepro.train.cifar_task import CifarTask
    from dlrepro.train.device import resolve_device

    device = resolve_device(cfg.device)  # before the data loads: a bad device leaves no trace
    data = load_cifar10(cfg.data_root, verify=cfg.verify_data, cache_dir=cfg.cache_dir)
    dtype = getattr(torch, cfg.dtype)
    model = MLP.from_numpy(numpy_nn.MLP(32 * 32 * 3, cfg.hidden, 10, seed=cfg.seed, dtype=np.float64), dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    return CifarTask(model, optimizer, data, device=device, batch_size=cfg.batch_size,
                     epochs=cfg.epochs, eval_every=cfg.eval_every, seed=cfg.seed, input_dtype=dtype)


def _cnn_task(cfg: CNNConfig):
    import torch

    from dlrepro.data.cifar10 import load_cifar10
    from dlrepro.models.convnet import ConvNet
    from dlrepro.train.cifar_task import CifarTask, make_optimizer
    from dlrepro.train.device import resolve_device

    device = resolve_device(cfg.device)
    data = load_cifar10(cfg.data_root, verify=cfg.verify_data, cache_dir=cfg.cache_dir)
    torch.manual_seed(cfg.seed)  # PyTorch's default initialisation draws from the global generator
    model = ConvNet(3, 10)
    optimizer = make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    return CifarTask(model, optimizer, data, device=device, batch_size=cfg.batch_size, epochs=cfg.epochs,
                     eval_every=cfg.eval_every, seed=cfg.seed, augment=cfg.augment, subset=cfg.subset,
                     test_subset=cfg.test_subset, precision=cfg.precision, channels_last=cfg.channels_last,
                     compile=cfg.compile)
