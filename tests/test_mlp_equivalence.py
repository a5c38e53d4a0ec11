"""The NumPy and PyTorch MLPs, given the same seed, start identical and follow identical curves."""

import numpy as np
import pytest
import torch

from dlrepro import numpy_nn
from dlrepro.models import MLP
from dlrepro.runs.execute import execute
from dlrepro.train.config import MLPConfig


def test_torch_mlp_copies_numpy_weights_exactly():
    np_mlp = numpy_nn.MLP(2, [20, 7], 3, seed=5)
    torch_mlp = MLP.from_numpy(np_mlp)
    x = np.random.default_rng(0).standard_normal((9, 2))
    for (w_np, _), w_t in zip(np_mlp.parameters(), torch_mlp.parameters(), strict=True):
        assert np.array_equal(w_np, w_t.detach().numpy().T if w_np.ndim == 2 else w_t.detach().numpy())
    assert np.allclose(np_mlp.forward(x), torch_mlp(torch.from_numpy(x)).detach().numpy(), rtol=0, atol=1e-14)


@pytest.mark.parametrize("dataset", ["moons", "circles", "classification"])
def test_numpy_and_torch_curves_coincide_over_20_epochs(tmp_path, dataset):
    rows = {}
    for model in ("mlp-numpy", "mlp-torch"):
        cfg = MLPConfig(model=model, dataset=dataset, epochs=20, eval_every=1, dtype="float64", seed=3)
        run, summary = execute(cfg, tmp_path / model, progress=False)
        assert summary["status"] == "completed"
        rows[model] = run.metrics()
    assert len(rows["mlp-numpy"]) == len(rows["mlp-torch"]) == 21
    for a, b in zip(rows["mlp-numpy"], rows["mlp-torch"], strict=True):
        assert a["step"] == b["step"] and a["epoch"] == b["epoch"]
        for key in ("train_loss", "test_loss"):
            assert abs(a[key] - b[key]) <= 1e-6, (a, b)
        assert a["train_acc"] == b["train_acc"] and a["test_acc"] == b["test_acc"]
    assert rows["mlp-numpy"][-1]["train_loss"] < rows["mlp-numpy"][0]["train_loss"] / 2  # it did learn
