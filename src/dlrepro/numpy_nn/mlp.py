"""A multi-layer perceptron built from the NumPy layers: Linear -> ReLU -> ... -> Linear (logits)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import DTypeLike

from dlrepro.numpy_nn.layers import Linear, ReLU


class MLP:
    """MLP(n_inputs, n_hidden, n_classes, seed, dtype): `forward` returns pre-softmax logits.

    Weights are drawn layer by layer (weight, then bias) from `np.random.default_rng(seed)`, as `init` says
    (`Linear`: "uniform", nn.Linear's default, or "normal-0.1");
    `dlrepro.models.MLP.from_numpy` copies them so both implementations start identical.

    All parameters lie back to back in one flat array, and all gradients in another: each layer's
    `params` / `grads` arrays are views into them. `flat_parameters()` hands an optimizer that single
    (value, grad) pair, so SGD updates the whole model with one NumPy expression instead of one per array
    (at batch size 1, NumPy's per-call overhead is most of the cost of a step). So change parameters in
    place (`value[...] = ...`, as `load_state_dict` does): rebinding a layer's array would cut it loose.
    """

    def __init__(self, n_inputs: int, n_hidden: Sequence[int], n_classes: int, seed: int = 0,
                 dtype: DTypeLike = np.float64, init: str = "uniform"):
        rng = np.random.default_rng(seed)
        sizes = [n_inputs, *n_hidden, n_classes]
        self.layers: list = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            self.layers.append(Linear(fan_in, fan_out, rng, dtype, init))
            if i < len(sizes) - 2:
                self.layers.append(ReLU())
        self.dtype = np.dtype(dtype)
        # Move every parameter and every gradient into its flat buffer, in parameters() order.
        self._flat_values = np.concatenate([value.ravel() for value, _ in self.parameters()])
        self._flat_grads = np.zeros_like(self._flat_values)
        for layer, name, span, shape in self.flat_layout():
            layer.params[name] = self._flat_values[span].reshape(shape)
            layer.grads[name] = self._flat_grads[span].reshape(shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate dL/dlogits, filling every Linear layer's `grads`."""
        dout = dlogits
        for layer in reversed(self.layers[1:]):
            dout = layer.backward(dout)
        self.layers[0].backward(dout, input_grad=False)  # dL/dx of the data itself is never needed

    def linears(self) -> list[Linear]:
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    def parameters(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(value, grad) pairs in layer order, weight then bias. Arrays are updated in place."""
        for layer in self.linears():
            for name in ("weight", "bias"):
                yield layer.params[name], layer.grads[name]

    def flat_layout(self) -> list[tuple[Linear, str, slice, tuple[int, ...]]]:
        """(layer, "weight" | "bias", its span in the flat buffer, its shape), in parameters() order."""
        layout, offset = [], 0
        for layer in self.linears():
            for name in ("weight", "bias"):
                shape, size = layer.params[name].shape, layer.params[name].size
                layout.append((layer, name, slice(offset, offset + size), shape))
                offset += size
        return layout

    def flat_parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """All parameters as one (value, grad) pair of 1-D arrays, which the layers' arrays are views of."""
        return [(self._flat_values, self._flat_grads)]

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": layer.params[name].copy()
                for i, layer in enumerate(self.linears()) for name in ("weight", "bias")}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for i, layer in enumerate(self.linears()):
            for name in ("weight", "bias"):
                layer.params[name][...] = state[f"{i}.{name}"]
