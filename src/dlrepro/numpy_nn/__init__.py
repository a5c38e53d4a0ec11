"""A from-scratch MLP in NumPy: layers with forward/backward, an MLP, SGD and gradient checks."""

from dlrepro.numpy_nn.layers import CrossEntropy, Linear, ReLU, SoftMax
from dlrepro.numpy_nn.mlp import MLP
from dlrepro.numpy_nn.optim import SGD

__all__ = ["Linear", "ReLU", "SoftMax", "CrossEntropy", "MLP", "SGD"]
