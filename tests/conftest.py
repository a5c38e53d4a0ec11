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


@pytest.fixture(scope="session")
def base_results(tmp_path_factory):
    """A small results folder (helpers.make_results) with its report built once (the figures drawn): tests
    copy it and corrupt the copy."""
    from dlrepro.cli import main
    from helpers import make_results

    out = make_results(tmp_path_factory.mktemp("base") / "results")
    assert main(["report", str(out)]) == 0
    return out
