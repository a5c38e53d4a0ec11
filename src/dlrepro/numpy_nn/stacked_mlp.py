"""S NumPy MLPs trained at once (a seed population): every parameter stacked along a leading model axis.

Member s is exactly `MLP(n_inputs, n_hidden, n_classes, seed=seeds[s])`: the same initial weights, the
same equations, applied with batched matmuls over the model axis. At batch size 1 NumPy's per-call
overhead, not arithmetic, sets the pace of a step, so S members cost about as many NumPy calls as one.

    x: (S, B, n_inputs) -> logits (S, B, n_classes);  W_l: (S, fan_in, fan_out);  b_l: (S, 1, fan_out)

As in `MLP`, all of member s's parameters lie back to back in row s of one (S, P) array, and its
gradients in another; every W_l, b_l (and dW_l, db_l) is a view into them, so SGD is one expression for
the whole population. Change parameters in place, never rebind them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from dlrepro.numpy_nn.mlp import MLP


class PopulationMLP:
    def __init__(self, n_inputs: int, n_hidden: Sequence[int], n_classes: int, seeds: Sequence[int],
                 dtype=np.float64, init: str = "uniform"):
        members = [MLP(n_inputs, n_hidden, n_classes, seed=s, dtype=dtype, init=init) for s in seeds]
        S = len(members)
        self.flat = np.stack([m.flat_parameters()[0][0] for m in members])  # (S, P), MLP's own flat order
        self.flat_grad = np.zeros_like(self.flat)
        self.W: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.dW: list[np.ndarray] = []
        self.db: list[np.ndarray] = []
        for _, name, span, shape in members[0].flat_layout():
            params, grads = (self.W, self.dW) if name == "weight" else (self.b, self.db)
            shape3 = shape if len(shape) == 2 else (1, *shape)  # biases as (1, n): they broadcast over a batch
            params.append(self.flat[:, span].reshape(S, *shape3))
            grads.append(self.flat_grad[:, span].reshape(S, *shape3))
        self._WT = [w.transpose(0, 2, 1) for w in self.W]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """h_0 = x; h_l = relu(h_{l-1} W_l + b_l) for hidden layers; logits = h_{L-1} W_L + b_L."""
        self.inputs, self.masks = [], []
        h = x
        last = len(self.W) - 1
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            self.inputs.append(h)
            h = np.matmul(h, W)
            h += b
            if i < last:
                mask = (h > 0).astype(h.dtype)
                self.masks.append(mask)
                h *= mask
        return h

    def backward(self, dlogits: np.ndarray) -> None:
        """Fill dW, db from dL/dlogits (S, B, n_classes), each member's loss being its own."""
        d = dlogits
        for i in range(len(self.W) - 1, -1, -1):
            np.matmul(self.inputs[i].transpose(0, 2, 1), d, out=self.dW[i])
            if d.shape[1] == 1:
                self.db[i][...] = d
            else:
                d.sum(axis=1, keepdims=True, out=self.db[i])
            if i > 0:
                d = np.matmul(d, self._WT[i])
                d *= self.masks[i - 1]

    def sgd_step(self, lr: float, active: np.ndarray | None = None) -> None:
        """p <- p - lr * dL/dp for every member; members with active[s] == False keep their weights."""
        if active is None:
            self.flat -= lr * self.flat_grad
        else:
            self.flat -= (lr * active.astype(self.flat.dtype))[:, None] * self.flat_grad

    def member_state_dict(self, s: int) -> dict[str, np.ndarray]:
        """Member s in `MLP.state_dict` form."""
        return {f"{i}.{name}": arr[s].reshape(shape).copy() for i in range(len(self.W))
                for name, arr, shape in (("weight", self.W[i], self.W[i].shape[1:]),
                                         ("bias", self.b[i], self.b[i].shape[2:]))}

    def load_member_state_dict(self, s: int, state: dict[str, np.ndarray]) -> None:
        for i in range(len(self.W)):
            self.W[i][s] = state[f"{i}.weight"]
            self.b[i][s, 0] = state[f"{i}.bias"]


@functools.cache
def _row_starts(rows: int, n_classes: int) -> np.ndarray:
    """r * C for every row r of a flattened (rows, C) array."""
    return np.arange(rows) * n_classes


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-member mean cross-entropy (S,) and dL_s/dlogits (S, B, C) for logits (S, B, C), targets (S, B).

    The target entries are picked through flat indices (row r's target at r * C + target): one fancy
    index instead of take_along_axis / put_along_axis, which cost more at batch size 1 (BENCHMARKS.md,
    "Seed populations").
    """
    S, B, C = logits.shape
    picks = _row_starts(S * B, C) + targets.reshape(-1)
    shifted = logits - logits.max(axis=2, keepdims=True)
    e = np.exp(shifted)
    sum_e = e.sum(axis=2, keepdims=True)
    per_sample = np.log(sum_e).reshape(-1) - shifted.reshape(-1)[picks]
    loss = per_sample if B == 1 else per_sample.reshape(S, B).mean(axis=1)
    grad = e / sum_e
    grad.reshape(-1)[picks] -= 1.0
    if B > 1:
        grad /= B
    return loss, grad
