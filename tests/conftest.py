"""Fixtures. Helpers that tests import live in helpers.py (`from helpers import ...`)."""

import pytest


@pytest.fixture
def one_torch_thread():
    """Compute in-process as the `dlrepro` subprocesses do (OMP_NUM_THREADS=1): float sums depend on it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
