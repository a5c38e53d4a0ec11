"""A multi-layer perceptron built from the NumPy layers: Linear -> ReLU -> ... -> Linear (logits)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from dlrepro.numpy_nn.layers import Linear, ReLU


class MLP:
    """MLP(n_inputs, n_hidden, n_classes, seed, dtype): `forward` returns pre-softmax logits.

    Weights are drawn layer by layer (weight, then bias) from `np.random.default_rng(seed)`;
    `dlrepro.models.MLP.from_numpy` copies them so both implementations start identical.
    """

    def __init__(self, n_inputs: int, n_hidden: Sequence[int], n_classes: int, seed: int = 0,
                 dtype=np.float64):
        rng = np.random.default_rng(seed)
        sizes = [n_inputs, *n_hidden, n_classes]
        self.layers: list = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            self.layers.append(Linear(fan_in, fan_out, rng, dtype))
            if i < len(sizes) - 2:
                self.layers.append(ReLU())
        self.dtype = np.dtype(dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate dL/dlogits, filling every Linear layer's `grads`."""
        dout = dlogits
        for layer in reversed(self.layers):
            dout = layer.backward(dout)

    def linears(self) -> list[Linear]:
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    def parameters(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(value, grad) pairs in layer order, weight then bias. Arrays are updated in place."""
        for layer in self.linears():
            for name in ("weight", "bias"):
                yield layer.params[name], layer.grads[name]

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": layer.params[name].copy()
                for i, layer in enumerate(self.linears()) for name in ("weight", "bias")}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for i, layer in enumerate(self.linears()):
            for name in ("weight", "bias"):
                layer.params[name][...] = state[f"{i}.{name}"]
