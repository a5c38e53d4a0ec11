import numpy as np
import pytest

from dlrepro.data.toy import TOY_DATASETS, make_toy
from dlrepro.errors import ConfigError


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_split_is_80_20_stratified_and_deterministic(name):
    a, b = make_toy(name, n_samples=1000, seed=0), make_toy(name, n_samples=1000, seed=0)
    assert a.x_train.shape == (800, 2) and a.x_test.shape == (200, 2)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert abs(a.y_train.mean() - a.y_test.mean()) <= 0.01
    assert a.n_classes == 2 and a.x_train.dtype == np.float64 and a.y_train.dtype == np.int64
    assert not np.array_equal(make_toy(name, seed=1).x_train, a.x_train)


def test_unknown_dataset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown dataset"):
        make_toy("spirals")


def test_the_reports_scatter_of_a_run_without_its_data_regenerates_the_runs_split(tmp_path, monkeypatch):
    """A toy run written before runs kept data.npz: the report draws its data set again, split as the run split
    it (the as-run protocol's first 800 points train), not stratified."""
    import dlrepro.data.toy as toy
    from dlrepro.report.toy import toy_report
    from dlrepro.runs.load import load_runs
    from helpers import TOY, write_run

    calls = []

    def recording(*args, **kwargs):
        calls.append(kwargs.get("split"))
        return make_toy(*args, **kwargs)
    monkeypatch.setattr(toy, "make_toy", recording)
    cfgs = [write_run(tmp_path, {**TOY, "dataset": d, "n_samples": 100, "epochs": 2, "eval_every": 1, **s}, 1.0)
            for d, s in (("moons", {"split": "first"}), ("circles", {}))]
    toy_report(load_runs([tmp_path / c.default_name() for c in cfgs]), tmp_path / "figures")
    assert calls == ["first", "stratified"]
    data = toy.make_toy("moons", n_samples=100, split="first")
    x, _ = toy.generate("moons", 100, 0)
    assert np.array_equal(data.x_train, x[:80])
