"""The VGG-style ConvNet of Part 2: 8 conv layers (3x3, BatchNorm, ReLU), 5 max-pools, 1 linear layer.

    conv1 3->64, pool, conv2 64->128, pool, conv3_a 128->256, conv3_b 256->256, pool,
    conv4_a 256->512, conv4_b 512->512, pool, conv5_a 512->512, conv5_b 512->512, pool, flatten, linear 512->10

Conv = Conv2d 3x3 stride 1 pad 1 + BatchNorm2d + ReLU; pool = MaxPool2d 3x3 stride 2 pad 1, so a 32x32
input is 1x1 after five pools. PyTorch's default initialisation. 9,231,114 trainable parameters.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

LAYOUT: list[tuple[str, int] | Literal["pool"]] = [
    ("conv1", 64), "pool", ("conv2", 128), "pool", ("conv3_a", 256), ("conv3_b", 256), "pool",
    ("conv4_a", 512), ("conv4_b", 512), "pool", ("conv5_a", 512), ("conv5_b", 512), "pool",
]


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=3, stride=1, padding=1),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ConvNet(nn.Module):
    def __init__(self, n_channels: int = 3, n_classes: int = 10):
        super().__init__()
        layers: dict[str, nn.Module] = {}
        c_in, n_pools = n_channels, 0
        for item in LAYOUT:
            if item == "pool":
                n_pools += 1
                layers[f"pool{n_pools}"] = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            else:
                name, c_out = item
                layers[name] = conv_block(c_in, c_out)
                c_in = c_out
        self.features = nn.Sequential()
        for name, layer in layers.items():
            self.features.add_module(name, layer)
        self.linear = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x).flatten(1))


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
