"""Layers of a from-scratch MLP in NumPy, each with `forward` and `backward`.

Every layer caches what its backward pass needs during `forward`. Parameterised layers keep their
parameters and gradients as NumPy arrays in `params` / `grads` dicts (weight first, then bias).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

INITS = ("uniform", "normal-0.1")  # a Linear layer's initial weights (see `Linear`)


class Linear:
    """y = x W + b, with W of shape (in_features, out_features) and b of shape (out_features,).

    init "uniform": PyTorch's nn.Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, so
    the NumPy and PyTorch MLPs start from the same distribution (and, given the same rng, the same numbers).
    init "normal-0.1": weights N(0, 0.1^2), biases 0 (what the reference's NumPy MLP drew).
    """

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator,
                 dtype: DTypeLike = np.float64, init: str = "uniform"):
        shape = (in_features, out_features)
        if init == "uniform":
            bound = 1.0 / np.sqrt(in_features)
            weight, bias = rng.uniform(-bound, bound, size=shape), rng.uniform(-bound, bound, size=(out_features,))
        elif init == "normal-0.1":
            weight, bias = rng.normal(0.0, 0.1, size=shape), np.zeros(out_features)
        else:
            raise ValueError(f"unknown init {init!r}")
        self.params = {"weight": weight.astype(dtype), "bias": bias.astype(dtype)}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.params["weight"] + self.params["bias"]

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Fill dL/dW = x^T dout and dL/db = sum_n dout; return dL/dx = dout W^T (None if not `input_grad`).

        The gradients are written into the existing `grads` arrays (`out=`), which the optimizer holds.
        `input_grad=False` skips dL/dx where nobody needs it (the MLP's first layer: x is the data).
        """
        np.matmul(self.x.T, dout, out=self.grads["weight"])
        dout.sum(axis=0, out=self.grads["bias"])
        return dout @ self.params["weight"].T if input_grad else None


class ReLU:
    """y = max(0, x)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        # The mask holds 1.0 / 0.0 in x's dtype rather than booleans: NumPy would cast a boolean mask to
        # float at every multiplication here and in `backward`, which at batch size 1 costs more than the
        # multiplication itself. The products are the same either way.
        self.mask = (x > 0).astype(x.dtype)
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


class SoftMax:
    """y_i = exp(x_i) / sum_j exp(x_j) along the last axis, stabilised by subtracting the row maximum."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.y = e / e.sum(axis=-1, keepdims=True)
        return self.y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dL/dx = y * (dout - sum_j dout_j y_j)  (the softmax Jacobian applied row by row)."""
        return self.y * (dout - (dout * self.y).sum(axis=-1, keepdims=True))


class CrossEntropy:
    """Mean cross-entropy L = -1/N sum_n log p[n, t_n] of probabilities p against integer targets t.

    `forward(probs, targets)` takes probabilities (the output of SoftMax). For training, use
    `from_logits`, which fuses softmax and cross-entropy through log-sum-exp: it never takes the log of a
    probability that underflowed to zero, and its gradient is simply (softmax(x) - onehot(t)) / N.
    """

    eps = 1e-12

    def forward(self, probs: np.ndarray, targets: np.ndarray) -> float:
        self.probs, self.targets = probs, targets
        n = probs.shape[0]
        return float(-np.log(np.maximum(probs[np.arange(n), targets], self.eps)).mean())

    def backward(self) -> np.ndarray:
        n = self.probs.shape[0]
        dprobs = np.zeros_like(self.probs)
        p = np.maximum(self.probs[np.arange(n), self.targets], self.eps)
        dprobs[np.arange(n), self.targets] = -1.0 / (p * n)
        return dprobs

    @staticmethod
    def from_logits(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        """Return (mean loss, dL/dlogits) for logits (N, C) and integer targets (N,)."""
        n = logits.shape[0]
        if n == 1:
            return CrossEntropy._from_logits_one(logits, targets)
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        sum_e = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = float((np.log(sum_e[:, 0]) - shifted[rows, targets]).mean())
        dlogits = e / sum_e
        dlogits[rows, targets] -= 1.0
        dlogits /= n
        return loss, dlogits

    @staticmethod
    def _from_logits_one(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
        """`from_logits` for one sample, bit for bit: the same equations on the row as a vector.

        Batch-1 SGD calls this once per sample, where NumPy's per-call overhead is the whole cost: scalar
        indexing of one row replaces the `arange`, the fancy indexing, the mean and the division by n = 1
        of the general case, which made it slower per call (BENCHMARKS.md, "NumPy MLP, batch size 1").
        """
        s, t = logits[0], targets[0]
        shifted = s - s.max()
        e = np.exp(shifted)
        sum_e = e.sum()
        loss = float(np.log(sum_e) - shifted[t])
        dlogits = e / sum_e
        dlogits[t] -= 1.0
        return loss, dlogits[np.newaxis]
