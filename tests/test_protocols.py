"""The protocol settings (dlrepro.train.protocol): each behaviour of the reference's code against a hand
computation, and every setting at its default leaving runs exactly as they were (ids and numbers)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlrepro import numpy_nn
from dlrepro.data import toy
from dlrepro.errors import ConfigError
from dlrepro.models.outputs import emit
from dlrepro.numpy_nn import layers
from dlrepro.studies import schema
from dlrepro.train import batches as batches_mod
from dlrepro.train import protocol
from dlrepro.train.batches import EpochBatches, PopulationBatches
from dlrepro.train.build import build_population, build_task
from dlrepro.train.cifar_task import CifarTask
from dlrepro.train.config import OMITTED_AT_DEFAULT, CNNConfig, MLPConfig, RNNConfig, config_from_dict
from dlrepro.train.engine import fit, fit_population
from dlrepro.train.mlp_task import seeded_mlp
from dlrepro.train.rnn_task import PalindromeTask
from helpers import MemorySink, synthetic_cifar10

CPU = torch.device("cpu")


def _rows(sink: MemorySink) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in sink.rows]


# --- what the model emits into the loss ------------------------------------------------------------------

def test_softmax_before_cross_entropy_levels_off_at_ln_e_plus_9_minus_1():
    """Ten classes, fully confident and right: cross-entropy of probabilities is ln(e + 9) - 1, not 0."""
    y = torch.arange(10)
    logits = 60.0 * F.one_hot(y, 10).double()
    assert float(F.cross_entropy(emit(logits, "softmax"), y)) == pytest.approx(math.log(math.e + 9) - 1, abs=1e-9)
    assert math.log(math.e + 9) - 1 == pytest.approx(1.4612, abs=1e-4)
    assert float(F.cross_entropy(emit(logits, "logits"), y)) < 1e-20


def test_sigmoid_outputs_of_two_classes_level_off_at_ln_e_plus_1_minus_1():
    y = torch.tensor([0, 1, 1])
    logits = 60.0 * (2 * F.one_hot(y, 2).double() - 1)  # +60 for the true class, -60 for the other
    assert float(F.cross_entropy(emit(logits, "sigmoid"), y)) == pytest.approx(math.log(math.e + 1) - 1, abs=1e-9)
    assert math.log(math.e + 1) - 1 == pytest.approx(0.3133, abs=1e-4)


def test_softmax_over_the_batch_axis_makes_a_prediction_depend_on_its_batch():
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    changed = logits.clone()
    changed[3] += torch.tensor([4.0, -2.0, 1.0], dtype=torch.float64)
    assert not torch.allclose(emit(logits, "softmax-batch")[0], emit(changed, "softmax-batch")[0])
    assert torch.equal(emit(logits, "softmax")[0], emit(changed, "softmax")[0])
    assert torch.allclose(emit(logits, "softmax-batch").sum(0), torch.ones(3, dtype=torch.float64))
    # a population (S, B, C): each member's batch axis alone, as in its single run
    stacked = torch.stack([logits, changed])
    assert torch.equal(emit(stacked, "softmax-batch")[1], emit(changed, "softmax-batch"))


def test_confident_batch_of_64_under_the_batch_axis_softmax_loses_about_2_163():
    """Each class's column is shared by that class's n_c samples (1/n_c each): the loss of such a sample is
    ln(9 + e^(1/n_c)) - 1/n_c; with 6.4 samples per class on average, about 2.163."""
    counts = [7] * 4 + [6] * 6  # 64 samples
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    logits = 60.0 * F.one_hot(y, 10).double()
    loss = float(F.cross_entropy(emit(logits, "softmax-batch"), y))
    by_hand = sum(n * (math.log(9 + math.exp(1 / n)) - 1 / n) for n in counts) / 64
    assert loss == pytest.approx(by_hand, abs=1e-9)
    assert loss == pytest.approx(math.log(9 + math.exp(1 / 6.4)) - 1 / 6.4, abs=2e-3)
    assert loss == pytest.approx(2.163, abs=2e-3)


def test_torch_mlp_trains_on_what_it_emits_and_its_population_matches_the_single_runs():
    """Sigmoid outputs into the loss: the first update is the hand-made one; members equal their single runs."""
    cfg = MLPConfig(model="mlp-torch", dataset="blobs", outputs="sigmoid", split="first", order="none",
                    n_samples=40, epochs=2, eval_every=1, batch_size=8)
    task = build_task(cfg)
    model = seeded_mlp(2, cfg.hidden, 2, cfg.seed, torch.float64)
    x, y = task.train_xy[0][:8], task.train_xy[1][:8]  # order none: the dataset's first batch
    loss = F.cross_entropy(torch.sigmoid(model(x)), y)
    loss.backward()
    with torch.no_grad():
        expected = [p - cfg.lr * p.grad for p in model.parameters()]
    task.train_step(0)
    assert all(torch.allclose(a, b, atol=1e-15) for a, b in zip(task.model.parameters(), expected, strict=True))
    for outputs in ("softmax-batch", "sigmoid"):
        cfgs = [dataclasses.replace(cfg, outputs=outputs, seed=s) for s in (0, 1)]
        singles = []
        for c in cfgs:
            sink = MemorySink()
            fit(build_task(c), sink, progress=False)
            singles.append(_rows(sink))
        sinks = [MemorySink(), MemorySink()]
        fit_population(build_population(cfgs), sinks, progress=False)
        for single, sink in zip(singles, sinks, strict=True):
            for a, b in zip(single, _rows(sink), strict=True):
                assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=1e-12) for k in a)


def test_batch_axis_softmax_evaluates_in_unshuffled_batches_of_the_training_batch_size():
    cfg = MLPConfig(model="mlp-torch", dataset="moons", outputs="softmax-batch", n_samples=50, epochs=1,
                    batch_size=4)
    task = build_task(cfg)
    x, y = task.test_xy
    with torch.no_grad():
        out = torch.cat([torch.softmax(task.model(x[lo:lo + 4]), 0) for lo in range(0, len(y), 4)])
    metrics = task.evaluate(None)
    assert metrics["test_loss"] == pytest.approx(float(F.cross_entropy(out, y)), abs=1e-12)
    assert metrics["test_acc"] == pytest.approx(float((out.argmax(1) == y).double().mean()), abs=1e-12)


# --- how train metrics are measured ----------------------------------------------------------------------

def _tiny_cifar_task(data=None, **kw) -> CifarTask:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 10))
    return CifarTask(model, torch.optim.SGD(model.parameters(), lr=0.05), data or synthetic_cifar10(12, 6),
                     device=CPU, batch_size=4, epochs=3, eval_every=2, seed=3, **kw)


def test_running_train_accuracy_is_the_mean_over_the_epochs_batches_before_each_update():
    task = _tiny_cifar_task(train_metrics="running", normalize="half", outputs="softmax-batch")
    twin = _tiny_cifar_task()  # the same initial weights and batches, trained here by hand
    sink = MemorySink()
    fit(task, sink, progress=False)
    per_epoch: list[tuple[float, float]] = []
    for epoch in range(3):
        accs, losses = [], []
        for step in range(3 * epoch, 3 * epoch + 3):
            x, y = twin.batches.get(step)
            out = torch.softmax(twin.model((x.double() / 255 - 0.5).float() / 0.5), 0)  # batch axis, mean/std 0.5
            accs.append(float((out.argmax(1) == y).double().mean()))  # before the update
            loss = F.cross_entropy(out, y)
            losses.append(float(loss.detach()))
            twin.optimizer.zero_grad()
            loss.backward()
            twin.optimizer.step()
        per_epoch.append((sum(losses) / 3, sum(accs) / 3))  # equal batches of 4: the mean of the batch means
    rows = sink.rows
    assert [r["epoch"] for r in rows] == [0, 2, 3]
    for row, (loss, acc) in zip(rows[1:], per_epoch[1:], strict=True):  # the last epoch only, not all since
        # the previous evaluation
        assert row["train_acc"] == pytest.approx(acc, abs=1e-12)
        assert row["train_loss"] == pytest.approx(loss, rel=1e-5)


def test_palindrome_batch_metrics_are_the_next_steps_batch_before_its_update():
    cfg = RNNConfig(train_metrics="batch", outputs="softmax", steps=20, eval_every=10, hidden=8, batch_size=16,
                    input_length=4, test_size=32)
    task = PalindromeTask(cfg)
    seen: dict[int, tuple] = {}
    train_step = task.train_step

    def recording(step: int):
        loss_sum, correct, n = seen[step] = train_step(step)
        return loss_sum, correct, n

    task.train_step = recording  # type: ignore[method-assign]
    sink = MemorySink()
    fit(task, sink, progress=False)
    for row in sink.rows[:-1]:  # steps 0 and 10: what step k's own forward pass (before its update) saw
        loss_sum, correct, n = seen[row["step"]]
        assert row["train_acc"] == pytest.approx(float(correct) / n, abs=1e-12)
        assert row["train_loss"] == pytest.approx(float(loss_sum) / n, rel=1e-6)
    assert sink.rows[-1]["train_loss"] >= math.log(math.e + 9) - 1 - 1e-6  # the double softmax's floor


# --- toy data, sample order, initial weights --------------------------------------------------------------

def test_blobs_with_the_first_800_split_is_sklearn_make_blobs_as_the_reference_called_it():
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=1000, centers=2, n_features=2, random_state=1, cluster_std=2)
    data = toy.make_toy("blobs", 1000, seed=1, split="first")
    assert np.array_equal(data.x_train, x[:800]) and np.array_equal(data.x_test, x[800:])
    assert np.array_equal(data.y_train, y[:800]) and np.array_equal(data.y_test, y[800:])
    assert data.x_train.dtype == np.float64 and data.y_train.dtype == np.int64


def test_first_split_takes_the_generators_order_and_stratified_keeps_proportions():
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, random_state=4)
    first = toy.make_toy("moons", 1000, seed=4, split="first")
    assert np.array_equal(first.x_train, x[:800]) and np.array_equal(first.y_test, y[800:])
    stratified = toy.make_toy("moons", 1000, seed=4)
    assert len(stratified.y_test) == 200 and stratified.y_test.sum() == 100
    assert not np.array_equal(stratified.x_train, x[:800])


def _epoch_orders(batches: EpochBatches, epochs: int) -> list[list[int]]:
    spe = batches.steps_per_epoch
    return [np.concatenate([batches.get(e * spe + i)[0] for i in range(spe)]).tolist() for e in range(epochs)]


def test_sample_order_once_repeats_one_permutation_and_none_is_the_dataset_order():
    x = np.arange(10)
    once = _epoch_orders(EpochBatches(x, x, 3, seed=5, order="once"), 4)
    assert once[0] == once[1] == once[2] == once[3] and sorted(once[0]) == list(range(10))
    assert once[0] != list(range(10))
    assert once[0] == batches_mod.epoch_permutation(10, 5, 0).tolist()  # epoch 0's permutation of order each
    assert all(e == list(range(10)) for e in _epoch_orders(EpochBatches(x, x, 3, seed=5, order="none"), 3))
    each = _epoch_orders(EpochBatches(x, x, 3, seed=5), 3)
    assert each[0] == once[0] and each[1] != each[0]
    population = PopulationBatches(x, x, 3, [5, 6], order="once")
    for e in range(3):
        rows = np.concatenate([population.get(e * 4 + i)[0] for i in range(4)], axis=1)
        assert rows[0].tolist() == once[0]
        assert rows[1].tolist() == batches_mod.epoch_permutation(10, 6, 0).tolist()


def test_normal_init_draws_weights_of_std_0_1_and_zero_biases_from_the_seed():
    mlp = numpy_nn.MLP(500, (400,), 300, seed=7, init="normal-0.1")
    w1, w2 = (lin.params["weight"] for lin in mlp.linears())
    assert abs(w1.std() - 0.1) < 1e-3 and abs(w1.mean()) < 1e-3 and abs(w2.std() - 0.1) < 1e-3
    assert all(not lin.params["bias"].any() for lin in mlp.linears())
    again = numpy_nn.MLP(500, (400,), 300, seed=7, init="normal-0.1").linears()[0].params["weight"]
    other = numpy_nn.MLP(500, (400,), 300, seed=8, init="normal-0.1").linears()[0].params["weight"]
    assert np.array_equal(w1, again) and not np.array_equal(w1, other)
    torch_mlp = seeded_mlp(500, (400,), 300, 7, torch.float64, "normal-0.1")
    assert np.array_equal(torch_mlp.net[0].weight.detach().numpy(), w1.T)
    uniform = numpy_nn.MLP(500, (400,), 300, seed=7).linears()[0].params["weight"]
    assert np.abs(uniform).max() <= 1 / math.sqrt(500)  # the default: nn.Linear's U(-1/sqrt(fan_in), ...)


# --- settings: checks, identity, schema, defaults --------------------------------------------------------

def test_protocol_values_are_those_the_implementations_take():
    assert protocol.SPLITS == toy.SPLIT_KINDS
    assert protocol.INITS == layers.INITS
    assert protocol.ORDERS == batches_mod.ORDERS
    assert set(protocol.SETTINGS) <= set(OMITTED_AT_DEFAULT)


@pytest.mark.parametrize("cls", [MLPConfig, RNNConfig, CNNConfig])
def test_protocol_fields_have_help_and_choices_and_the_default_among_them(cls):
    found = [f for f in dataclasses.fields(cls) if f.name in protocol.SETTINGS]
    assert found
    for f in found:
        assert f.metadata["help"] and f.default in f.metadata["choices"]


def test_protocol_settings_enter_the_identity_only_when_not_their_default():
    base = MLPConfig(model="mlp-torch")
    assert not set(protocol.SETTINGS) & set(base.to_dict())
    changed = dataclasses.replace(base, outputs="sigmoid", order="none", split="first", init="normal-0.1")
    assert {"outputs", "order", "split", "init"} <= set(changed.identity())
    assert changed.default_name() != base.default_name()
    assert config_from_dict(changed.to_dict()) == changed
    assert set(protocol.SETTINGS) <= set(schema.schema()["properties"]["fixed"]["properties"])


@pytest.mark.parametrize("kwargs, needle", [
    ({"model": "mlp-numpy", "outputs": "softmax"}, "--outputs"),
    ({"model": "mlp-torch", "outputs": "softmax-axis"}, "--outputs: unknown value"),
    ({"model": "mlp-torch", "train_metrics": "running"}, "--train-metrics"),
    ({"model": "mlp-torch", "normalize": "half"}, "--normalize"),
    ({"model": "mlp-torch", "dataset": "cifar10", "split": "first"}, "--split"),
    ({"model": "mlp-numpy", "order": "never"}, "--order: unknown value"),
    ({"model": "mlp-numpy", "init": "normal"}, "--init: unknown value"),
])
def test_bad_protocol_settings_are_one_line_config_errors(kwargs, needle):
    with pytest.raises(ConfigError, match=needle.replace("-", "\\-")):
        MLPConfig(**kwargs)


def test_bad_protocol_settings_of_the_rnn_and_cnn_are_config_errors():
    with pytest.raises(ConfigError, match="outputs"):
        RNNConfig(outputs="softmax-batch")
    with pytest.raises(ConfigError, match="train-metrics"):
        RNNConfig(train_metrics="eval")
    with pytest.raises(ConfigError, match="normalize"):
        CNNConfig(normalize="imagenet")


def test_default_settings_log_the_numbers_logged_before_the_protocol_settings():
    """Runs at every default (toy MLPs single and population, the palindrome RNN, a CIFAR-10 task) log the
    rows main a7585ba logged (tests/data/default_protocol_rows_a7585ba.json; byte-identical on this machine)."""
    before = json.loads((Path(__file__).parent / "data" / "default_protocol_rows_a7585ba.json").read_text())
    now: dict = {}
    for model in ("mlp-numpy", "mlp-torch"):
        sink = MemorySink()
        fit(build_task(MLPConfig(model=model, n_samples=100, epochs=3, eval_every=1, batch_size=4)), sink,
            progress=False)
        now[model] = _rows(sink)
        sinks = [MemorySink(), MemorySink()]
        fit_population(build_population([MLPConfig(model=model, n_samples=100, epochs=2, eval_every=1, batch_size=4,
                                                   seed=s) for s in (0, 1)]), sinks, progress=False)
        now[model + "-pop"] = [_rows(s) for s in sinks]
    sink = MemorySink()
    fit(build_task(RNNConfig(steps=20, eval_every=10, hidden=16, batch_size=16, input_length=5, test_size=64)),
        sink, progress=False)
    now["rnn"] = _rows(sink)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 10))
    task = CifarTask(model, torch.optim.SGD(model.parameters(), lr=0.01), synthetic_cifar10(24, 12), device=CPU,
                     batch_size=8, epochs=2, eval_every=1, seed=0)
    sink = MemorySink()
    fit(task, sink, progress=False)
    now["cifar"] = _rows(sink)
    assert now.keys() == before.keys()

    def close(a, b) -> bool:
        if isinstance(a, list):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
        return a == b if not isinstance(a, float) else b == pytest.approx(a, rel=1e-6, abs=1e-12)

    for key in before:
        assert close(before[key], now[key]), key


def _population_logs_its_single_runs(cfgs: list, tol: float) -> list[MemorySink]:
    """Train `cfgs` as one population and each alone; every member's rows equal its single run's (within tol)."""
    sinks = [MemorySink() for _ in cfgs]
    fit_population(build_population(cfgs), sinks, progress=False)
    for cfg, sink in zip(cfgs, sinks, strict=True):
        single = MemorySink()
        fit(build_task(cfg), single, progress=False)
        for a, b in zip(_rows(single), _rows(sink), strict=True):
            assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=tol) for k in a)
    return sinks


@pytest.mark.parametrize("biases", protocol.BIASES)
def test_palindrome_population_under_the_as_run_settings_logs_its_single_runs_numbers(biases):
    cfgs = [RNNConfig(train_metrics="batch", outputs="softmax", steps=20, eval_every=10, hidden=8, batch_size=16,
                      input_length=4, test_size=32, seed=s, biases=biases) for s in (0, 1)]
    _population_logs_its_single_runs(cfgs, 1e-5)


# --- the vanilla RNN's recurrence bias as two parameters ---------------------------------------------------

def test_two_bias_rnn_is_the_one_bias_equation_with_b_h_the_sum_and_starts_from_the_same_draws():
    from dlrepro.models.rnn import TwoBiasRNN, VanillaRNN

    one = VanillaRNN(1, 16, 10, torch.Generator().manual_seed(3))
    two = TwoBiasRNN(1, 16, 10, torch.Generator().manual_seed(3))
    for name, p in one.named_parameters():   # every parameter of the one-bias net, drawn in the same order
        assert torch.equal(p, two.get_parameter(name)), name
    assert two.b_hh.abs().max() <= 1 / math.sqrt(16) and two.b_hh.abs().max() > 0   # nn.Linear(16, 16)'s bias
    x = torch.randn(5, 7, 1)
    with torch.no_grad():
        one.b_h += two.b_hh
    torch.testing.assert_close(two(x), one(x), rtol=0, atol=1e-6)


def test_rmsprop_moves_the_two_biases_sum_twice_as_far_as_the_one_bias_on_the_first_step():
    """The same function, so the same gradient reaches b_h and b_hh; RMSprop's first step moves each parameter
    by lr * g / (sqrt((1 - alpha) g^2) + eps) = about lr / sqrt(0.01) = 10 lr, so their sum moves twice as far."""
    from dlrepro.models.rnn import TwoBiasRNN, VanillaRNN

    one = VanillaRNN(1, 16, 10, torch.Generator().manual_seed(0))
    two = TwoBiasRNN(1, 16, 10, torch.Generator().manual_seed(0))
    with torch.no_grad():
        one.b_h += two.b_hh
    x, y = torch.randn(32, 5, 1), torch.randint(0, 10, (32,))
    moved = []
    for net in (one, two):
        before = net.recurrence_bias().detach().clone()
        opt = torch.optim.RMSprop(net.parameters(), lr=1e-3)
        F.cross_entropy(net(x), y).backward()
        opt.step()
        moved.append(net.recurrence_bias().detach() - before)
    grad = one.b_h.grad
    big = grad.abs() > 1e-4   # where eps (1e-8) is negligible against sqrt(0.01) |g|
    torch.testing.assert_close(moved[0][big], -1e-3 * grad[big].sign() / math.sqrt(0.01), rtol=1e-3, atol=0)
    torch.testing.assert_close(moved[1][big], 2 * moved[0][big], rtol=1e-4, atol=0)


def test_biases_two_trains_the_two_bias_net_and_is_for_the_vanilla_rnn_only():
    from dlrepro.models.rnn import TwoBiasRNN

    task = PalindromeTask(RNNConfig(biases="two", steps=2, hidden=8, batch_size=4, input_length=3, test_size=8))
    assert isinstance(task.model, TwoBiasRNN)
    assert type(PalindromeTask(RNNConfig(steps=2, hidden=8, input_length=3, test_size=8)).model) is not TwoBiasRNN
    with pytest.raises(ConfigError, match="--biases two is for the vanilla RNN only"):
        RNNConfig(cell="lstm", biases="two")


@pytest.mark.parametrize("order", batches_mod.ORDERS)
def test_tensor_batches_gathered_each_step_are_the_rows_of_the_epoch_gather(order):
    """Tensors in batches > 1 gather each step's rows (a speed choice); NumPy arrays gather the whole epoch:
    the same rows, step by step."""
    x = np.arange(23 * 2).reshape(23, 2)
    by_step = EpochBatches(torch.from_numpy(x), torch.arange(23), 4, seed=2, order=order)
    by_epoch = EpochBatches(x, np.arange(23), 4, seed=2, order=order)
    assert by_step.per_step and not by_epoch.per_step
    for step in range(3 * by_step.steps_per_epoch):
        (xa, ya), (xb, yb) = by_step.get(step), by_epoch.get(step)
        assert np.array_equal(xa.numpy(), xb) and np.array_equal(ya.numpy(), yb)


def test_cifar_evaluation_under_the_batch_axis_softmax_goes_in_training_batches_in_a_fixed_order():
    """A class-sorted split (as an image-folder copy stores it) is evaluated in batches of the training batch
    size taken in one fixed permutation, the same for every run: checked by hand."""
    from dlrepro.train.cifar_task import eval_order

    data = synthetic_cifar10(12, 10)
    data = dataclasses.replace(data, test_labels=np.sort(data.test_labels))
    task = _tiny_cifar_task(data, outputs="softmax-batch")
    x, y = task.test_xy
    assert y.tolist() == sorted(y.tolist())
    order = torch.from_numpy(eval_order(len(y)))
    assert sorted(order.tolist()) == list(range(len(y))) and order.tolist() != list(range(len(y)))
    assert np.array_equal(eval_order(len(y)), eval_order(len(y)))
    with torch.no_grad():
        out = torch.cat([torch.softmax(task.model(task._inputs(x[order[lo:lo + 4]])), 0)
                         for lo in range(0, len(y), 4)])
    metrics = task.evaluate(None)
    assert metrics["test_loss"] == pytest.approx(float(F.cross_entropy(out, y[order])), rel=1e-6)
    assert metrics["test_acc"] == pytest.approx(float((out.argmax(1) == y[order]).double().mean()), abs=1e-12)


def test_protocol_settings_go_through_set_and_a_study_grid():
    from dlrepro.studies.spec import load_study, parse_set

    study = load_study("palindrome").with_sets(dict([parse_set("train-metrics=batch"), parse_set("outputs=softmax")]),
                                               "smoke")
    trials = study.trials("smoke")
    assert trials and all((c.train_metrics, c.outputs) == ("batch", "softmax") for c in trials)
    with pytest.raises(ConfigError, match="outputs"):
        load_study("toy").with_sets({"outputs": "sigmoid"}, "smoke").trials("smoke")  # the NumPy MLP's too
    grid = load_study("toy").with_sets({"model": "mlp-torch", "order": ["each", "once", "none"]}, "smoke")
    assert {c.order for c in grid.trials("smoke")} == {"each", "once", "none"}


def test_numpy_population_under_the_as_run_settings_logs_its_single_runs_numbers():
    cfgs = [MLPConfig(model="mlp-numpy", dataset="blobs", data_seed=1, split="first", init="normal-0.1",
                      order="once", n_samples=40, epochs=3, eval_every=1, seed=s) for s in (0, 3)]
    sinks = _population_logs_its_single_runs(cfgs, 1e-12)
    assert _rows(sinks[0]) != _rows(sinks[1])
