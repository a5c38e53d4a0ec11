"""Datasets: toy 2-D sets (scikit-learn), palindromes, CIFAR-10."""

from dlrepro.errors import DatasetError

__all__ = ["DatasetError"]
