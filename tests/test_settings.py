"""A run setting is declared once, as a config field with its help and checks: `dlrepro train`'s flags, the
config the flags build and a config built in Python all follow from it."""

from __future__ import annotations  # field types as the configs declare them: "bool", "float"

import dataclasses

import pytest

from dlrepro import registry
from dlrepro.cli import build_parser
from dlrepro.cli_args import config_from_args
from dlrepro.errors import ConfigError
from dlrepro.train.config import MLPConfig, RNNConfig
from dlrepro.train.settings import setting


@dataclasses.dataclass(frozen=True)
class WiderRNNConfig(RNNConfig):
    """A kind with two settings added the plain way and one through `setting`, as a new field is added."""
    model: str = "rnn-wider"
    warm_start: bool = dataclasses.field(default=False, metadata={"help": "start from the previous weights"})
    decay: float = dataclasses.field(default=0.5, metadata={"help": "decay over 100% of the steps"})
    width: int = setting(3, "extra width", low=1, high=9)
    shuffle: bool = dataclasses.field(default=True, metadata={"help": "shuffle the digits"})


@pytest.fixture
def wider(monkeypatch):
    kind = dataclasses.replace(registry.MODEL_KINDS["rnn"], config=f"{__name__}:WiderRNNConfig")
    monkeypatch.setitem(registry.MODEL_KINDS, "rnn-wider", kind)


def _help(*argv: str) -> str:
    parser = build_parser()
    train = next(a for a in parser._actions if a.choices and "train" in a.choices).choices["train"]
    subs = next(a for a in train._actions if a.choices and "rnn" in a.choices).choices
    return " ".join(subs[argv[0]].format_help().split())


def test_a_new_field_with_a_help_is_a_train_flag_with_its_type_default_and_checks(wider):
    a = build_parser().parse_args(["train", "rnn-wider", "--warm-start", "--decay", "0.25", "--width", "4",
                                   "--steps", "7"])
    cfg = config_from_args(a)
    assert type(cfg) is WiderRNNConfig and cfg.warm_start and cfg.decay == 0.25 and cfg.width == 4 and cfg.steps == 7
    plain = config_from_args(build_parser().parse_args(["train", "rnn-wider"]))
    assert (plain.warm_start, plain.decay, plain.width, plain.shuffle) == (False, 0.5, 3, True)
    assert not config_from_args(build_parser().parse_args(["train", "rnn-wider", "--no-shuffle"])).shuffle
    text = _help("rnn-wider")
    assert "--warm-start start from the previous weights" in text and "(default 0.5)" in text
    assert "decay over 100% of the steps" in text and "extra width (default 3)" in text
    with pytest.raises(ConfigError, match=r"^--width must be <= 9, got 10$"):
        config_from_args(build_parser().parse_args(["train", "rnn-wider", "--width", "10"]))


def test_the_cifar10_mlp_defaults_are_the_configs_and_the_clis_alike():
    built = MLPConfig(model="mlp-torch", dataset="cifar10")
    assert (built.batch_size, built.dtype) == (32, "float32")
    assert (MLPConfig().batch_size, MLPConfig().dtype) == (1, "float64")
    assert MLPConfig(model="mlp-torch", dataset="cifar10", batch_size=1, dtype="float64").batch_size == 1
    flags = config_from_args(build_parser().parse_args(["train", "mlp-torch", "--dataset", "cifar10"]))
    assert flags.default_name() == built.default_name() == "mlp-torch-cifar10-0-d6e61216"  # as main's CLI named it
    assert "(default 1; 32 for cifar10)" in _help("mlp-torch") and "(default 1)" in _help("mlp-numpy")


def test_every_model_kind_is_a_train_command_with_its_config_class():
    for model, kind in registry.MODEL_KINDS.items():
        cfg = config_from_args(build_parser().parse_args(["train", model, *(["--dataset", "moons"]
                                                                            if model.startswith("mlp") else [])]))
        assert type(cfg) is registry.load(kind.config) and cfg.model == model


def test_a_toy_run_builds_its_split_once_and_saves_that_split(monkeypatch, tmp_path):
    import numpy as np

    from dlrepro.data import toy
    from dlrepro.runs.execute import execute_seeds

    calls = []
    real = toy.make_toy

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(toy, "make_toy", counted)
    cfg = MLPConfig(dataset="circles", n_samples=60, epochs=1)
    execute_seeds([cfg], [tmp_path / "one"], progress=False)
    assert len(calls) == 1
    execute_seeds([dataclasses.replace(cfg, seed=s) for s in (0, 1, 2)], [tmp_path / f"s{s}" for s in (0, 1, 2)],
                  progress=False)
    assert len(calls) == 2  # one population, one split
    saved = toy.load_toy("circles", tmp_path / "s2" / "data.npz")
    assert np.array_equal(saved.x_train, real("circles", n_samples=60, seed=0).x_train)
