"""A population of S NumPy MLPs trained at once: every parameter stacked along a leading model axis.

Member s is exactly `MLP(n_inputs, n_hidden, n_classes, seed=seeds[s])`: the same initial weights, the
same equations, applied with batched matmuls over the model axis. At batch size 1 NumPy's per-call
overhead, not arithmetic, sets the pace of a step, so S members cost about as many NumPy calls as one.

    x: (S, B, n_inputs) -> logits (S, B, n_classes);  W_l: (S, fan_in, fan_out);  b_l: (S, fan_out)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlrepro.numpy_nn.mlp import MLP


class PopulationMLP:
    def __init__(self, n_inputs: int, n_hidden: Sequence[int], n_classes: int, seeds: Sequence[int],
                 dtype=np.float64):
        members = [MLP(n_inputs, n_hidden, n_classes, seed=s, dtype=dtype) for s in seeds]
        n_layers = len(members[0].linears())
        self.W = [np.stack([m.linears()[i].params["weight"] for m in members]) for i in range(n_layers)]
        self.b = [np.stack([m.linears()[i].params["bias"] for m in members]) for i in range(n_layers)]
        self.dW = [np.zeros_like(w) for w in self.W]
        self.db = [np.zeros_like(b) for b in self.b]
        self.seeds = list(seeds)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """h_0 = x; h_l = relu(h_{l-1} W_l + b_l) for hidden layers; logits = h_{L-1} W_L + b_L."""
        self.inputs, self.masks = [], []
        h = x
        for i, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            self.inputs.append(h)
            h = np.matmul(h, W) + b[:, None, :]
            if i < len(self.W) - 1:
                mask = (h > 0).astype(h.dtype)
                self.masks.append(mask)
                h = h * mask
        return h

    def backward(self, dlogits: np.ndarray) -> None:
        """Fill dW, db from dL/dlogits (S, B, n_classes), each member's loss being its own."""
        d = dlogits
        for i in range(len(self.W) - 1, -1, -1):
            np.matmul(self.inputs[i].transpose(0, 2, 1), d, out=self.dW[i])
            d.sum(axis=1, out=self.db[i])
            if i > 0:
                d = np.matmul(d, self.W[i].transpose(0, 2, 1)) * self.masks[i - 1]

    def sgd_step(self, lr: float, active: np.ndarray | None = None) -> None:
        """p <- p - lr * dL/dp for every member; members with active[s] == False keep their weights."""
        scale = lr if active is None else lr * active.astype(self.W[0].dtype)
        for params, grads in ((self.W, self.dW), (self.b, self.db)):
            for p, g in zip(params, grads, strict=True):
                p -= (scale if active is None else scale.reshape(-1, *[1] * (p.ndim - 1))) * g

    def member_state_dict(self, s: int) -> dict[str, np.ndarray]:
        """Member s in `MLP.state_dict` form."""
        return {f"{i}.{name}": arr[s].copy() for i in range(len(self.W))
                for name, arr in (("weight", self.W[i]), ("bias", self.b[i]))}


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-member mean cross-entropy (S,) and dL_s/dlogits (S, B, C) for logits (S, B, C), targets (S, B)."""
    n = logits.shape[1]
    shifted = logits - logits.max(axis=2, keepdims=True)
    e = np.exp(shifted)
    sum_e = e.sum(axis=2, keepdims=True)
    picked = np.take_along_axis(shifted, targets[..., None], axis=2)[..., 0]
    loss = (np.log(sum_e[..., 0]) - picked).mean(axis=1)
    grad = e / sum_e
    np.put_along_axis(grad, targets[..., None], np.take_along_axis(grad, targets[..., None], axis=2) - 1.0, axis=2)
    return loss, grad / n
