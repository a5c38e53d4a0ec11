"""Plain stochastic gradient descent on NumPy arrays: p <- p - lr * dL/dp, in place."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class SGD:
    def __init__(self, parameters: Iterable[tuple[np.ndarray, np.ndarray]], lr: float):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.parameters = list(parameters)
        self.lr = lr

    def step(self) -> None:
        for value, grad in self.parameters:
            value -= self.lr * grad
