"""Finite-difference gradient checks for the NumPy layers and MLPs (central differences, float64)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_grad(f: Callable[[], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d x by central differences, perturbing `x` in place one entry at a time."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = f()
        x[i] = old - h
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|, tiny): scale-free, 0 when equal."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-12))


def check_layer(layer, x: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Relative errors of a layer's backward (input and every parameter) against finite differences.

    Uses the scalar loss L = sum(forward(x) * r) for a fixed random r, so dL/dout = r.
    """
    r = np.random.default_rng(seed).standard_normal(layer.forward(x).shape)

    def loss() -> float:
        return float((layer.forward(x) * r).sum())

    layer.forward(x)
    errors = {"input": relative_error(layer.backward(r), numerical_grad(loss, x))}
    for name, value in getattr(layer, "params", {}).items():
        layer.forward(x)
        layer.backward(r)
        analytic = layer.grads[name].copy()
        errors[name] = relative_error(analytic, numerical_grad(loss, value))
    return errors


def check_mlp(mlp, x: np.ndarray, targets: np.ndarray) -> float:
    """Largest relative error over all MLP parameters for the mean cross-entropy loss."""
    from dlrepro.numpy_nn.layers import CrossEntropy

    def loss() -> float:
        return CrossEntropy.from_logits(mlp.forward(x), targets)[0]

    _, dlogits = CrossEntropy.from_logits(mlp.forward(x), targets)
    mlp.backward(dlogits)
    analytic = [g.copy() for _, g in mlp.parameters()]
    return max(relative_error(g, numerical_grad(loss, v))
               for (v, _), g in zip(mlp.parameters(), analytic, strict=True))
