"""Recurrent nets for the palindrome task, written from their equations (no nn.RNN / nn.LSTM / nn.Linear).

Vanilla RNN:   h_0 = 0,  h_t = tanh(x_t W_hx + h_{t-1} W_hh + b_h),  logits = h_T W_ph + b_p
LSTM:          g_t = tanh(x_t W_gx + h_{t-1} W_gh + b_g)      i_t = sigmoid(x_t W_ix + h_{t-1} W_ih + b_i)
               f_t = sigmoid(x_t W_fx + h_{t-1} W_fh + b_f)   o_t = sigmoid(x_t W_ox + h_{t-1} W_oh + b_o)
               c_t = g_t * i_t + c_{t-1} * f_t,   h_t = tanh(c_t) * o_t,   logits = h_T W_ph + b_p
The loss is cross-entropy on the last step's logits only.

Initialisation (both nets): each weight matrix, and the bias that goes with it, is drawn from
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) where fan_in is the matrix's number of rows, as nn.Linear does: W_hx and
b_h use fan_in = input_dim, W_hh uses hidden_dim, W_ph and b_p use hidden_dim. This is the initialisation
under which the course template (RMSprop, lr 1e-3) reproduces the reference curves; Xavier-normal at the
reference's stated lr 1e-2 does not (see the Part 3 study).

The forward passes are the equations, one time step at a time, and nothing else. Faster variants were
measured on the 2-core CPU and removed because none paid (BENCHMARKS.md, "RNN training step"): hoisting
the input projections out of the loop, a hand-written backward pass through time, fused LSTM gates and
torch.compile all ran about as fast as this plain loop, or slower; the 128x128 matmuls dominate. Tests check
both nets against torch.nn.RNN / torch.nn.LSTM given the same weights.

Leading axes broadcast: with parameters stacked along a model axis (`dlrepro.models.stacked.stack`,
biases as (S, 1, n)) and x of shape (S, batch, time, input_dim), the same equations train S nets at once.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def uniform_parameter(shape, fan_in: int, generator: torch.Generator | None) -> nn.Parameter:
    """A weight drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the recurrent nets' initialisation."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))


class VanillaRNN(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, num_classes: int, generator: torch.Generator | None = None):
        super().__init__()
        self.W_hx = uniform_parameter((input_dim, hidden_dim), input_dim, generator)
        self.W_hh = uniform_parameter((hidden_dim, hidden_dim), hidden_dim, generator)
        self.b_h = uniform_parameter((hidden_dim,), input_dim, generator)
        self.W_ph = uniform_parameter((hidden_dim, num_classes), hidden_dim, generator)
        self.b_p = uniform_parameter((num_classes,), hidden_dim, generator)

    def recurrence_bias(self) -> torch.Tensor:
        return self.b_h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., batch, time, input_dim) -> logits (..., batch, classes)."""
        h = x.new_zeros(*x.shape[:-2], self.W_hh.shape[-1])
        b_h = self.recurrence_bias()
        for t in range(x.shape[-2]):
            h = torch.tanh(x[..., t, :] @ self.W_hx + h @ self.W_hh + b_h)
        return h @ self.W_ph + self.b_p


class TwoBiasRNN(VanillaRNN):
    """The vanilla RNN with the recurrence's bias as two parameters, b_h = b_hx + b_hh, one per weight matrix,
    as two nn.Linear layers (x_t -> h, h_{t-1} -> h) have them (the protocol setting `biases = two`). The
    same equations; the optimizer sees two parameters, so RMSprop moves their sum up to twice as far per step.
    b_hh ~ U(-1/sqrt(hidden_dim), 1/sqrt(hidden_dim)), nn.Linear's bias for W_hh, drawn after every other
    parameter, so they start as the one-bias net's."""

    def __init__(self, input_dim: int, hidden_dim: int, num_classes: int, generator: torch.Generator | None = None):
        super().__init__(input_dim, hidden_dim, num_classes, generator)
        self.b_hh = uniform_parameter((hidden_dim,), hidden_dim, generator)

    def recurrence_bias(self) -> torch.Tensor:
        return self.b_h + self.b_hh


class LSTM(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, num_classes: int, generator: torch.Generator | None = None):
        super().__init__()

        def gate() -> tuple[nn.Parameter, nn.Parameter, nn.Parameter]:  # W_.x, W_.h, b_.
            return (uniform_parameter((input_dim, hidden_dim), input_dim, generator),
                    uniform_parameter((hidden_dim, hidden_dim), hidden_dim, generator),
                    uniform_parameter((hidden_dim,), input_dim, generator))

        self.W_gx, self.W_gh, self.b_g = gate()
        self.W_ix, self.W_ih, self.b_i = gate()
        self.W_fx, self.W_fh, self.b_f = gate()
        self.W_ox, self.W_oh, self.b_o = gate()
        self.W_ph = uniform_parameter((hidden_dim, num_classes), hidden_dim, generator)
        self.b_p = uniform_parameter((num_classes,), hidden_dim, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., batch, time, input_dim) -> logits (..., batch, classes)."""
        h = c = x.new_zeros(*x.shape[:-2], self.W_gh.shape[-1])
        for t in range(x.shape[-2]):
            x_t = x[..., t, :]
            g = torch.tanh(x_t @ self.W_gx + h @ self.W_gh + self.b_g)
            i = torch.sigmoid(x_t @ self.W_ix + h @ self.W_ih + self.b_i)
            f = torch.sigmoid(x_t @ self.W_fx + h @ self.W_fh + self.b_f)
            o = torch.sigmoid(x_t @ self.W_ox + h @ self.W_oh + self.b_o)
            c = g * i + c * f
            h = torch.tanh(c) * o
        return h @ self.W_ph + self.b_p
