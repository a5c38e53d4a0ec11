"""Run configurations: one dataclass per model kind, validated, hashed and serialised to config.json.

A config holds everything that determines a run's numbers. Operational settings (where to write, whether
to resume, progress bars, checkpoint interval) are not part of it, so they never change a run's identity.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

from dlrepro import registry
from dlrepro.errors import ConfigError
from dlrepro.registry import CELLS, CIFAR_MODELS, DATASETS, OPTIMIZERS
from dlrepro.train import memory
from dlrepro.train import protocol as P

# Ranges of the numeric settings, shared by the CLI and the study files (both build configs, and
# `validate` checks them). Seeds go to NumPy, scikit-learn and torch generators, which take 0..2**32-1.
MAX_SEED = 2**32 - 1
MAX_COUNT = 10**9      # steps, epochs, evaluation interval, samples, batch and layer sizes
MAX_EPOCHS = 10**6
MAX_LAYERS = 64        # hidden layers of an MLP
MAX_INPUT_LENGTH = 10**5
MAX_SEEDS = 4096       # seeds in one --seeds list
MAX_FLOAT = 1e30       # learning rates and clip norms: beyond it torch cannot hold them as float32
CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000

# The values each choice setting takes, for the configs' checks and the CLI's `choices=` alike (cells,
# CIFAR-10 models, optimizers and datasets: dlrepro.registry).
MLP_MODELS = ("mlp-numpy", "mlp-torch")
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda", "auto")  # auto: cuda when available
AUGMENTS = ("none", "flipcrop")
PRECISIONS = ("fp32", "bf16")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _positive(name: str, value, flag: str | None = None) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag or _flag(name)} must be > 0, got {value}")


def _at_most(name: str, value, hi) -> None:
    if value > hi:
        raise ConfigError(f"{_flag(name)} must be <= {hi:,}, got {value}" if isinstance(hi, int)
                          else f"{_flag(name)} must be <= {hi:g}, got {value}")


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"--{name.replace('_', '-')}: unknown value {value!r}; choose from "
                          f"{', '.join(map(str, choices))}")


def parse_hidden(text: str | list | tuple) -> tuple[int, ...]:
    """'20' or '64,32' (or a list of ints) -> (20,) / (64, 32). Raises ConfigError when unparsable."""
    if isinstance(text, list | tuple):
        parts = list(text)
    else:
        parts = [p.strip() for p in str(text).split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"--hidden must be a comma list of positive integers like 20 or 64,32, "
                          f"got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError(f"--hidden must be a comma list of positive integers like 20 or 64,32, got {text!r}")
    if len(sizes) > MAX_LAYERS or max(sizes) > MAX_COUNT:
        raise ConfigError(f"--hidden must have at most {MAX_LAYERS} layers of at most {MAX_COUNT:,} units, "
                          f"got {text!r}")
    return sizes


def parse_seeds(text: str) -> list[int]:
    """'0-7', '0,3,5' or '0-3,8' -> distinct non-negative seeds in the order given. ConfigError otherwise."""
    seeds: list[int] = []
    too_many = False
    try:
        for part in str(text).split(","):
            lo, sep, hi = part.strip().partition("-")
            lo_i, hi_i = int(lo), int(hi) if sep else int(lo)
            if lo_i < 0 or hi_i < lo_i or hi_i > MAX_SEED:
                raise ValueError
            if len(seeds) + hi_i - lo_i + 1 > MAX_SEEDS:
                too_many = True
                break
            seeds.extend(range(lo_i, hi_i + 1))
    except ValueError:
        raise ConfigError(f"--seeds must be seeds in 0..{MAX_SEED} and ascending ranges like 0-7 or 0,3,5, "
                          f"got {text!r}") from None
    if too_many:
        raise ConfigError(f"--seeds lists more than {MAX_SEEDS} seeds: {text!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds lists a seed twice: {text!r}")
    return seeds


# Fields that say where the data is and how to check it, not what is computed: kept in config.json, left
# out of the run's identity (its hash and the "same run?" check), so moving the data does not orphan a run.
LOCATION_FIELDS = ("data_root", "verify_data", "cache_dir")


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "str | None": (str, type(None)),
          "tuple[int, ...]": (tuple, list), "dict | None": (dict, type(None))}

# Fields added after runs were made: left out of config.json (and so of the identity) while they hold their
# default, so the runs made before them keep their trial ids.
OMITTED_AT_DEFAULT = ("net", "plugins", "plugin_info", *P.SETTINGS)


@dataclass(frozen=True)
class RunConfig:
    """Fields common to every run. Subclasses add their own and extend `validate`, which runs when a config
    is made (so an invalid config never exists: a bad value is a ConfigError where it is given)."""
    model: str
    seed: int = 0
    eval_every: int = 10
    # Fields kept in config.json but left out of the identity: where the run reads its data, and for the
    # small models where it computes (a device changes float rounding, not the experiment).
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = LOCATION_FIELDS
    # Settings that may name a user's class by import path, as field -> the table of built-in names
    # (dlrepro.registry); dlrepro.train.plugins checks such a class and records its hash in `plugins`.
    PLUGGABLE: ClassVar[dict[str, dict]] = {}

    def __post_init__(self) -> None:
        self.validate()

    @property
    def data_source(self) -> str | None:
        """The data source the run reads (a dlrepro.registry.DATA_SOURCES key, located by the location
        fields, LOCATION_FIELDS), or None for generated data."""
        return None

    @property
    def uses_gpu(self) -> bool:
        """Whether the run trains on a GPU when one is present (device cuda, or auto)."""
        return getattr(self, "device", "cpu") != "cpu"

    def with_location(self, data: dict | None) -> RunConfig:
        """This config reading CIFAR-10 from `data` (LOCATION_FIELDS: data_root, verify_data, cache_dir); a
        config that reads no CIFAR-10 is returned as it is. The identity (and so the trial id) is unchanged."""
        if not data or self.data_source is None:
            return self
        changes: dict = {k: v for k, v in data.items() if k in LOCATION_FIELDS}
        return dataclasses.replace(self, **changes)

    def validate(self) -> RunConfig:
        self._check_types()
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be an integer in 0..{MAX_SEED}, got {self.seed}")
        if not isinstance(self.eval_every, int) or self.eval_every < 1:
            raise ConfigError(f"--eval-every must be >= 1, got {self.eval_every}")
        _at_most("eval_every", self.eval_every, MAX_COUNT)
        return self

    def _check_types(self) -> None:
        """Each field holds its declared type (a study file may say 32.0 or "0.1" where 32 or 0.1 belongs)."""
        for f in fields(self):
            declared = _TYPES[str(f.type)]
            value, wanted = getattr(self, f.name), declared
            if isinstance(value, bool) and bool not in wanted:  # bool is an int in Python, not here
                wanted = ()
            if not isinstance(value, wanted):
                names = " or ".join(t.__name__ for t in declared)
                raise ConfigError(f"--{f.name.replace('_', '-')} must be {names}, got {value!r}")
            if isinstance(value, tuple | list) and not all(type(v) is int for v in value):  # not 4.5, "4", true
                raise ConfigError(f"--{f.name.replace('_', '-')} must be a list of integers, got {list(value)!r}")

    def to_dict(self) -> dict:
        """The config as config.json holds it: the data location only when the run reads a data source, and
        the fields of OMITTED_AT_DEFAULT only when they do not hold their default."""
        defaults = {f.name: f.default for f in fields(self)}
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()
                if (self.data_source is not None or k not in LOCATION_FIELDS)
                and not (k in OMITTED_AT_DEFAULT and v == defaults[k])}

    def identity(self) -> dict:
        """What determines the run's numbers: every field but the locations (NOT_IDENTITY)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.NOT_IDENTITY}

    def population_key(self) -> str:
        """Equal for configs that differ only in their seed (such runs can train as one population, on one
        device)."""
        key = {k: v for k, v in self.identity().items() if k != "seed"}
        key["device"] = getattr(self, "device", None)  # not in the identity, but one population, one device
        return json.dumps(key, sort_keys=True)

    def config_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:8]

    def default_name(self) -> str:
        return f"{self.model}-{self.seed}-{self.config_hash()}"


@dataclass(frozen=True)
class MLPConfig(RunConfig):
    """Part 1: an MLP on a toy dataset (or CIFAR-10), trained with plain SGD. `eval_every` is in epochs."""
    model: str = "mlp-numpy"
    dataset: str = "moons"           # moons | circles | classification | cifar10 (mlp-torch only)
    hidden: tuple[int, ...] = (20,)
    lr: float = 1e-2
    batch_size: int = 1
    epochs: int = 200
    n_samples: int = 1000
    data_seed: int = 0               # random_state of the toy dataset, fixed across model seeds
    dtype: str = "float64"
    # dataset cifar10 only (LOCATION_FIELDS; config.json of a toy-set run has none of them):
    data_root: str | None = None     # CIFAR-10 location (see dlrepro.data.cifar10); not part of the identity
    verify_data: bool = True         # check CIFAR-10 against the official MD5s (off for re-encoded copies)
    cache_dir: str | None = None     # where the decoded CIFAR-10 arrays are cached (default: beside the data)
    device: str = "cpu"              # mlp-torch: cpu | cuda | auto; not part of the identity
    outputs: str = field(default="logits", metadata=P.meta("outputs", "mlp-torch"))
    train_metrics: str = field(default="eval", metadata=P.meta("train_metrics", "dataset cifar10"))
    split: str = field(default="stratified", metadata=P.meta("split", "toy datasets"))
    init: str = field(default="uniform", metadata=P.meta("init"))
    order: str = field(default="each", metadata=P.meta("order"))
    normalize: str = field(default="channel", metadata=P.meta("normalize", "dataset cifar10"))
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = (*LOCATION_FIELDS, "device")

    @property
    def data_source(self) -> str | None:
        return DATASETS[self.dataset].source

    def validate(self) -> MLPConfig:
        super().validate()
        _choice("model", self.model, MLP_MODELS)
        _choice("device", self.device, DEVICES)
        if self.model == "mlp-numpy" and self.device != "cpu":
            raise ConfigError("--device: the NumPy MLP runs on the CPU only; use mlp-torch for a GPU")
        registry.check("--dataset", self.dataset, DATASETS, plugins=False)
        if self.dataset == "cifar10" and self.model != "mlp-torch":
            raise ConfigError("--dataset cifar10 is trained by mlp-torch only")
        _choice("dtype", self.dtype, DTYPES)
        P.check_mlp(self)
        parse_hidden(self.hidden)
        for name in ("lr", "batch_size", "epochs", "n_samples"):
            _positive(name, getattr(self, name))
        if not isinstance(self.batch_size, int) or not isinstance(self.epochs, int):
            raise ConfigError("--batch-size and --epochs must be integers")
        if not 0 <= self.data_seed <= MAX_SEED:
            raise ConfigError(f"--data-seed must be an integer in 0..{MAX_SEED}, got {self.data_seed}")
        if self.dataset != "cifar10" and self.n_samples < 10:
            raise ConfigError(f"--n-samples must be >= 10, got {self.n_samples}")
        _at_most("epochs", self.epochs, MAX_EPOCHS)
        _at_most("lr", self.lr, MAX_FLOAT)
        for name in ("batch_size", "n_samples"):
            _at_most(name, getattr(self, name), MAX_COUNT)
        memory.fits(self.memory_needs())
        return self

    def memory_needs(self) -> list[tuple[str, float, str]]:
        """Lower estimates of the largest allocations, as `memory.fits` takes them."""
        cifar = self.dataset == "cifar10"
        item = 4 if self.dtype == "float32" else 8
        widths = [3072 if cifar else 2, *self.hidden, 10 if cifar else 2]
        # weights, their gradients, the update's temporaries and the initial draw: 4 copies at least
        weights = 4 * sum(a * b for a, b in itertools.pairwise(widths)) * item
        hidden = ",".join(map(str, self.hidden))
        needs: list[tuple[str, float, str]] = [(f"--hidden {hidden}", weights, "its weights and gradients"),
                 (f"--batch-size {self.batch_size}", min(self.batch_size, self.n_samples) * sum(widths) * item,
                  "one batch's activations")]
        if not cifar:  # scikit-learn draws float64 points and int64 labels
            needs.append((f"--n-samples {self.n_samples}", self.n_samples * (2 * 8 + 8), "the dataset"))
        return needs

    def default_name(self) -> str:
        return f"{self.model}-{self.dataset}-{self.seed}-{self.config_hash()}"


@dataclass(frozen=True)
class RNNConfig(RunConfig):
    """Part 3: a recurrent cell (vanilla RNN, LSTM, GRU or a user's) that must remember the first digit of
    a palindrome. Step-based."""
    model: str = "rnn"
    cell: str = "rnn"                # a dlrepro.registry.CELLS name, or package.module:Name
    input_length: int = 10
    one_hot: bool = False
    hidden: int = 128
    batch_size: int = 128
    optimizer: str = "rmsprop"       # a dlrepro.registry.OPTIMIZERS["rnn"] name, or package.module:Name
    lr: float = 1e-3
    steps: int = 10_000
    clip: float = 10.0               # max global gradient norm; 0 disables clipping
    test_size: int = 1024
    device: str = "cpu"              # cpu | cuda | auto; not part of the identity
    plugins: dict | None = None      # a user's classes: setting -> {"path", "sha256"} (dlrepro.train.plugins)
    plugin_info: dict | None = None  # and their module files: setting -> {"file", ...}; not in the identity
    outputs: str = field(default="logits", metadata=P.meta("rnn_outputs"))
    train_metrics: str = field(default="running", metadata=P.meta("rnn_train_metrics"))
    # LOCATION_FIELDS: as in older runs
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = (*LOCATION_FIELDS, "device", "plugin_info")
    PLUGGABLE: ClassVar[dict[str, dict]] = {"cell": CELLS, "optimizer": OPTIMIZERS["rnn"]}

    def validate(self) -> RNNConfig:
        super().validate()
        registry.check("--cell", self.cell, CELLS)
        _choice("device", self.device, DEVICES)
        registry.check("--optimizer", self.optimizer, OPTIMIZERS["rnn"])
        P.check_choices(self, outputs=P.RNN_OUTPUTS, train_metrics=P.RNN_TRAIN_METRICS)
        if not isinstance(self.input_length, int) or self.input_length < 1:
            raise ConfigError(f"--input-length must be >= 1, got {self.input_length}")
        for name in ("hidden", "batch_size", "lr", "steps", "test_size"):
            _positive(name, getattr(self, name))
        if not (isinstance(self.clip, int | float) and math.isfinite(self.clip) and self.clip >= 0):
            raise ConfigError(f"--clip must be >= 0 (0 disables clipping), got {self.clip}")
        _at_most("input_length", self.input_length, MAX_INPUT_LENGTH)
        _at_most("lr", self.lr, MAX_FLOAT)
        _at_most("clip", self.clip, MAX_FLOAT)
        for name in ("hidden", "batch_size", "steps", "test_size"):
            _at_most(name, getattr(self, name), MAX_COUNT)
        # A generous bound (16 gates) first: the exact estimate loads the cell's class (and torch), which
        # only sizes near this machine's memory need. A user's cell is sized when it is checked (plugins).
        inputs = 10 if self.one_hot else 1
        bound = self._needs((16, 16 * (inputs + 1) + 10, 10), 16)
        if self.cell in CELLS and any(n > (memory.available_memory() or math.inf) for _, n, _ in bound):
            memory.fits(self.memory_needs())
        return self

    def memory_needs(self) -> list[tuple[str, float, str]]:
        """Lower estimates of the largest allocations (float32), as `memory.fits` takes them, from the cell's
        parameter count (`memory.cell_size`, counted on the class)."""
        size = memory.cell_size(registry.target(self.cell, CELLS), 10 if self.one_hot else 1)
        return self._needs(size, size[0])

    def _needs(self, size: tuple[int, int, int], gates: int) -> list[tuple[str, float, str]]:
        a, b, c = size
        inputs = 10 if self.one_hot else 1
        weights = 4 * (a * self.hidden ** 2 + b * self.hidden + c) * 4  # weights, gradients, optimizer state
        states = gates * self.input_length * self.hidden * 4  # per sequence, kept for backpropagation
        return [(f"--hidden {self.hidden}", weights, "its weights, gradients and optimizer state"),
                (f"--batch-size {self.batch_size}", self.batch_size * states, "one batch's hidden states"),
                (f"--test-size {self.test_size}", self.test_size * self.input_length * (inputs + 1) * 4,
                 "the test set")]

    def default_name(self) -> str:
        return f"{registry.slug(self.cell)}-L{self.input_length}-lr{self.lr:g}-{self.seed}-{self.config_hash()}"


@dataclass(frozen=True)
class CNNConfig(RunConfig):
    """Part 2: the VGG-style ConvNet on CIFAR-10. Epoch-based; `eval_every` is in epochs."""
    model: str = "cnn"
    optimizer: str = "adam"          # a dlrepro.registry.OPTIMIZERS["cnn"] name, or package.module:Name
    lr: float = 1e-4
    batch_size: int = 32
    epochs: int = 200
    augment: str = "none"            # none | flipcrop (random crop with 4-pixel padding + horizontal flip)
    subset: int = 0                  # train on the first N training images, stratified; 0 = all 50,000
    test_subset: int = 0             # evaluate on the first N test images, stratified; 0 = all 10,000
    device: str = "auto"
    precision: str = "fp32"          # fp32 | bf16 (autocast; fp32 master weights)
    channels_last: bool = False
    compile: bool = False
    data_root: str | None = None
    verify_data: bool = True
    cache_dir: str | None = None
    net: str = "convnet"             # a dlrepro.registry.CIFAR_MODELS name, or package.module:Name
    plugins: dict | None = None      # as RNNConfig's
    plugin_info: dict | None = None
    outputs: str = field(default="logits", metadata=P.meta("outputs"))
    train_metrics: str = field(default="eval", metadata=P.meta("train_metrics"))
    normalize: str = field(default="channel", metadata=P.meta("normalize"))
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = (*LOCATION_FIELDS, "plugin_info")
    PLUGGABLE: ClassVar[dict[str, dict]] = {"net": CIFAR_MODELS, "optimizer": OPTIMIZERS["cnn"]}

    @property
    def data_source(self) -> str | None:
        return "cifar10"

    def validate(self) -> CNNConfig:
        super().validate()
        registry.check("--optimizer", self.optimizer, OPTIMIZERS["cnn"])
        registry.check("--net", self.net, CIFAR_MODELS)
        _choice("augment", self.augment, AUGMENTS)
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)
        P.check_choices(self, outputs=P.OUTPUTS, train_metrics=P.TRAIN_METRICS, normalize=P.NORMALIZATIONS)
        for name in ("lr", "batch_size", "epochs"):
            _positive(name, getattr(self, name))
        for name in ("subset", "test_subset"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 0 (0 = all), got {getattr(self, name)}")
        if not isinstance(self.batch_size, int) or not isinstance(self.epochs, int):
            raise ConfigError("--batch-size and --epochs must be integers")
        _at_most("subset", self.subset, CIFAR_TRAIN)
        _at_most("test_subset", self.test_subset, CIFAR_TEST)
        _at_most("epochs", self.epochs, MAX_EPOCHS)
        _at_most("lr", self.lr, MAX_FLOAT)
        _at_most("batch_size", self.batch_size, MAX_COUNT)
        # the first conv block's output for one image (64 x 32 x 32 floats), kept for backpropagation
        memory.fits([(f"--batch-size {self.batch_size}", self.batch_size * 64 * 32 * 32 * 4,
                      "one batch's activations")])
        return self

    def default_name(self) -> str:
        net = "" if self.net == "convnet" else f"{registry.slug(self.net)}-"
        return f"cnn-{net}{registry.slug(self.optimizer)}-lr{self.lr:g}-{self.seed}-{self.config_hash()}"


CONFIG_TYPES: dict[str, type[RunConfig]] = {"mlp-numpy": MLPConfig, "mlp-torch": MLPConfig, "rnn": RNNConfig,
                                             "cnn": CNNConfig}


def config_from_dict(d: dict) -> RunConfig:
    """Rebuild a config from config.json / a study file; unknown keys are an error."""
    model = d.get("model")
    if not isinstance(model, str) or model not in CONFIG_TYPES:
        raise ConfigError(f"unknown model {model!r}; choose from {', '.join(CONFIG_TYPES)}")
    cls = CONFIG_TYPES[model]
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown setting(s) for {model}: {', '.join(unknown)}")
    kwargs: dict = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return cls(**kwargs)  # validated as it is made
