"""Turn a validated config into a `Task` the engine can train."""

from __future__ import annotations

from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig, RunConfig


def build_task(cfg: RunConfig):
    if isinstance(cfg, MLPConfig) and cfg.dataset == "cifar10":
        return _cifar_mlp_task(cfg)
    if isinstance(cfg, MLPConfig):
        from dlrepro.data.toy import make_toy
        from dlrepro.train.mlp_task import NumpyMLPTask, TorchMLPTask

        data = make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed)
        task_cls = NumpyMLPTask if cfg.model == "mlp-numpy" else TorchMLPTask
        return task_cls(cfg, data.x_train, data.y_train, data.x_test, data.y_test, data.n_classes)
    if isinstance(cfg, RNNConfig):
        from dlrepro.train.rnn_task import PalindromeTask

        return PalindromeTask(cfg)
    if isinstance(cfg, CNNConfig):
        return _cnn_task(cfg)
    raise TypeError(f"no task for config type {type(cfg).__name__}")


def _cifar_mlp_task(cfg: MLPConfig):
    """The MLP 3072-...-10 on CIFAR-10: weights from the NumPy MLP's seeded init, as for the toy sets."""
    import numpy as np
    import torch

    from dlrepro import numpy_nn
    from dlrepro.data.cifar10 import load_cifar10
    from dlrepro.models import MLP
    from dlrepro.train.cifar_task import CifarTask

    data = load_cifar10(cfg.data_root, verify=cfg.verify_data, cache_dir=cfg.cache_dir)
    dtype = getattr(torch, cfg.dtype)
    model = MLP.from_numpy(numpy_nn.MLP(32 * 32 * 3, cfg.hidden, 10, seed=cfg.seed, dtype=np.float64), dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    return CifarTask(model, optimizer, data, device=torch.device("cpu"), batch_size=cfg.batch_size,
                     epochs=cfg.epochs, eval_every=cfg.eval_every, seed=cfg.seed, input_dtype=dtype)


def _cnn_task(cfg: CNNConfig):
    import torch

    from dlrepro.data.cifar10 import load_cifar10
    from dlrepro.models.convnet import ConvNet
    from dlrepro.train.cifar_task import OPTIMIZERS, CifarTask, resolve_device

    device = resolve_device(cfg.device)
    data = load_cifar10(cfg.data_root, verify=cfg.verify_data, cache_dir=cfg.cache_dir)
    torch.manual_seed(cfg.seed)  # PyTorch's default initialisation draws from the global generator
    model = ConvNet(3, 10)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), lr=cfg.lr)
    return CifarTask(model, optimizer, data, device=device, batch_size=cfg.batch_size, epochs=cfg.epochs,
                     eval_every=cfg.eval_every, seed=cfg.seed, augment=cfg.augment, subset=cfg.subset,
                     test_subset=cfg.test_subset, precision=cfg.precision, channels_last=cfg.channels_last,
                     compile=cfg.compile)
