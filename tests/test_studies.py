"""Study files: expansion, profiles, joined axes, and refusal of invalid files before anything runs."""

import json
import os
from pathlib import Path

import pytest

from dlrepro.cli import main
from dlrepro.errors import ConfigError
from dlrepro.studies.spec import load_study
from dlrepro.sweep.local import plan_units, run_local
from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig
from helpers import dlrepro, kill_dlrepro_when


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
    assert sorted({(t.cell, t.lr, t.steps, t.seed) for t in quick}) == sorted(
        [("rnn", 1e-3, 10000, 0), ("rnn", 1e-3, 10000, 1), ("rnn", 1e-3, 10000, 2), ("rnn", 1e-2, 10000, 0),
         ("lstm", 1e-3, 2500, 0)])
    assert len(quick) == 20   # 4 input lengths x 5; seeds 1 and 2 of the vanilla RNN at lr 1e-3 are 8 more runs


def test_the_palindrome_quick_profile_keeps_its_earlier_trial_ids():
    """Seeds 1-2 of the vanilla RNN at lr 1e-3 were added; the 12 trials it ran before keep their ids (an older
    quick folder stays done)."""
    import tomllib
    from pathlib import Path

    from dlrepro.studies.spec import parse_study

    old = parse_study((Path(__file__).parent / "data" / "claims_baseline" / "palindrome.toml").read_text(),
                      Path("palindrome.toml"), builtin=True)
    assert "claims" not in tomllib.loads(old.source)
    before = {c.default_name() for c in old.trials("quick")}
    now = {c.default_name() for c in load_study("palindrome").trials("quick")}
    assert len(before) == 12 and before < now and len(now - before) == 8


def _write(tmp_path, text):
    p = tmp_path / "study.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, needle", [
    ('[fixed]\nmodel = "rnn"\nbogus = 1\n[grid]\nseed = [0]\n', "key 'bogus'"),
    ('[fixed]\nmodel = "gan"\n[grid]\nseed = [0]\n', "unknown model 'gan'"),
    ('[fixed]\nmodel = "rnn"\n[grid]\nseed = []\n', "axis 'seed' must be a non-empty list"),
    ('[fixed]\nmodel = "rnn"\nlr = -1.0\n[grid]\nseed = [0]\n', "--lr must be > 0"),
    ('[fixed]\nmodel = "rnn"\n[grid]\ncell = ["grux"]\n', "unknown value 'grux'"),
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
    from dlrepro.sweep.trials import SweepOptions

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
    results = run_local([(bad, tmp_path / "bad"), (good, tmp_path / "good")],
                        SweepOptions(workers=1, vectorize=False), log=lambda s: None)
    assert [r.status for r in results] == ["failed", "completed"]
    assert "boom" in results[0].error
    again = run_local([(good, tmp_path / "good")], SweepOptions(workers=1), log=lambda s: None)
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


@pytest.mark.parametrize("line, needle", [("steps = 10.5", "[fixed] steps must be an integer, got 10.5"),
                                          ('lr = "fast"', "[fixed] lr must be a number, got 'fast'"),
                                          ("one_hot = 1", "[fixed] one_hot must be true or false, got 1"),
                                          ("hidden = true", "[fixed] hidden must be a list or an integer, got true")])
def test_values_of_the_wrong_type_are_refused(tmp_path, line, needle):
    path = _write(tmp_path, f'[fixed]\nmodel = "rnn"\n{line}\n[grid]\nseed = [0]\n')
    with pytest.raises(ConfigError) as exc:
        load_study(path)
    assert needle in str(exc.value)


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
            local.init_worker(1, counter, ("3", "5"))
            pinned.append(os.environ["CUDA_VISIBLE_DEVICES"])
    finally:
        torch.set_num_threads(threads)
    assert pinned == ["3", "5", "3"]


def test_trials_per_gpu_must_be_positive(tmp_path, capsys):
    from helpers import assert_usage_error

    assert_usage_error(["sweep", "toy", "--trials-per-gpu", "0", "--out", str(tmp_path)], "--trials-per-gpu", capsys)


# --- built-in names, --set, --dry-run, --quiet, runs.csv ------------------------------------------------------

def test_sweep_takes_a_built_in_name_and_refuses_an_unknown_one(tmp_path, capsys):
    from helpers import assert_usage_error

    assert load_study("palindrome").builtin
    assert_usage_error(["sweep", "palindrom", "--out", str(tmp_path)], "unknown study 'palindrom'", capsys)
    assert_usage_error(["sweep", "palindrom", "--out", str(tmp_path)], "palindrome, toy", capsys)
    assert_usage_error(["sweep", "missing.toml", "--out", str(tmp_path)], "study file missing.toml does not exist",
                       capsys)
    assert_usage_error(["sweep", "toy.toml", "--out", str(tmp_path)], "named without .toml: toy", capsys)
    assert not any(tmp_path.iterdir())


def _sets(*texts):
    from dlrepro.studies.spec import parse_set

    return dict(parse_set(t) for t in texts)


def test_set_overrides_a_fixed_setting_and_replaces_an_axis():
    study = load_study("palindrome").with_sets(_sets("steps=2000", "seed=[0,1,2]", "cell=lstm"), "smoke")
    trials = study.trials("smoke")
    assert {t.steps for t in trials} == {2000} and {t.cell for t in trials} == {"lstm"}
    assert sorted({t.seed for t in trials}) == [0, 1, 2] and len(trials) == 2 * 3  # input_length [3, 5] x seeds
    # a single value beats a joined axis that sets the field too (quick: cell_lr_steps_seed)
    quick = load_study("palindrome").with_sets(_sets("steps=100"), "quick").trials("quick")
    assert {t.steps for t in quick} == {100} and {(t.cell, t.lr) for t in quick} == {
        ("rnn", 1e-3), ("rnn", 1e-2), ("lstm", 1e-3)}
    # one value on an axis: trials that became identical run once
    # (3 data sets x 2 models, under the stated protocol)
    assert len(load_study("toy").with_sets(_sets("seed=4"), "full").trials("full")) == 6
    # hidden is itself a list: [64,32] is one value, [[8],[16]] an axis
    toy = load_study("toy")
    assert {t.hidden for t in toy.with_sets(_sets("hidden=[64,32]"), "smoke").trials("smoke")} == {(64, 32)}
    assert {t.hidden for t in toy.with_sets(_sets("hidden=[[8],[16]]"), "smoke").trials("smoke")} == {(8,), (16,)}


def test_with_sets_leaves_the_study_it_was_called_on_untouched():
    study = load_study("palindrome")
    before = study.trials("smoke")
    changed = study.with_sets(_sets("steps=2000", "cell=lstm", "seed=[0,1]"), "smoke")
    assert {t.steps for t in changed.trials("smoke")} == {2000}
    assert study.sets == {} and study.trials("smoke") == before
    assert {t.steps for t in before} == {60} and {t.cell for t in before} == {"rnn", "lstm"}


# A value for each field a built-in joined axis sets, that no axis or profile gives: --set must reach every trial.
SET_VALUES = {"lr": 0.005, "steps": 123, "cell": "lstm", "optimizer": "rmsprop", "dataset": "circles",
              "n_samples": 300, "seed": 7, "input_length": 4, "batch_size": 16}
FIELDS = set(MLPConfig.__dataclass_fields__) | set(RNNConfig.__dataclass_fields__) | set(CNNConfig.__dataclass_fields__)


def _fields(axis: str) -> list[str] | None:
    """The fields a joined axis names ('dataset_n_samples' -> ['dataset', 'n_samples']); None for a field."""
    if axis in FIELDS:
        return None
    parts = axis.split("_")
    for cut in range(1, len(parts)):
        head, rest = "_".join(parts[:cut]), "_".join(parts[cut:])
        if head in FIELDS:
            tail = [rest] if rest in FIELDS else _fields(rest)
            if tail:
                return [head, *tail]
    return None


def _joined_axes() -> list[tuple[str, str, str, str]]:
    """(study, profile, axis, field) for every field of every joined grid axis of the built-in studies."""
    from dlrepro.studies.spec import builtin_names

    found = []
    for name in builtin_names():
        study = load_study(name)
        for profile in study.profiles:
            for axis in study.settings(profile)[1]:
                found += [(name, profile, axis, field) for field in _fields(axis) or []]
    return found


def test_the_built_in_studies_have_joined_axes_to_test():
    found = {(name, axis, field) for name, _, axis, field in _joined_axes()}
    assert {("optimizers", "optimizer_lr", "lr"), ("toy", "dataset_n_samples", "n_samples")} <= found
    assert {field for *_, field in found} <= set(SET_VALUES), "give SET_VALUES a value for the new field"


@pytest.mark.parametrize("name, profile, axis, field", _joined_axes())
def test_set_on_a_field_of_a_joined_axis_reaches_every_trial(name, profile, axis, field):
    """e.g. --set lr=0.005 on the palindrome quick profile (cell_lr_steps): every trial runs lr 0.005, and the
    axis's other fields still take the axis's values."""
    study = load_study(name)
    trials = study.with_sets({field: SET_VALUES[field]}, profile).trials(profile)
    assert trials and {getattr(t, field) for t in trials} == {SET_VALUES[field]}
    fields = _fields(axis)
    rest = [i for i, f in enumerate(fields) if f != field]
    want = {tuple(point[i] for i in rest) for point in study.settings(profile)[1][axis]}
    got = {tuple(getattr(t, fields[i]) for i in rest) for t in trials}
    assert got == want


@pytest.mark.parametrize("sets, needle", [
    (["bogus=1"], "--set bogus: not a setting or grid axis of study palindrome"),
    (["steps=1.5"], "--set steps must be an integer, got 1.5"),
    (["steps=fast"], "--set steps must be an integer, got 'fast'"),
    (["cell=grux"], "--cell: unknown value 'grux'"),
    (["lr=-1.0"], "--lr must be > 0"),
    (["seed=[]"], "an axis needs at least one value"),
    (["steps"], "expected KEY=VALUE"),
    (["cell=[rnn,lstm]"], "not a TOML value"),
])
def test_set_with_a_wrong_key_or_value_exits_2_before_running(tmp_path, capsys, sets, needle):
    from helpers import assert_usage_error

    argv = ["sweep", "palindrome", "--profile", "smoke", "--out", str(tmp_path / "out")]
    for s in sets:
        argv += ["--set", s]
    assert_usage_error(argv, needle, capsys)
    assert not (tmp_path / "out").exists()


def test_set_on_a_field_of_a_joined_axis_as_a_list_is_refused(capsys, tmp_path):
    from helpers import assert_usage_error

    assert_usage_error(["sweep", "palindrome", "--profile", "quick", "--set", "lr=[1e-3]", "--out", str(tmp_path)],
                       "the grid axis 'cell_lr_steps_seed' sets 'lr' too", capsys)


def test_dry_run_lists_the_trials_and_runs_nothing_then_says_done(tmp_path, capsys):
    out = tmp_path / "out"
    base = ["sweep", "palindrome", "--profile", "smoke", "--set", "steps=20", "--set", "hidden=8", "--out", str(out)]
    assert main([*base, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert not out.exists()
    assert "4 trial(s), profile smoke, --set steps=20 hidden=8" in text and "0 done, 4 to run, 4 new" in text
    assert "steps=20" in text.splitlines()[2]  # every trial's settings once, then the differences per trial
    rows = [line.split() for line in text.splitlines()[3:7]]   # then the claims and the trials they are judged from
    assert [r[1] for r in rows] == ["new"] * 4 and text.splitlines()[7] == "   22 claim(s):"
    assert [r[2:] for r in rows] == [["cell=rnn", "input_length=3"], ["cell=rnn", "input_length=5"],
                                    ["cell=lstm", "input_length=3"], ["cell=lstm", "input_length=5"]]
    assert main([*base, "--workers", "1", "--quiet"]) == 0
    quiet = capsys.readouterr().out
    assert "[1/4]" not in quiet and "== " not in quiet  # no trial lines, no header
    assert quiet.splitlines()[-1] == f"palindrome: 4 trial(s), 0 failed -> {out / 'runs/palindrome/runs.csv'}"
    assert main([*base, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "4 done, 0 to run" in text and [line.split()[1] for line in text.splitlines()[3:7]] == ["done"] * 4


def test_runs_csv_has_a_row_per_trial_with_settings_status_and_final_metrics(tmp_path):
    import csv

    study = _write(tmp_path, '[study]\nname = "mine"\n[fixed]\nmodel = "mlp-numpy"\nepochs = 2\nn_samples = 60\n'
                             'eval_every = 1\n[grid]\nlr = [0.01, 0.1]\nhidden = [[4], [8, 4]]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(study), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    with open(out / "runs" / "mine" / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert [(r["lr"], r["hidden"]) for r in rows] == [("0.01", "[4]"), ("0.01", "[8, 4]"), ("0.1", "[4]"),
                                                      ("0.1", "[8, 4]")]
    for row in rows:
        run = out / "runs" / "mine" / row["trial"]
        summary = json.loads((run / "summary.json").read_text())
        config = json.loads((run / "config.json").read_text())["config"]
        assert row["status"] == summary["status"] == "completed" and row["already_done"] == "False"
        assert float(row["final_test_acc"]) == summary["final"]["test_acc"]
        assert float(row["final_train_loss"]) == summary["final"]["train_loss"]
        assert float(row["best_test_acc"]) == summary["best_test_acc"]
        assert int(row["trained_steps"]) == summary["steps"] and row["error"] == ""
        assert row["model"] == config["model"] and int(row["epochs"]) == config["epochs"] == 2
        assert "data_root" not in row
    assert main(["sweep", str(study), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    with open(out / "runs" / "mine" / "runs.csv", newline="") as f:
        assert [r["already_done"] for r in csv.DictReader(f)] == ["True"] * 4
    record = json.loads((out / "runs" / "mine" / "study.json").read_text())
    assert record["profile"] == "quick" and not record["builtin"] and len(record["trials"]) == 4
    assert (out / "runs" / "mine" / "study.toml").read_text() == study.read_text()


def test_reproduce_applies_each_set_to_the_studies_that_have_it(tmp_path, capsys):
    from dlrepro.sweep.study import select_studies
    from helpers import assert_usage_error

    toy, pal = select_studies(["toy", "palindrome"], "smoke", _sets("steps=7", "epochs=1"))
    assert toy.sets == {"epochs": 1} and pal.sets == {"steps": 7}
    assert {t.epochs for t in toy.trials("smoke")} == {1} and {t.steps for t in pal.trials("smoke")} == {7}
    assert_usage_error(["reproduce", "--only", "toy", "--set", "steps=7", "--out", str(tmp_path / "o")],
                       "--set steps: no study of this run (toy) has a setting or grid axis 'steps'", capsys)
    assert not (tmp_path / "o").exists()
    assert main(["reproduce", "--only", "toy,palindrome", "--profile", "smoke", "--set", "steps=7", "--dry-run",
                 "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "6 trial(s), profile smoke ->" in text and "4 trial(s), profile smoke, --set steps=7 ->" in text
    assert not (tmp_path / "o").exists()


def test_runs_csv_reads_with_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    study = _write(tmp_path, '[study]\nname = "mine"\n[fixed]\nmodel = "mlp-numpy"\nepochs = 1\nn_samples = 40\n'
                             '[grid]\nseed = [0, 1]\n')
    assert main(["sweep", str(study), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "out" / "runs" / "mine" / "runs.csv")
    assert list(table["seed"]) == [0, 1] and list(table["status"]) == ["completed"] * 2
    assert str(table["final_test_acc"].dtype) == "float64" and table["final_test_acc"].between(0, 1).all()
