"""PyTorch models: the MLP twin, the recurrent nets and the VGG-style ConvNet."""

from dlrepro.models.mlp import MLP

__all__ = ["MLP"]
