"""Turn a validated config into a `Task` the engine can train."""

from __future__ import annotations

from dlrepro.train.config import MLPConfig, RNNConfig, RunConfig


def build_task(cfg: RunConfig):
    if isinstance(cfg, MLPConfig):
        from dlrepro.data.toy import make_toy
        from dlrepro.train.mlp_task import NumpyMLPTask, TorchMLPTask

        data = make_toy(cfg.dataset, n_samples=cfg.n_samples, seed=cfg.data_seed)
        task_cls = NumpyMLPTask if cfg.model == "mlp-numpy" else TorchMLPTask
        return task_cls(cfg, data.x_train, data.y_train, data.x_test, data.y_test, data.n_classes)
    if isinstance(cfg, RNNConfig):
        from dlrepro.train.rnn_task import PalindromeTask

        return PalindromeTask(cfg)
    raise TypeError(f"no task for config type {type(cfg).__name__}")
