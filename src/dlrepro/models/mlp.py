"""The PyTorch twin of `dlrepro.numpy_nn.MLP`: Linear -> ReLU -> ... -> Linear (logits)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, n_inputs: int, n_hidden: Sequence[int], n_classes: int):
        super().__init__()
        sizes = [n_inputs, *n_hidden, n_classes]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))

    @classmethod
    def from_numpy(cls, numpy_mlp, dtype: torch.dtype = torch.float64) -> MLP:
        """An MLP with exactly the weights of a `dlrepro.numpy_nn.MLP` (whose W is (in, out))."""
        linears = numpy_mlp.linears()
        sizes = [linears[0].params["weight"].shape[0]] + [lin.params["weight"].shape[1] for lin in linears]
        model = cls(sizes[0], sizes[1:-1], sizes[-1]).to(dtype)
        with torch.no_grad():
            torch_linears = [m for m in model.net if isinstance(m, nn.Linear)]
            for lin_t, lin_np in zip(torch_linears, linears, strict=True):
                lin_t.weight.copy_(torch.from_numpy(np.ascontiguousarray(lin_np.params["weight"].T)))
                lin_t.bias.copy_(torch.from_numpy(lin_np.params["bias"]))
        return model
