"""One seed, independent streams: the weights, the sample order, the palindromes and the augmentation each
draw from their own generator (dlrepro.seeds), and every epoch has its own order, shared by the twins."""

import numpy as np
import torch

from dlrepro import seeds
from dlrepro.data.toy import make_toy
from dlrepro.train.batches import EpochBatches, epoch_permutation
from dlrepro.train.config import MLPConfig, RNNConfig
from dlrepro.train.mlp_task import TorchMLPTask
from dlrepro.train.numpy_mlp_task import NumpyMLPTask
from dlrepro.train.rnn_task import PalindromeTask


def test_rnn_weight_stream_and_data_stream_differ():
    task = PalindromeTask(RNNConfig(input_length=5, seed=4))
    weights = torch.Generator().manual_seed(4)  # what the initial weights draw from
    assert not torch.equal(task.stream.get_state(), weights.get_state())
    data = torch.randint(0, 10, (1000,), generator=task.stream)
    same_state_as_weights = torch.randint(0, 10, (1000,), generator=weights)
    assert (data == same_state_as_weights).float().mean() < 0.2  # independent draws agree 10 % of the time


def test_every_purpose_has_its_own_stream():
    states = {p: seeds.torch_generator(7, p).get_state() for p in (seeds.ORDER, seeds.DATA, seeds.AUGMENT)}
    states["weights"] = torch.Generator().manual_seed(7).get_state()
    assert len({bytes(s.numpy()) for s in states.values()}) == 4
    assert seeds.torch_seed(7, seeds.DATA) == seeds.torch_seed(7, seeds.DATA) != seeds.torch_seed(8, seeds.DATA)


def test_mlp_first_epoch_order_is_not_the_weights_stream():
    """default_rng(seed) == default_rng([seed, 0]): the order must not come from the weights' generator."""
    n, seed = 800, 3
    assert not np.array_equal(epoch_permutation(n, seed, 0), np.random.default_rng(seed).permutation(n))
    assert not np.array_equal(epoch_permutation(n, seed, 0), np.random.default_rng([seed, 0]).permutation(n))


def _epoch_orders(batches, epochs: int) -> list[list[int]]:
    """The training-set indices of each epoch, in visiting order (each sample's x is its own index)."""
    orders = []
    for e in range(epochs):
        steps = range(e * batches.steps_per_epoch, (e + 1) * batches.steps_per_epoch)
        orders.append([int(v) for s in steps for v in np.asarray(batches.get(s)[0])[:, 0]])
    return orders


def test_epochs_reorder_and_cover_every_sample():
    idx = np.arange(50, dtype=np.float64)[:, None]
    orders = _epoch_orders(EpochBatches(idx, np.zeros(50, np.int64), batch_size=8, seed=1), epochs=4)
    assert all(sorted(o) == list(range(50)) for o in orders)
    assert len({tuple(o) for o in orders}) == 4  # every epoch its own order
    assert orders[0] != list(range(50))
    other_seed = _epoch_orders(EpochBatches(idx, np.zeros(50, np.int64), batch_size=8, seed=2), epochs=1)
    assert other_seed[0] != orders[0]


def test_numpy_and_torch_twins_visit_samples_in_the_same_order():
    data = make_toy("moons", n_samples=200, seed=0)
    cfg = MLPConfig(model="mlp-numpy", dataset="moons", n_samples=200, batch_size=16, epochs=3, dtype="float64",
                    seed=5)
    tasks = [cls(cfg, data.x_train, data.y_train, data.x_test, data.y_test, 2) for cls in (NumpyMLPTask, TorchMLPTask)]
    n = len(data.y_train)
    steps = range(3 * tasks[0].batches.steps_per_epoch)
    xs = [np.concatenate([np.asarray(t.batches.get(s)[0]) for s in steps]) for t in tasks]
    assert np.array_equal(xs[0], xs[1])
    per_epoch = xs[0].reshape(3, n, 2)
    assert not np.array_equal(per_epoch[0], per_epoch[1]) and not np.array_equal(per_epoch[1], per_epoch[2])
    assert np.array_equal(np.sort(per_epoch[0], axis=0), np.sort(per_epoch[2], axis=0))  # same samples
