"""The run format and the engine: files, keys, evaluation cadence, divergence, resume, refusals."""

import json

import pytest

from dlrepro.errors import ConfigError
from dlrepro.runs.execute import execute
from dlrepro.runs.rundir import read_metrics
from dlrepro.train.config import MLPConfig
from helpers import dlrepro, kill_dlrepro_when

KEYS = ["step", "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "elapsed_s"]


def small(**kw):
    return MLPConfig(**{"model": "mlp-numpy", "dataset": "moons", "epochs": 5, "eval_every": 2,
                        "batch_size": 8, "n_samples": 200, **kw})


def test_run_directory_holds_the_contracted_files(tmp_path):
    run, summary = execute(small(), tmp_path / "r", progress=False)
    assert sorted(p.name for p in run.path.iterdir()) == [
        "checkpoint.pt", "config.json", "curves.png", "data.npz", "metrics.jsonl", "summary.json"]
    rows = run.metrics()
    assert [list(r) for r in rows] == [KEYS] * len(rows)
    # step 0, every 2 epochs, and the end: 20 steps/epoch (160 train points / batch 8)
    assert [r["epoch"] for r in rows] == [0, 2, 4, 5]
    assert [r["step"] for r in rows] == [0, 40, 80, 100]
    assert all(0 <= r[k] <= 1 for r in rows for k in ("train_acc", "test_acc"))
    cfg = json.loads((run.path / "config.json").read_text())
    assert cfg["config"]["lr"] == 0.01 and set(cfg["versions"]) >= {"dlrepro", "torch", "numpy"}
    assert set(summary) == {"status", "final", "best_test_acc", "steps", "wall_time_s"}
    assert summary["status"] == "completed" and summary["steps"] == 100
    assert summary["final"] == {k: rows[-1][k] for k in KEYS[2:6]}
    assert summary["best_test_acc"] == max(r["test_acc"] for r in rows)
    assert not list(run.path.glob(".*.tmp"))


def test_default_run_dir_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = small(seed=4)
    run, _ = execute(cfg, progress=False)
    assert run.path.parent.name == "runs"
    assert run.path.name == f"mlp-numpy-moons-4-{cfg.config_hash()}"


def test_same_seed_same_numbers(tmp_path):
    a, _ = execute(small(), tmp_path / "a", progress=False)
    b, _ = execute(small(), tmp_path / "b", progress=False)
    strip = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in a.metrics()]
    assert strip == [{k: v for k, v in r.items() if k != "elapsed_s"} for r in b.metrics()]


def test_divergence_is_recorded_and_keeps_what_was_written(tmp_path):
    run, summary = execute(small(lr=1e12, epochs=50), tmp_path / "d", progress=False)
    assert summary["status"] == "diverged"
    rows = run.metrics()
    assert rows[0]["step"] == 0 and rows[0]["train_loss"] is not None
    assert rows[-1]["train_loss"] is None  # NaN is written as null
    assert summary["steps"] < 50 * 20
    assert (run.path / "curves.png").exists() and (run.path / "checkpoint.pt").exists()


def test_out_holding_a_different_run_is_refused(tmp_path):
    execute(small(), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="holds a different run .*lr"):
        execute(small(lr=0.5), tmp_path / "r", progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds no dlrepro run"):
        execute(small(), tmp_path / "other", progress=False)


def _without_elapsed(rows):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


def test_sigkill_then_resume_gives_identical_metrics(tmp_path):
    """A real subprocess is SIGKILLed mid-run; --resume must reproduce the uninterrupted metrics."""
    args = ["--dataset", "moons", "--epochs", "150", "--eval-every", "1", "--seed", "7",
            "--checkpoint-every", "0", "--quiet"]
    ref, _ = execute(MLPConfig(model="mlp-numpy", dataset="moons", epochs=150, eval_every=1, seed=7),
                     tmp_path / "ref", progress=False)
    out = tmp_path / "killed"
    kill_dlrepro_when(["train", "mlp-numpy", *args, "--out", str(out)],
                      ready=lambda: len(read_metrics(out / "metrics.jsonl")) >= 30)
    interrupted = read_metrics(out / "metrics.jsonl")
    assert 30 <= len(interrupted) < 151 and not (out / "summary.json").exists()

    refused = dlrepro("train", "mlp-numpy", *args, "--out", str(out))
    assert refused.returncode == 2 and "--resume" in refused.stderr

    resumed = dlrepro("train", "mlp-numpy", *args, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _without_elapsed(read_metrics(out / "metrics.jsonl")) == _without_elapsed(ref.metrics())
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from dlrepro.cli import main

    out = tmp_path / "tb"
    assert main(["train", "mlp-numpy", "--dataset", "moons", "--epochs", "2", "--eval-every", "1",
                 "--n-samples", "50", "--quiet", "--tensorboard", "--out", str(out)]) == 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"loss/train", "acc/train", "loss/test", "acc/test"}
    assert [e.step for e in events.Scalars("acc/test")] == [r["step"] for r in read_metrics(out / "metrics.jsonl")]


@pytest.mark.parametrize("kind", ["rnn", "mlp-numpy", "mlp-torch", "population"])
def test_evaluations_at_step_0_every_eval_every_and_at_the_end(tmp_path, kind):
    """A run whose length is not a multiple of eval_every still ends with an evaluation of its last step:
    25 steps every 10 -> steps 0, 10, 20, 25; 5 epochs every 2 -> epochs 0, 2, 4, 5 (20 steps an epoch), in
    a single run and in a population (seeds 0 and 1 trained as one)."""
    from dlrepro.runs.execute import execute_seeds
    from dlrepro.train.config import RNNConfig

    if kind == "rnn":
        cfgs = [RNNConfig(input_length=3, hidden=8, batch_size=8, steps=25, eval_every=10, test_size=16)]
        want_steps, want_epochs = [0, 10, 20, 25], [None] * 4
    else:
        model = "mlp-numpy" if kind == "population" else kind
        cfgs = [small(model=model, seed=s) for s in ((0, 1) if kind == "population" else (0,))]
        want_steps, want_epochs = [0, 40, 80, 100], [0, 2, 4, 5]
    results = execute_seeds(cfgs, [tmp_path / str(c.seed) for c in cfgs], progress=False)
    assert len(results) == len(cfgs)
    for run, summary in results:
        rows = read_metrics(run.path / "metrics.jsonl")
        assert [r["step"] for r in rows] == want_steps and [r["epoch"] for r in rows] == want_epochs, run.path
        assert summary["status"] == "completed" and summary["steps"] == want_steps[-1]
