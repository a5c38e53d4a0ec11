"""Every member of a population (NumPy MLP, PyTorch MLP, RNN, LSTM) trains exactly as the single run with its seed."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dlrepro.data.toy import make_toy
from dlrepro.errors import ConfigError
from dlrepro.numpy_nn import MLP, SGD, CrossEntropy
from dlrepro.numpy_nn.stacked_mlp import PopulationMLP, cross_entropy
from dlrepro.runs.execute import execute, execute_population
from dlrepro.runs.rundir import read_metrics
from dlrepro.train.batches import EpochBatches
from dlrepro.train.build import build_population, build_task
from dlrepro.train.config import MLPConfig, RNNConfig
from dlrepro.train.engine import fit, fit_population
from helpers import MemorySink, assert_usage_error, dlrepro, kill_dlrepro_when


@pytest.mark.parametrize("hidden, batch_size", [([20], 1), ([16, 8], 5)])
def test_members_match_single_runs_for_200_steps(hidden, batch_size):
    data = make_toy("moons", n_samples=200)
    seeds = [0, 3, 7]
    pop = PopulationMLP(2, hidden, 2, seeds)
    singles = [MLP(2, hidden, 2, seed=s) for s in seeds]
    optims = [SGD(m.parameters(), lr=0.05) for m in singles]
    batches = [EpochBatches(data.x_train, data.y_train, batch_size, s) for s in seeds]
    for step in range(200):
        xy = [b.get(step) for b in batches]
        x, y = np.stack([b[0] for b in xy]), np.stack([b[1] for b in xy])
        losses, dlogits = cross_entropy(pop.forward(x), y)
        pop.backward(dlogits)
        pop.sgd_step(0.05)
        for s, (m, opt) in enumerate(zip(singles, optims, strict=True)):
            loss, d = CrossEntropy.from_logits(m.forward(xy[s][0]), xy[s][1])
            m.backward(d)
            opt.step()
            assert abs(losses[s] - loss) <= 1e-6
    for s, m in enumerate(singles):
        for key, value in m.state_dict().items():
            np.testing.assert_allclose(pop.member_state_dict(s)[key], value, rtol=1e-9, atol=1e-12)


def test_inactive_members_keep_their_weights():
    pop = PopulationMLP(2, [4], 2, [0, 1])
    before = pop.member_state_dict(1)
    x = np.ones((2, 3, 2))
    _, d = cross_entropy(pop.forward(x), np.zeros((2, 3), dtype=np.int64))
    pop.backward(d)
    pop.sgd_step(0.1, active=np.array([True, False]))
    assert all(np.array_equal(before[k], v) for k, v in pop.member_state_dict(1).items())
    assert not np.array_equal(pop.member_state_dict(0)["0.weight"], MLP(2, [4], 2, seed=0).state_dict()["0.weight"])


# --- population tasks in the engine: every member against its single run --------------------------------

SEEDS = [0, 3, 5]


def seeded(cfg, seeds=SEEDS):
    return [dataclasses.replace(cfg, seed=s) for s in seeds]


def as_float(x):
    return float(x.detach()) if torch.is_tensor(x) else float(x)


CASES = {
    "mlp-numpy-f64": (MLPConfig(model="mlp-numpy", dataset="moons", n_samples=200, epochs=2, batch_size=1), 1e-6),
    "mlp-numpy-f64-b7": (MLPConfig(model="mlp-numpy", dataset="circles", n_samples=200, epochs=20, batch_size=7,
                                   hidden=(16, 8), lr=0.1), 1e-6),
    "mlp-numpy-f32": (MLPConfig(model="mlp-numpy", dataset="moons", n_samples=200, epochs=2, dtype="float32"), 1e-4),
    "mlp-torch-f64": (MLPConfig(model="mlp-torch", dataset="moons", n_samples=200, epochs=2, batch_size=1), 1e-6),
    "mlp-torch-f32": (MLPConfig(model="mlp-torch", dataset="classification", n_samples=200, epochs=20, batch_size=5,
                                dtype="float32"), 1e-4),
    # L = 10: training redraws held-out sequences (palindrome.held_out_is_disjoint), members as their single runs
    "rnn": (RNNConfig(cell="rnn", input_length=10, hidden=48, batch_size=32, steps=200, clip=1.0), 1e-4),
    "lstm": (RNNConfig(cell="lstm", input_length=5, hidden=32, batch_size=32, steps=200, lr=3e-3,
                       optimizer="adam"), 1e-4),
}


@pytest.mark.parametrize("case", list(CASES))
def test_population_members_equal_their_single_runs_for_200_steps(case):
    cfg, tol = CASES[case]
    cfgs = seeded(cfg)
    pop = build_population(cfgs)
    singles = [build_task(c) for c in cfgs]
    for step in range(200):
        losses, _, count = pop.train_step(step)
        losses = losses.numpy() if torch.is_tensor(losses) else losses
        for m, single in enumerate(singles):
            loss, _, n = single.train_step(step)
            assert n == count
            assert abs(losses[m] / count - as_float(loss) / n) <= tol, (case, step, m)
    # weights and optimizer state in the single run's own format
    for m, single in enumerate(singles):
        mine, theirs = pop.state_dict(m), single.state_dict()
        assert mine.keys() == theirs.keys()
        for k, v in theirs["model"].items():
            torch.testing.assert_close(mine["model"][k], v, rtol=0, atol=50 * tol)


@pytest.mark.parametrize("case", ["mlp-numpy-f64", "mlp-torch-f32", "rnn"])
def test_population_metrics_rows_equal_single_runs(case, tmp_path):
    cfg, tol = CASES[case]
    cfg = dataclasses.replace(cfg, eval_every=1) if isinstance(cfg, MLPConfig) else dataclasses.replace(
        cfg, steps=60, eval_every=20)
    cfgs = seeded(cfg, [1, 2])
    results = execute_population(cfgs, [tmp_path / f"pop{c.seed}" for c in cfgs], progress=False)
    for c, (run, summary) in zip(cfgs, results, strict=True):
        single_run, single_summary = execute(c, tmp_path / f"single{c.seed}", progress=False)
        assert summary["status"] == single_summary["status"] == "completed"
        assert summary["steps"] == single_summary["steps"]
        rows, expected = run.metrics(), single_run.metrics()
        assert [r["step"] for r in rows] == [r["step"] for r in expected]
        for r, e in zip(rows, expected, strict=True):
            for k in ("train_loss", "test_loss", "train_acc", "test_acc"):
                assert abs(r[k] - e[k]) <= 1e-3 if "acc" in k else abs(r[k] - e[k]) <= 10 * tol, (k, r, e)
        assert sorted(p.name for p in run.path.iterdir()) == sorted(p.name for p in single_run.path.iterdir())
        stored = json.loads(run.file("config.json").read_text())
        assert stored["config"] == c.to_dict() and stored["config_hash"] == c.config_hash()


def test_a_member_checkpoint_resumes_as_a_single_run(tmp_path):
    """A member's checkpoint is a single run's: the single task loads it and goes on identically."""
    cfg = RNNConfig(cell="rnn", input_length=5, hidden=32, batch_size=16, steps=40, eval_every=10)
    sinks = [MemorySink(), MemorySink()]
    pop = build_population(seeded(cfg, [4, 9]))
    fit_population(pop, sinks, progress=False, checkpoint_every_s=0)
    single = build_task(dataclasses.replace(cfg, seed=9))
    single.load_state_dict(sinks[1].checkpoint["task"])
    assert single.stream.get_state().equal(pop.streams[1].get_state())
    a, _, _ = single.train_step(40)
    b, _, _ = pop.train_step(40)
    assert abs(as_float(a) - float(b[1])) <= 1e-3


@pytest.mark.parametrize("model", ["mlp-torch", "mlp-numpy"])
def test_a_diverged_member_is_frozen_while_the_others_go_on(model):
    cfg = MLPConfig(model=model, dataset="moons", n_samples=200, epochs=3, batch_size=4, eval_every=1)
    pop = build_population(seeded(cfg, [0, 1, 2]))
    if model == "mlp-torch":
        with torch.no_grad():
            for p in pop.model.parameters():
                p[1] *= 1e300  # member 1 overflows at once
    else:
        pop.model.flat[1] *= 1e300
    sinks = [MemorySink() for _ in range(3)]
    with np.errstate(over="ignore", invalid="ignore"):
        outcomes = fit_population(pop, sinks, progress=False, check_every=5)
    assert [o.status for o in outcomes] == ["completed", "diverged", "completed"]
    assert outcomes[1].steps == 5 and outcomes[0].steps == outcomes[2].steps == 120
    assert sinks[1].rows[-1]["step"] == 5 and sinks[1].rows[-1]["train_loss"] is None
    frozen = {k: (v.numpy() if torch.is_tensor(v) else v).copy() for k, v in pop.state_dict(1)["model"].items()}
    # the healthy members train exactly as their single runs
    for m in (0, 2):
        single_sink = MemorySink()
        fit(build_task(dataclasses.replace(cfg, seed=m)), single_sink, progress=False)
        for r, e in zip(sinks[m].rows, single_sink.rows, strict=True):
            assert r["step"] == e["step"] and abs(r["test_loss"] - e["test_loss"]) <= 1e-9
    pop.train_step(0)
    assert all(np.array_equal(frozen[k], np.asarray(v)) for k, v in pop.state_dict(1)["model"].items())
    assert all(not v.any() for v in frozen.values())  # frozen at zero, so it computes nothing non-finite


def test_cli_seeds_writes_one_standard_run_per_seed(tmp_path):
    out = tmp_path / "pop"
    res = dlrepro("train", "mlp-numpy", "--dataset", "moons", "--epochs", "2", "--eval-every", "1",
                  "--n-samples", "200", "--seeds", "0-2,5", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["seed-0", "seed-1", "seed-2", "seed-5"]
    assert res.stdout.count("completed:") == 4
    single = tmp_path / "single"
    res = dlrepro("train", "mlp-numpy", "--dataset", "moons", "--epochs", "2", "--eval-every", "1",
                  "--n-samples", "200", "--seed", "5", "--out", str(single), "--quiet")
    assert res.returncode == 0, res.stderr
    pop_rows = [json.loads(line) for line in (out / "seed-5" / "metrics.jsonl").read_text().splitlines()]
    single_rows = [json.loads(line) for line in (single / "metrics.jsonl").read_text().splitlines()]
    for r, e in zip(pop_rows, single_rows, strict=True):
        assert r["step"] == e["step"] and abs(r["test_loss"] - e["test_loss"]) <= 1e-9
    # rerun: every member is already complete
    res = dlrepro("train", "mlp-numpy", "--dataset", "moons", "--epochs", "2", "--eval-every", "1",
                  "--n-samples", "200", "--seeds", "0-2,5", "--out", str(out), "--quiet")
    assert res.returncode == 0 and res.stdout.count("completed:") == 4


def test_a_killed_population_resumes_to_the_uninterrupted_metrics(tmp_path):
    args = ["train", "rnn", "--input-length", "4", "--hidden", "16", "--batch-size", "16", "--steps", "3000",
            "--eval-every", "100", "--checkpoint-every", "0", "--seeds", "0-2", "--quiet"]
    ref = tmp_path / "ref"
    assert dlrepro(*args, "--out", str(ref)).returncode == 0
    out = tmp_path / "killed"
    kill_dlrepro_when([*args, "--out", str(out)],
                      ready=lambda: len(read_metrics(out / "seed-2" / "metrics.jsonl")) >= 5)
    assert not list(out.glob("*/summary.json"))
    refused = dlrepro(*args, "--out", str(out))
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = dlrepro(*args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    for seed in range(3):
        rows, expected = (read_metrics(d / f"seed-{seed}" / "metrics.jsonl") for d in (out, ref))
        assert len(rows) == 31
        assert [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows] == [
            {k: v for k, v in r.items() if k != "elapsed_s"} for r in expected]


@pytest.mark.parametrize("argv, needle", [
    (["--seeds", "3-1"], "--seeds"),
    (["--seeds", "a"], "--seeds"),
    (["--seeds", "0,0"], "--seeds"),
    (["--seeds", "0-1", "--seed", "2"], "not allowed with"),
])
def test_bad_seeds_are_one_line_errors(argv, needle, capsys, tmp_path):
    assert_usage_error(["train", "rnn", "--steps", "2", "--out", str(tmp_path / "x"), *argv], needle, capsys)


def test_device_is_where_not_what():
    """--device is kept in config.json but is not part of the run's identity (as the data location is)."""
    assert RNNConfig(device="auto").config_hash() == RNNConfig().config_hash()
    assert MLPConfig(model="mlp-torch", device="auto").config_hash() == MLPConfig(model="mlp-torch").config_hash()
    assert RNNConfig(device="auto").population_key() != RNNConfig().population_key()  # one device per population
    with pytest.raises(ConfigError, match="NumPy MLP runs on the CPU"):
        MLPConfig(model="mlp-numpy", device="cuda").validate()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("model", ["rnn", "mlp-torch"])
def test_device_cuda_without_cuda_is_a_one_line_error(model, capsys, tmp_path):
    extra = ["--dataset", "moons"] if model == "mlp-torch" else []
    assert_usage_error(["train", model, *extra, "--device", "cuda", "--seeds", "0-1", "--out", str(tmp_path / "x")],
                       "--device cuda", capsys)
    assert not (tmp_path / "x").exists()


def test_sweep_groups_small_models_on_a_gpu():
    from dlrepro.sweep.local import plan_units

    trials = [(RNNConfig(seed=s, device="cuda"), Path(str(s))) for s in range(3)]
    trials += [(RNNConfig(seed=s), Path(f"cpu{s}")) for s in range(2)]
    assert plan_units(trials, gpus=True) == [[0, 1, 2], [3], [4]]
    assert plan_units(trials, gpus=False) == [[i] for i in range(5)]
