"""PyTorch models: the MLP twin, the recurrent nets and the VGG-style ConvNet."""

from dlrepro.models.convnet import ConvNet
from dlrepro.models.mlp import MLP
from dlrepro.models.rnn import LSTM, VanillaRNN

__all__ = ["MLP", "VanillaRNN", "LSTM", "ConvNet"]
