"""Where a torch task computes: --device cpu | cuda | auto."""

from __future__ import annotations

import torch

from dlrepro.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available; use --device cpu or auto")
    return torch.device(name)
