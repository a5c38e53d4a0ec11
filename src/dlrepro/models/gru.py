"""A gated recurrent unit (GRU) for the palindrome task, written from its equations (no nn.GRU / nn.Linear),
added as a user would add a cell: this module and one entry in `dlrepro.registry.CELLS`.

    r_t = sigmoid(x_t W_rx + h_{t-1} W_rh + b_r)                       reset gate
    z_t = sigmoid(x_t W_zx + h_{t-1} W_zh + b_z)                       update gate
    n_t = tanh(x_t W_nx + b_n + r_t * (h_{t-1} W_nh + b_nh))            candidate state
    h_t = (1 - z_t) * n_t + z_t * h_{t-1},   h_0 = 0,   logits = h_T W_ph + b_p

as torch.nn.GRU computes it (the reset gate scales the recurrent term, bias included, hence b_nh beside
b_n). The loss is cross-entropy on the last step's logits only.

Initialisation, the rule of the vanilla RNN and the LSTM (`dlrepro.models.rnn`): each weight matrix and the
bias that goes with it is drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in the matrix's number of rows:
W_.x and b_r, b_z, b_n use input_dim; W_.h and b_nh use hidden_dim; W_ph and b_p use hidden_dim.

Leading axes broadcast as for the other two cells: with parameters stacked along a model axis
(`dlrepro.models.stacked.stack`) and x of shape (S, batch, time, input_dim), S nets train at once.
"""

from __future__ import annotations

import torch
from torch import nn

from dlrepro.models.rnn import uniform_parameter


class GRU(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, num_classes: int, generator: torch.Generator | None = None):
        super().__init__()
        self.W_rx = uniform_parameter((input_dim, hidden_dim), input_dim, generator)
        self.W_rh = uniform_parameter((hidden_dim, hidden_dim), hidden_dim, generator)
        self.b_r = uniform_parameter((hidden_dim,), input_dim, generator)
        self.W_zx = uniform_parameter((input_dim, hidden_dim), input_dim, generator)
        self.W_zh = uniform_parameter((hidden_dim, hidden_dim), hidden_dim, generator)
        self.b_z = uniform_parameter((hidden_dim,), input_dim, generator)
        self.W_nx = uniform_parameter((input_dim, hidden_dim), input_dim, generator)
        self.W_nh = uniform_parameter((hidden_dim, hidden_dim), hidden_dim, generator)
        self.b_n = uniform_parameter((hidden_dim,), input_dim, generator)
        self.b_nh = uniform_parameter((hidden_dim,), hidden_dim, generator)
        self.W_ph = uniform_parameter((hidden_dim, num_classes), hidden_dim, generator)
        self.b_p = uniform_parameter((num_classes,), hidden_dim, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., batch, time, input_dim) -> logits (..., batch, classes)."""
        h = x.new_zeros(*x.shape[:-2], self.W_rh.shape[-1])
        for t in range(x.shape[-2]):
            x_t = x[..., t, :]
            r = torch.sigmoid(x_t @ self.W_rx + h @ self.W_rh + self.b_r)
            z = torch.sigmoid(x_t @ self.W_zx + h @ self.W_zh + self.b_z)
            n = torch.tanh(x_t @ self.W_nx + self.b_n + r * (h @ self.W_nh + self.b_nh))
            h = (1 - z) * n + z * h
        return h @ self.W_ph + self.b_p
