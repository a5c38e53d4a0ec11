"""One path from a list of configs to run directories: configs own their facts, `execute_seeds` decides
population or single runs and owns the observers, both backends share one "already done?" check, and one
registry names the built-in studies."""

import dataclasses
import json

import pytest

from dlrepro import registry
from dlrepro.cli import build_parser
from dlrepro.errors import ConfigError
from dlrepro.runs import execute as execute_module
from dlrepro.runs.execute import execute_seeds
from dlrepro.runs.rundir import RunDir, RunObserver
from dlrepro.studies.spec import builtin_names, load_study
from dlrepro.sweep.study import study_trials
from dlrepro.sweep.trials import already_done
from dlrepro.train import config
from dlrepro.train.config import LOCATION_FIELDS, CNNConfig, MLPConfig, RNNConfig

TINY = {"model": "mlp-numpy", "dataset": "moons", "epochs": 2, "n_samples": 50}
DATA = {"data_root": "/data/cifar10", "verify_data": False, "cache_dir": "/cache"}


def test_only_configs_that_read_cifar_carry_its_location_and_trial_ids_do_not_move(tmp_path):
    toy, cifar = load_study("toy"), load_study("cifar_mlp")
    toy_trials = study_trials(toy, "smoke", tmp_path, DATA)
    cifar_trials = study_trials(cifar, "smoke", tmp_path, DATA)
    assert all(cfg.data_source is None and not set(LOCATION_FIELDS) & set(cfg.to_dict()) for cfg, _ in toy_trials)
    assert all(cfg.data_source == "cifar10" and {k: cfg.to_dict()[k] for k in DATA} == DATA for cfg, _ in cifar_trials)
    # the trial ids of the runs made before (identity without the location) stay what they were
    assert [d.name for _, d in toy_trials][:2] == ["mlp-numpy-moons-0-e7a3a595", "mlp-numpy-circles-0-7fc6a6a6"]
    assert cifar_trials[0][1].name == "mlp-torch-cifar10-0-d08c1ce1"
    assert [d for _, d in cifar_trials] == [d for _, d in study_trials(cifar, "smoke", tmp_path)]
    assert CNNConfig().data_source == "cifar10" and RNNConfig().data_source is None


def test_a_toy_run_writes_no_data_location_and_a_run_written_with_one_is_still_done(tmp_path):
    cfg = MLPConfig(**TINY)
    (run, summary), = execute_seeds([cfg], [tmp_path / "r"], progress=False)
    stored = json.loads((tmp_path / "r" / "config.json").read_text())
    assert summary["status"] == "completed" and not set(LOCATION_FIELDS) & set(stored["config"])
    # a run folder from before, whose config.json recorded CIFAR-10's location for a toy run
    stored["config"].update(data_root=None, verify_data=True, cache_dir=None)
    (tmp_path / "r" / "config.json").write_text(json.dumps(stored))
    done = already_done(cfg, tmp_path / "r")
    assert done is not None and done.skipped and done.status == "completed"


def test_a_run_folder_the_check_cannot_read_is_left_to_the_trial_not_raised(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{not json")
    assert already_done(MLPConfig(**TINY), tmp_path / "r") is None


@pytest.mark.parametrize("make", [lambda: RNNConfig(lr=-1.0), lambda: MLPConfig(dataset="mnist"),
                                  lambda: dataclasses.replace(RNNConfig(), cell="lstm2"),
                                  lambda: CNNConfig(device="tpu")])
def test_a_config_is_checked_when_made(make):
    with pytest.raises(ConfigError) as exc:
        make()
    assert "\n" not in str(exc.value) and str(exc.value).startswith("--")


def test_the_cli_offers_exactly_the_values_the_configs_accept():
    def choices(argv: list[str]) -> dict[str, tuple]:
        parser = build_parser()
        sub = parser
        for name in argv:
            action = next(a for a in sub._actions if a.choices and name in a.choices)
            sub = action.choices[name]
        return {a.dest: tuple(a.choices) for a in sub._actions if a.choices and a.option_strings}

    rnn, cnn = choices(["train", "rnn"]), choices(["train", "cnn"])
    torch_mlp, numpy_mlp = choices(["train", "mlp-torch"]), choices(["train", "mlp-numpy"])
    assert rnn["cell"] == tuple(registry.CELLS) and rnn["optimizer"] == tuple(registry.OPTIMIZERS["rnn"])
    assert rnn["device"] == cnn["device"] == torch_mlp["device"] == config.DEVICES
    assert cnn["optimizer"] == tuple(registry.OPTIMIZERS["cnn"]) and cnn["augment"] == config.AUGMENTS
    assert cnn["net"] == tuple(registry.CIFAR_MODELS)
    assert cnn["precision"] == config.PRECISIONS and torch_mlp["dtype"] == config.DTYPES
    assert torch_mlp["dataset"] == tuple(registry.DATASETS)
    assert numpy_mlp["dataset"] == tuple(d for d, e in registry.DATASETS.items() if e.source is None)


class Recorder(RunObserver):
    """An observer that counts its rows and whether it was closed."""

    def __init__(self, closed: list):
        self.rows, self.closed = 0, closed

    def on_metrics(self, row: dict) -> None:
        self.rows += 1

    def close(self) -> None:
        self.closed.append(self)


@pytest.mark.parametrize("vectorize", [True, False])
def test_execute_seeds_decides_population_or_singles_and_closes_the_observers_it_opened(tmp_path, monkeypatch,
                                                                                         vectorize):
    closed, opened, populations = [], [], []
    monkeypatch.setattr(execute_module, "run_observers",
                        lambda d, tensorboard: opened.append(Recorder(closed)) or [opened[-1]])
    real = execute_module.execute_population
    monkeypatch.setattr(execute_module, "execute_population",
                        lambda cfgs, *a, **k: populations.append(len(cfgs)) or real(cfgs, *a, **k))
    cfgs = [MLPConfig(**TINY, seed=s) for s in range(3)]
    results = execute_seeds(cfgs, [tmp_path / str(s) for s in range(3)], vectorize=vectorize, progress=False)
    assert [s["status"] for _, s in results] == ["completed"] * 3
    assert populations == ([3] if vectorize else [])
    assert len(opened) == 3 and closed == opened  # each run's, opened once and closed once
    assert [o.rows for o in opened] == [len(run.metrics()) for run, _ in results] == [2, 2, 2]  # every row seen


def test_observers_are_closed_when_a_run_fails(tmp_path, monkeypatch):
    closed = []
    monkeypatch.setattr(execute_module, "run_observers", lambda d, tensorboard: [Recorder(closed)])
    monkeypatch.setattr(execute_module, "build_task", lambda cfg: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        execute_seeds([MLPConfig(**TINY)], [tmp_path / "r"], progress=False)
    assert len(closed) == 1 and not RunDir(tmp_path / "r").path.exists()


def test_one_registry_holds_every_built_in_study_for_reproduce_and_report():
    from dlrepro.report.registry import REGISTRY, STUDIES, studies_reading

    assert sorted(STUDIES) == builtin_names()
    assert STUDIES == ["toy", "cifar_mlp", "optimizers", "palindrome"]  # the reference report's order
    assert studies_reading("cifar10") == ("cifar_mlp", "optimizers")
    for name in REGISTRY:
        reads = any(cfg.data_source == "cifar10" for cfg in load_study(name).trials("smoke"))
        assert (name in studies_reading("cifar10")) == reads
