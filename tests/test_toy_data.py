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
