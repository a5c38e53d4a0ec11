"""The ConvNet population (members with their own optimizer, lr and seed, `dlrepro.train.cnn_population`)
trains each member as its single run (`CifarTask`, the reference) does: step by step, under the stated
protocol and the as-run one, through divergence, checkpoints and a SIGKILL.

Float tolerance: the equality tests run in float64 (nets, inputs and optimizer state; the loss itself is
float32, as the single run computes it), so the different order of summation (a grouped or a plain
convolution, torch's fused optimizer kernel or the stacked update) stays near 1e-16 instead of being
magnified: in float32, Adam (dividing by sqrt(v) + eps) turns the rounding noise of near-zero gradients
into steps of up to lr, and after 21 steps Adam 1e-2 members differed by 1e-3 relative. Over 3 epochs
(21 steps) each member's per-step loss is within 1e-6 of its single run's, its accuracy equal, and its
weights within 1e-8, except the convolution biases that feed a BatchNorm and the running means that track
them (their gradient is zero but for rounding, which Adam still turns into up-to-lr steps): those within
lr per step; they change no output, as the equal metrics show.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from dlrepro.registry import OPTIMIZERS
from dlrepro.runs.execute import execute, execute_population
from dlrepro.runs.rundir import read_metrics
from dlrepro.train.build import build_population, build_task, population_kind
from dlrepro.train.cifar_task import CifarTask, make_optimizer
from dlrepro.train.cnn_population import PopulationCifarTask
from dlrepro.train.config import CNNConfig
from dlrepro.train.engine import BatchStats, fit, fit_population
from dlrepro.train.stacked_optim import RULES, StackedOptimizer
from helpers import MemorySink, learnable_cifar10, write_official

CPU = torch.device("cpu")
STUDY = [("adam", 1e-4), ("adam", 1e-2), ("adam", 1e-6), ("sgd", 1e-4), ("adagrad", 1e-4)]
LOSS_TOL = 1e-6
WEIGHT_TOL = 1e-8
BIAS_BEFORE_BN = ("0.bias", "1.running_mean", "4.bias", "5.running_mean")  # narrow_net's: see the docstring


def narrow_net() -> nn.Module:
    """A ConvNet of the same kinds of layers (conv, BatchNorm, ReLU, max-pool, linear), 100x narrower."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                         nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(4, 4),
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def seeded_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return narrow_net().double()


DATA = learnable_cifar10(per_class_train=8, per_class_test=4)  # 80 train images: batch 12 leaves a batch of 8
KW = {"device": CPU, "batch_size": 12, "epochs": 3, "eval_every": 1, "input_dtype": torch.float64}


def singles(members, seeds, **kw):
    tasks = []
    for (name, lr), seed in zip(members, seeds, strict=True):
        model = seeded_net(seed)
        tasks.append(CifarTask(model, make_optimizer(name, model.parameters(), lr), DATA, seed=seed, **KW, **kw))
    return tasks


def population(members, seeds, **kw):
    return PopulationCifarTask([seeded_net(s) for s in seeds], members, DATA, seeds=seeds, **{**KW, **kw})


@pytest.mark.parametrize("optimizer", sorted(RULES))
@pytest.mark.parametrize("lr", [1e-2, 1e-4])
def test_the_stacked_update_equals_torch_optim(optimizer, lr):
    torch.manual_seed(0)
    shapes = [torch.Size([3, 4]), torch.Size([5])]
    params = [torch.randn(s) for s in shapes]
    reference = [p.clone().requires_grad_() for p in params]
    torch_opt = make_optimizer(optimizer, reference, lr)
    flat = torch.stack([torch.cat([p.reshape(-1) for p in params])] * 2).requires_grad_()
    stacked = StackedOptimizer(flat, [(optimizer, lr), ("sgd", 0.5)], [torch_opt.state_dict()["param_groups"]] * 2,
                               shapes)
    for _ in range(20):
        grads = [torch.randn(s) for s in shapes]
        for p, g in zip(reference, grads, strict=True):
            p.grad = g.clone()
        torch_opt.step()
        flat.grad = torch.stack([torch.cat([g.reshape(-1) for g in grads]), torch.ones(flat.shape[1])])
        stacked.step()
        torch.testing.assert_close(flat[0].detach(), torch.cat([p.detach().reshape(-1) for p in reference]),
                                   rtol=1e-5, atol=1e-7)
    mine, theirs = stacked.member_state(0), torch_opt.state_dict()
    assert mine["param_groups"] == theirs["param_groups"]
    assert mine["state"].keys() == theirs["state"].keys()
    for i, entry in theirs["state"].items():
        assert mine["state"][i].keys() == entry.keys()
        for k, v in entry.items():
            torch.testing.assert_close(mine["state"][i][k], v, rtol=1e-5, atol=1e-7)


def assert_members_track_singles(members, seeds, mode, **kw):
    pop = population(members, seeds, mode=mode, **kw)
    refs = singles(members, seeds, **kw)
    assert pop.schedule == refs[0].schedule and pop.schedule.total_steps == 21
    for step in range(pop.schedule.total_steps):
        losses, correct, count = pop.train_step(step)
        for s, single in enumerate(refs):
            loss, hits, n = single.train_step(step)
            assert n == count
            assert abs(float(losses[s]) / count - float(loss) / n) <= LOSS_TOL, (step, s, members[s])
            if kw.get("train_metrics") == "running":  # else the single run need not count (nor return) them
                assert int(correct[s]) == int(hits), (step, s)
    stats = pop.evaluate(BatchStats())
    steps = pop.schedule.total_steps
    for s, single in enumerate(refs):
        mine, theirs = pop.state_dict(s), single.state_dict()
        assert mine.keys() == theirs.keys() and list(mine["model"]) == list(theirs["model"])
        for k, v in theirs["model"].items():
            tol = steps * members[s][1] if k in BIAS_BEFORE_BN else WEIGHT_TOL
            torch.testing.assert_close(mine["model"][k], v, rtol=0, atol=tol, msg=lambda m, k=k: f"{k}: {m}")
        expected = single.evaluate(BatchStats())
        for key, value in expected.items():
            assert abs(stats[s][key] - value) <= LOSS_TOL, (s, key)


@pytest.mark.parametrize("mode", ["loop", "vmap"])
def test_study_members_equal_their_single_runs_for_3_epochs(mode):
    assert_members_track_singles(STUDY, [0] * 5, mode=mode)


def test_members_with_their_own_seeds_and_augmentation_equal_their_single_runs():
    assert_members_track_singles([("adam", 1e-3), ("sgd", 1e-2), ("rmsprop", 1e-4)], [0, 1, 2], augment="flipcrop",
                                 mode="vmap")


@pytest.mark.parametrize(("outputs", "mode"), [("softmax-batch", "loop"), ("softmax-batch", "vmap"),
                                                ("softmax", "loop")])
def test_as_run_members_equal_their_single_runs(outputs, mode):
    """The as-run protocol's settings: softmax before the loss, running-mean train metrics, inputs normalised
    to mean 0.5 and std 0.5. Under vmap the softmax-batch axis must be each member's batch, not the members."""
    assert_members_track_singles(STUDY, [0] * 5, mode=mode, outputs=outputs, train_metrics="running",
                                 normalize="half")


def test_the_softmax_batch_axis_under_vmap_is_each_members_batch():
    """A planted swap of the axes (softmax over the members) would make the members' outputs depend on each
    other: here member 1's loss must not move when member 0's weights change."""
    pop = population(STUDY[:2], [0, 0], mode="vmap", outputs="softmax-batch")
    x, y = pop._inputs(pop.train_xy[0][:12]), pop.train_xy[1][:12]
    with torch.no_grad():
        before = pop._all(x, y)[0]
        pop.flat[0] *= 3
        after = pop._all(x, y)[0]
    assert after[1] == before[1] and after[0] != before[0]


def test_every_cnn_optimizer_has_a_stacked_update():
    """population_kind lets every built-in ConvNet optimizer through: each must have its row of the rule."""
    assert set(RULES) == set(OPTIMIZERS["cnn"])


def test_the_population_trains_under_its_configs_protocol_settings(cifar_root):
    settings = {"outputs": "softmax-batch", "train_metrics": "running", "normalize": "half"}
    cfgs = [CNNConfig(optimizer=o, lr=lr, epochs=1, batch_size=10, device="cpu", data_root=str(cifar_root),
                      verify_data=False, **settings) for o, lr in STUDY[:2]]
    pop = build_population(cfgs)
    assert isinstance(pop, PopulationCifarTask)
    assert (pop.outputs, pop.running, pop.eval_batch) == ("softmax-batch", True, 10)
    assert pop.mean.tolist() == pop.std.tolist() == [0.5, 0.5, 0.5]


@dataclasses.dataclass(frozen=True)
class OrderedCNNConfig(CNNConfig):
    """A ConvNet config with a sample order (the MLPs' `order` setting), which the population does not
    implement: such configs must train as single runs."""
    order: str = "each"


def test_a_setting_the_population_does_not_implement_trains_single_runs():
    assert population_kind(OrderedCNNConfig(device="cuda")) == "cnn"
    assert population_kind(OrderedCNNConfig(order="once", device="cuda")) is None
    assert population_kind(CNNConfig(optimizer="torch.optim:NAdam")) is None  # a user's optimizer: no rule
    assert population_kind(CNNConfig(net="torch.nn:Identity")) is None


def test_a_diverged_member_is_frozen_while_the_others_go_on():
    members = [("adam", 1e-3), ("sgd", 1e30), ("adagrad", 1e-2)]  # sgd at 1e30 overflows at once
    pop = population(members, [0, 0, 0], mode="vmap")
    sinks = [MemorySink() for _ in members]
    outcomes = fit_population(pop, sinks, progress=False, check_every=2)
    assert [o.status for o in outcomes] == ["completed", "diverged", "completed"]
    assert outcomes[1].steps == 2 and sinks[1].rows[-1]["train_loss"] is None
    frozen = pop.state_dict(1)["model"]  # zero but for BatchNorm's step counters, which go on counting
    assert all(not v.any() for k, v in frozen.items() if not k.endswith("num_batches_tracked"))
    for s in (0, 2):
        single_sink = MemorySink()
        fit(singles([members[s]], [0])[0], single_sink, progress=False)
        assert [r["step"] for r in sinks[s].rows] == [r["step"] for r in single_sink.rows]
        for r, e in zip(sinks[s].rows, single_sink.rows, strict=True):
            assert abs(r["test_loss"] - e["test_loss"]) <= LOSS_TOL and abs(r["train_acc"] - e["train_acc"]) <= 1e-9


def test_a_member_checkpoint_resumes_its_single_run_and_back():
    pop = population(STUDY[:3], [0, 0, 0])
    for step in range(7):
        pop.train_step(step)
    single = singles([STUDY[0]], [0])[0]
    single.load_state_dict(pop.state_dict(0))
    other = population(STUDY[:3], [0, 0, 0])
    for s in range(3):
        other.load_state_dict(s, pop.state_dict(s))
    for step in range(7, 14):
        a, _, _ = single.train_step(step)
        b, _, _ = pop.train_step(step)
        c, _, _ = other.train_step(step)
        assert abs(float(a) - float(b[0])) <= LOSS_TOL * 12
        assert torch.equal(b, c)  # reloading a member changes nothing


def test_the_study_groups_into_one_population_on_a_gpu_only():
    from pathlib import Path

    from dlrepro.sweep.local import plan_units

    cfgs = [CNNConfig(optimizer=o, lr=lr, device="cuda") for o, lr in STUDY]
    assert {population_kind(c) for c in cfgs} == {"cnn"}
    assert len({c.population_key() for c in cfgs}) == 1
    assert dataclasses.replace(cfgs[0], batch_size=64).population_key() != cfgs[0].population_key()
    assert dataclasses.replace(cfgs[0], outputs="softmax").population_key() != cfgs[0].population_key()
    assert dataclasses.replace(cfgs[0], device="cpu").population_key() != cfgs[0].population_key()
    trials = [(c, Path(str(i))) for i, c in enumerate(cfgs)]
    assert plan_units(trials, gpus=True) == [[0, 1, 2, 3, 4]]
    assert plan_units(trials, gpus=False) == [[i] for i in range(5)]


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_official(root, learnable_cifar10(per_class_train=4, per_class_test=2))
    return root


def test_the_real_convnet_population_writes_run_directories_like_single_runs(cifar_root, tmp_path):
    """One short run of the 9.2M-parameter ConvNet: 2 members, 2 steps, directories as single runs write."""
    base = CNNConfig(epochs=1, eval_every=1, batch_size=20, device="cpu", data_root=str(cifar_root),
                     verify_data=False)
    cfgs = [dataclasses.replace(base, optimizer=o, lr=lr) for o, lr in (STUDY[0], STUDY[3])]
    assert isinstance(build_population(cfgs), PopulationCifarTask)
    results = execute_population(cfgs, [tmp_path / f"pop{i}" for i in range(2)], progress=False)
    for i, (c, (run, summary)) in enumerate(zip(cfgs, results, strict=True)):
        single_run, single_summary = execute(c, tmp_path / f"single{i}", progress=False)
        assert summary["status"] == single_summary["status"] == "completed"
        assert summary.keys() == single_summary.keys() and summary["steps"] == single_summary["steps"] == 2
        assert sorted(p.name for p in run.path.iterdir()) == sorted(p.name for p in single_run.path.iterdir())
        assert json.loads(run.file("config.json").read_text()) == json.loads(
            single_run.file("config.json").read_text())
        rows, expected = run.metrics(), single_run.metrics()
        assert [r.keys() for r in rows] == [r.keys() for r in expected]
        for r, e in zip(rows, expected, strict=True):
            assert abs(r["test_loss"] - e["test_loss"]) <= 1e-3 and abs(r["train_acc"] - e["train_acc"]) <= 1e-9
    assert isinstance(build_task(cfgs[0]), CifarTask)


KILL_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_cnn_population import STUDY, population
from helpers import MemorySink
from dlrepro.runs.rundir import RunDir
from dlrepro.train.engine import fit_population
from dlrepro.train.config import CNNConfig
out = Path(sys.argv[1])
sinks = [RunDir(out / str(s)) for s in range(3)]
for s, sink in enumerate(sinks):
    sink.set_up(CNNConfig(optimizer=STUDY[s][0], lr=STUDY[s][1], epochs={epochs}, eval_every=1, batch_size=12))
pop = population(STUDY[:3], [0, 0, 0], mode="loop", epochs={epochs})
fit_population(pop, sinks, progress=False, checkpoint_every_s=0)
"""


def test_a_killed_population_resumes_exactly(tmp_path):
    """SIGKILL mid-run, then the same command again: every member's rows equal an uninterrupted run's."""
    from pathlib import Path

    script = tmp_path / "train.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent), epochs=8))
    env_cmd = [sys.executable, str(script)]
    ref, out = tmp_path / "ref", tmp_path / "killed"
    subprocess.run([*env_cmd, str(ref)], check=True, timeout=300)
    proc = subprocess.Popen([*env_cmd, str(out)])
    deadline = time.monotonic() + 120
    while len(read_metrics(out / "2" / "metrics.jsonl")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(read_metrics(out / "2" / "metrics.jsonl")) < 9
    subprocess.run([*env_cmd, str(out)], check=True, timeout=300)
    for s in range(3):
        rows, expected = (read_metrics(d / str(s) / "metrics.jsonl") for d in (out, ref))
        assert len(rows) == 9
        assert [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows] == [
            {k: v for k, v in r.items() if k != "elapsed_s"} for r in expected]
