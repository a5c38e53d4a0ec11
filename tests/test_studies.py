"""Study files: expansion, profiles, joined axes, and refusal of invalid files before anything runs."""

import json
import os
from pathlib import Path

import pytest

from conftest import dlrepro, kill_dlrepro_when
from dlrepro.cli import main
from dlrepro.errors import ConfigError
from dlrepro.studies.spec import load_study
from dlrepro.sweep.local import plan_units, run_local
from dlrepro.train.config import MLPConfig, RNNConfig


@pytest.mark.parametrize("name", ["toy", "cifar_mlp", "optimizers", "palindrome"])
def test_shipped_studies_load_in_every_profile(name):
    study = load_study(name)
    for profile in ("smoke", "quick", "full"):
        trials = study.trials(profile)
        assert trials and len({t.config_hash() for t in trials}) == len(trials)


def test_reference_grids():
    pal = load_study("palindrome").trials("full")
    assert len(pal) == 48
    assert {(t.cell, t.lr, t.input_length, t.seed) for t in pal} == {
        (c, lr, L, s) for c in ("rnn", "lstm") for lr in (1e-3, 1e-2) for L in (5, 10, 15, 20) for s in (0, 1, 2)}
    opt = load_study("optimizers").trials("full")
    assert [(t.optimizer, t.lr) for t in opt] == [("adam", 1e-4), ("adam", 1e-2), ("adam", 1e-6), ("sgd", 1e-4),
                                                  ("adagrad", 1e-4)]
    assert all(t.epochs == 200 and t.subset == 0 and t.batch_size == 32 for t in opt)
    quick = load_study("palindrome").trials("quick")
    assert {(t.cell, t.lr, t.steps) for t in quick} == {("rnn", 1e-3, 10000), ("rnn", 1e-2, 10000),
                                                        ("lstm", 1e-3, 2500)}


def _write(tmp_path, text):
    p = tmp_path / "study.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, needle", [
    ('[fixed]\nmodel = "rnn"\nbogus = 1\n[grid]\nseed = [0]\n', "key 'bogus'"),
    ('[fixed]\nmodel = "gan"\n[grid]\nseed = [0]\n', "unknown model 'gan'"),
    ('[fixed]\nmodel = "rnn"\n[grid]\nseed = []\n', "axis 'seed' must be a non-empty list"),
    ('[fixed]\nmodel = "rnn"\nlr = -1.0\n[grid]\nseed = [0]\n', "--lr must be > 0"),
    ('[fixed]\nmodel = "rnn"\n[grid]\ncell = ["gru"]\n', "unknown value 'gru'"),
    ('[fixd]\nmodel = "rnn"\n', "unknown table(s) fixd"),
    ('[fixed]\nmodel = "rnn"\n[profiles.quick]\nfixd = {}\n', "[profiles.quick] has unknown key(s) fixd"),
    ('[fixed\nmodel = "rnn"\n', "not valid TOML"),
])
def test_invalid_files_are_refused_with_file_key_and_reason(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    assert needle in str(exc.value) and str(path) in str(exc.value)


def test_invalid_file_exits_2_before_running(tmp_path, capsys):
    path = _write(tmp_path, '[fixed]\nmodel = "rnn"\nsteps = 0\n[grid]\nseed = [0]\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "--steps must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_failed_trial_is_recorded_and_the_others_complete(tmp_path, monkeypatch):
    good = MLPConfig(dataset="moons", epochs=2, n_samples=100, batch_size=10)
    bad = MLPConfig(dataset="moons", epochs=2, n_samples=100, batch_size=10, seed=1)

    import dlrepro.train.build as build
    real = build.build_task

    def flaky(cfg):
        if cfg.seed == 1:
            raise RuntimeError("boom")
        return real(cfg)

    monkeypatch.setattr(build, "build_task", flaky)
    monkeypatch.setattr("dlrepro.runs.execute.build_task", flaky)
    results = run_local([(bad, tmp_path / "bad"), (good, tmp_path / "good")], workers=1, log=lambda s: None,
                        vectorize=False)
    assert [r.status for r in results] == ["failed", "completed"]
    assert "boom" in results[0].error
    again = run_local([(good, tmp_path / "good")], workers=1, log=lambda s: None)
    assert again[0].skipped and again[0].status == "completed"


def test_sweep_killed_midway_reruns_without_redoing_finished_trials(tmp_path):
    study = _write(tmp_path, '[fixed]\nmodel = "rnn"\nsteps = 300\nhidden = 16\ninput_length = 4\n'
                             'eval_every = 50\n[grid]\nseed = [0, 1, 2, 3]\n')
    out = tmp_path / "out"
    args = ["sweep", str(study), "--profile", "smoke", "--workers", "1", "--out", str(out)]
    kill_dlrepro_when(args, ready=lambda: len(list(out.glob("runs/*/*/summary.json"))) >= 1)
    done_before = {p.parent.name for p in out.glob("runs/*/*/summary.json")}
    assert 1 <= len(done_before) < 4
    rerun = dlrepro(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.count("already done") == len(done_before)
    assert rerun.stdout.count("completed") == 4 + 4  # 4 progress lines + 4 table rows


def test_sweep_with_tensorboard_writes_event_files_per_run(tmp_path):
    pytest.importorskip("tensorboard")
    study = _write(tmp_path, '[fixed]\nmodel = "mlp-numpy"\nepochs = 1\nn_samples = 50\n[grid]\nseed = [0, 1]\n')
    assert main(["sweep", str(study), "--out", str(tmp_path / "out"), "--workers", "1", "--tensorboard"]) == 0
    assert len(list((tmp_path / "out").glob("runs/study/*/tensorboard/events.out.tfevents.*"))) == 2


@pytest.mark.parametrize("line, needle", [("steps = 10.5", "--steps must be int"),
                                          ('lr = "fast"', "--lr must be int or float"),
                                          ("one_hot = 1", "--one-hot must be bool"),
                                          ("hidden = true", "--hidden must be int")])
def test_values_of_the_wrong_type_are_refused(tmp_path, line, needle):
    path = _write(tmp_path, f'[fixed]\nmodel = "rnn"\n{line}\n[grid]\nseed = [0]\n')
    with pytest.raises(ConfigError, match=needle):
        load_study(path)


def test_study_name_must_be_a_plain_folder_name(tmp_path):
    path = _write(tmp_path, '[study]\nname = "../escape"\n[fixed]\nmodel = "rnn"\n')
    with pytest.raises(ConfigError, match="name '../escape'"):
        load_study(path)


def test_sweep_groups_seeds_of_the_small_mlps_into_populations():
    mlp = [MLPConfig(model=m, dataset="moons", seed=s) for m in ("mlp-numpy", "mlp-torch") for s in (0, 1, 2)]
    other_lr = [MLPConfig(model="mlp-numpy", dataset="moons", lr=0.1, seed=s) for s in (0, 1)]
    rnn = [RNNConfig(seed=s) for s in (0, 1)]
    cifar = [MLPConfig(model="mlp-torch", dataset="cifar10", batch_size=32, dtype="float32", seed=s) for s in (0, 1)]
    trials = [(c, Path(str(i))) for i, c in enumerate(mlp + other_lr + rnn + cifar)]
    assert plan_units(trials) == [[0, 1, 2], [3, 4, 5], [6, 7], [8], [9], [10], [11]]
    assert plan_units(trials, vectorize=False) == [[i] for i in range(len(trials))]


def test_vectorized_sweep_writes_the_same_runs_as_single_runs(tmp_path, capsys):
    study = _write(tmp_path, '[fixed]\nmodel = "mlp-torch"\nepochs = 3\neval_every = 1\nn_samples = 100\n'
                             'batch_size = 4\n[grid]\nseed = [0, 1, 2]\n')
    for flag, out in (([], "vec"), (["--no-vectorize"], "plain")):
        assert main(["sweep", str(study), "--out", str(tmp_path / out), "--workers", "2", *flag]) == 0
    printed = capsys.readouterr().out
    assert "3 trials (1 seed population(s))" in printed and printed.count("3 trials in") == 1
    runs = sorted(p.name for p in (tmp_path / "vec" / "runs" / "study").iterdir() if p.is_dir())
    assert runs == sorted(p.name for p in (tmp_path / "plain" / "runs" / "study").iterdir() if p.is_dir())
    assert len(runs) == 3
    for name in runs:
        rows = [json.loads(x) for x in (tmp_path / "vec/runs/study" / name / "metrics.jsonl").read_text().splitlines()]
        ref = [json.loads(x) for x in (tmp_path / "plain/runs/study" / name / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == len(ref) == 4
        for r, e in zip(rows, ref, strict=True):
            assert r["step"] == e["step"] and abs(r["test_loss"] - e["test_loss"]) <= 1e-9


def test_trials_per_gpu_sizes_the_pool_and_pins_each_worker_to_a_gpu(monkeypatch):
    import multiprocessing as mp

    import torch

    from dlrepro.sweep import local
    from dlrepro.train.config import CNNConfig

    cnn = [(CNNConfig(seed=s), Path(str(s))) for s in range(8)]
    monkeypatch.setattr(local, "gpu_ids", lambda: ["0", "1"])
    assert local.pool_shape(cnn, 8, None, trials_per_gpu=3)[::2] == (6, ("0", "1"))
    assert local.pool_shape(cnn, 8, None)[0] == 2
    assert local.pool_shape(cnn, 4, None, trials_per_gpu=3)[0] == 4  # never more workers than units
    cpu_only = [(CNNConfig(device="cpu"), Path("a")), (MLPConfig(), Path("b"))]
    assert local.pool_shape(cpu_only, 2, None, trials_per_gpu=3)[2] == ()
    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads))  # restored afterwards, as CUDA_VISIBLE_DEVICES is
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    counter = mp.get_context("spawn").Value("i", 0)
    try:
        pinned = []
        for _ in range(3):
            local._init_worker(1, counter, ("3", "5"))
            pinned.append(os.environ["CUDA_VISIBLE_DEVICES"])
    finally:
        torch.set_num_threads(threads)
    assert pinned == ["3", "5", "3"]


def test_trials_per_gpu_must_be_positive(tmp_path, capsys):
    from conftest import assert_usage_error

    assert_usage_error(["sweep", "toy", "--trials-per-gpu", "0", "--out", str(tmp_path)], "--trials-per-gpu", capsys)
