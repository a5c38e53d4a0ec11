"""A recurrent cell of your own, for dlrepro's palindrome task: a minimal gated unit (MGU, Zhou et al. 2016),
one gate instead of the GRU's two.

    f_t = sigmoid(x_t W_fx + h_{t-1} W_fh + b_f)
    n_t = tanh(x_t W_nx + (f_t * h_{t-1}) W_nh + b_n)
    h_t = (1 - f_t) * h_{t-1} + f_t * n_t,   h_0 = 0,   logits = h_T W_ph + b_p

Use it by its import path, with this file's folder on PYTHONPATH:

    PYTHONPATH=examples dlrepro train rnn --cell my_cell:MGU --input-length 10
    PYTHONPATH=examples dlrepro sweep my_study.toml      # with cell = "my_cell:MGU" in it

The contract (docs/extending.md): `Cls(input_dim, hidden_dim, num_classes, generator=None)`, and
`forward(x)` with x (batch, time, input_dim) -> logits (batch, num_classes). `broadcasts = True` says that
forward also works with every parameter stacked along a leading model axis and x (models, batch, time,
input_dim), so dlrepro may train several seeds as one population; leave it out if unsure.
"""

import math

import torch
from torch import nn


def _uniform(shape, fan_in, generator):
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))


class MGU(nn.Module):
    broadcasts = True  # only `@` and elementwise ops: leading axes broadcast

    def __init__(self, input_dim, hidden_dim, num_classes, generator=None):
        super().__init__()
        self.W_fx = _uniform((input_dim, hidden_dim), input_dim, generator)
        self.W_fh = _uniform((hidden_dim, hidden_dim), hidden_dim, generator)
        self.b_f = _uniform((hidden_dim,), input_dim, generator)
        self.W_nx = _uniform((input_dim, hidden_dim), input_dim, generator)
        self.W_nh = _uniform((hidden_dim, hidden_dim), hidden_dim, generator)
        self.b_n = _uniform((hidden_dim,), input_dim, generator)
        self.W_ph = _uniform((hidden_dim, num_classes), hidden_dim, generator)
        self.b_p = _uniform((num_classes,), hidden_dim, generator)

    def forward(self, x):
        h = x.new_zeros(*x.shape[:-2], self.W_fh.shape[-1])
        for t in range(x.shape[-2]):
            x_t = x[..., t, :]
            f = torch.sigmoid(x_t @ self.W_fx + h @ self.W_fh + self.b_f)
            n = torch.tanh(x_t @ self.W_nx + (f * h) @ self.W_nh + self.b_n)
            h = (1 - f) * h + f * n
        return h @ self.W_ph + self.b_p
