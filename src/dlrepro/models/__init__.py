"""PyTorch models: the MLP twin, the recurrent cells (vanilla RNN, LSTM, GRU) and the VGG-style ConvNet.
Each is named in `dlrepro.registry`, which the CLI, the configs and the report read. `outputs.emit`: what a
model emits into the loss (its logits, or a softmax / sigmoid of them, as the reference's code did)."""

from dlrepro.models.convnet import ConvNet
from dlrepro.models.gru import GRU
from dlrepro.models.mlp import MLP
from dlrepro.models.rnn import LSTM, VanillaRNN

__all__ = ["MLP", "VanillaRNN", "LSTM", "GRU", "ConvNet"]
