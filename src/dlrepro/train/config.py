"""Run configurations: one dataclass per model kind, validated, hashed and serialised to config.json.

A config holds everything that determines a run's numbers. Operational settings (where to write, whether
to resume, progress bars, checkpoint interval) are not part of it, so they never change a run's identity.

Each setting is a field whose metadata says what the setting is and which values it takes:
`field(default=..., metadata={"help": "one sentence for --help", "choices": ...})`, or the same through
`setting(default, help, **checks)` (dlrepro.train.settings, which lists the checks); `validate` runs them.
The `dlrepro train` flags are made from the fields that have a help (dlrepro.cli_args), so a new setting
is one field here: its flag, its --help line and its checks follow from it.
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
from dlrepro.data.cifar10 import TEST_SIZE, TRAIN_SIZE
from dlrepro.errors import ConfigError
from dlrepro.registry import CELLS, CIFAR_MODELS, DATASETS, OPTIMIZERS
from dlrepro.train import memory
from dlrepro.train import protocol as P
from dlrepro.train.settings import (
    MAX_COUNT,
    MAX_EPOCHS,
    MAX_FLOAT,
    MAX_INPUT_LENGTH,
    MAX_SEED,
    PLUGIN,
    check,
    parse_hidden,
    setting,
)

# The values each choice setting takes, for the configs' checks and the CLI's `choices=` alike (cells,
# CIFAR-10 models, optimizers and datasets: dlrepro.registry).
MLP_MODELS = ("mlp-numpy", "mlp-torch")
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda", "auto")  # auto: cuda when available
AUGMENTS = ("none", "flipcrop")
PRECISIONS = ("fp32", "bf16")

# Fields that say where the data is and how to check it, not what is computed: kept in config.json, left
# out of the run's identity (its hash and the "same run?" check), so moving the data does not orphan a run.
LOCATION_FIELDS = ("data_root", "verify_data", "cache_dir")


_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "str | None": (str, type(None)),
          "tuple[int, ...]": (tuple, list), "dict | None": (dict, type(None))}

# Fields added after runs were made: left out of config.json (and so of the identity) while they hold their
# default, so the runs made before them keep their trial ids.
OMITTED_AT_DEFAULT = ("net", "plugins", "plugin_info", *P.SETTINGS)



_EVAL_EPOCHS = "evaluate on the full train and test splits every N epochs"
_SMALL_DEVICE = ("where to train (default %(default)s; a GPU is expected to pay for --seeds populations only, see "
                 "BENCHMARKS.md, \"GPU\"). Not part of the run's identity")


@dataclass(frozen=True)
class RunConfig:
    """Fields common to every run. Subclasses add their own and extend `validate`, which runs when a config
    is made (so an invalid config never exists: a bad value is a ConfigError where it is given)."""
    model: str
    seed: int = setting(0, "random seed for weights and data order", range=(0, MAX_SEED))
    eval_every: int = setting(10, "evaluate every N steps or epochs", low=1, high=MAX_COUNT)
    # Fields kept in config.json but left out of the identity: where the run reads its data, and for the
    # small models where it computes (a device changes float rounding, not the experiment).
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = LOCATION_FIELDS
    # Settings that may name a user's class by import path, as field -> the table of built-in names
    # (dlrepro.registry); dlrepro.train.plugins checks such a class and records its hash in `plugins`.
    PLUGGABLE: ClassVar[dict[str, dict]] = {}

    def __post_init__(self) -> None:
        for f in fields(self):  # None: the dataset's default (`setting(..., by_dataset=)`)
            by_dataset = f.metadata.get("by_dataset")
            if by_dataset is not None and getattr(self, f.name) is None:
                dataset = getattr(self, "dataset", None)  # a wrong one is refused by `validate`, next
                object.__setattr__(self, f.name, by_dataset.get(dataset if isinstance(dataset, str) else "*",
                                                                by_dataset["*"]))
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
        """Each field's type, then each field's checks (its metadata: see `setting`), in field order."""
        self._check_types()
        for f in fields(self):
            check(f.name, getattr(self, f.name), f.metadata, pluggable=f.name in self.PLUGGABLE)
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
        """Equal for configs that differ only in their seed, or in their model kind's `member_settings`
        (dlrepro.registry.MODEL_KINDS: the ConvNet's optimizer and lr): such runs can train as one population,
        on one device."""
        kind = registry.MODEL_KINDS.get(self.model)
        apart = ("seed", *(kind.member_settings if kind is not None else ()))
        key = {k: v for k, v in self.identity().items() if k not in apart}
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
    model: str = field(default="mlp-numpy", metadata={"choices": MLP_MODELS})
    dataset: str = setting("moons", "toy dataset from scikit-learn (2 features, 2 classes)", choices=DATASETS,
                           required=True,
                           choice_help={"cifar10": "; or cifar10 (the MLP 3072-20-10 of Part 1, task 3)"})
    hidden: tuple[int, ...] = setting((20,), "hidden layer sizes as a comma list, e.g. 20 or 64,32", parse=parse_hidden)
    lr: float = setting(1e-2, "SGD learning rate", gt=0, high=MAX_FLOAT)
    batch_size: int = setting(1, "minibatch size", gt=0, high=MAX_COUNT, by_dataset={"cifar10": 32})
    epochs: int = setting(200, "training epochs", gt=0, high=MAX_EPOCHS)
    eval_every: int = setting(10, _EVAL_EPOCHS, low=1, high=MAX_COUNT)
    n_samples: int = setting(1000, "points generated before the split", gt=0, high=MAX_COUNT)
    data_seed: int = setting(0, "random_state of the dataset generator and split, fixed across --seed",
                             range=(0, MAX_SEED))
    dtype: str = setting("float64", "floating-point type of weights and data", choices=DTYPES,
                         by_dataset={"cifar10": "float32"})
    # dataset cifar10 only (LOCATION_FIELDS; config.json of a toy-set run has none of them):
    data_root: str | None = None     # CIFAR-10 location (see dlrepro.data.cifar10); not part of the identity
    verify_data: bool = True         # check CIFAR-10 against the official MD5s (off for re-encoded copies)
    cache_dir: str | None = None     # where the decoded CIFAR-10 arrays are cached (default: beside the data)
    device: str = setting("cpu", _SMALL_DEVICE, choices=DEVICES)  # mlp-torch only; not part of the identity
    outputs: str = P.setting_of("outputs", "logits", "mlp-torch", ("model", "mlp-torch"))
    train_metrics: str = P.setting_of("train_metrics", "eval", "dataset cifar10", ("dataset", "cifar10"))
    split: str = P.setting_of("split", "stratified", "toy datasets")
    init: str = P.setting_of("init", "uniform")
    order: str = P.setting_of("order", "each")
    normalize: str = P.setting_of("normalize", "channel", "dataset cifar10", ("dataset", "cifar10"))
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = (*LOCATION_FIELDS, "device")

    @property
    def data_source(self) -> str | None:
        return DATASETS[self.dataset].source

    def validate(self) -> MLPConfig:
        super().validate()
        if self.model == "mlp-numpy" and self.device != "cpu":
            raise ConfigError("--device: the NumPy MLP runs on the CPU only; use mlp-torch for a GPU")
        if self.dataset == "cifar10" and self.model != "mlp-torch":
            raise ConfigError("--dataset cifar10 is trained by mlp-torch only")
        P.check_mlp(self)
        if self.dataset != "cifar10" and self.n_samples < 10:
            raise ConfigError(f"--n-samples must be >= 10, got {self.n_samples}")
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
    cell: str = setting("rnn", f"recurrent cell (default %(default)s), {PLUGIN}", choices=CELLS)
    input_length: int = setting(10, "number of digits the net reads; the palindrome has one more", low=1,
                                high=MAX_INPUT_LENGTH)
    one_hot: bool = setting(False, "feed 10-dim one-hot digits instead of the digit's value as a scalar "
                                   "(the reference)")
    hidden: int = setting(128, "hidden units", gt=0, high=MAX_COUNT)
    batch_size: int = setting(128, "palindromes per step", gt=0, high=MAX_COUNT)
    optimizer: str = setting("rmsprop", f"optimizer (default %(default)s), {PLUGIN}, e.g. torch.optim:NAdam",
                             choices=OPTIMIZERS["rnn"])
    lr: float = setting(1e-3, "learning rate (default %(default)g). The reference report states 1e-2, but its curves "
                              "(length 5 perfect, 10 near step 3,000, 15 near 5,500, 20 unstable) are what 1e-3 "
                              "produces; at 1e-2 a scalar-input vanilla RNN stalls. The study runs both.",
                        gt=0, high=MAX_FLOAT)
    steps: int = setting(10_000, "training steps", gt=0, high=MAX_COUNT)
    clip: float = setting(10.0, "clip the global gradient norm to this value; 0 disables", low=0,
                          zero="disables clipping", high=MAX_FLOAT)
    eval_every: int = setting(10, "evaluate every N steps", low=1, high=MAX_COUNT)
    test_size: int = field(default=1024, metadata={"gt": 0, "high": MAX_COUNT})  # palindromes; no flag
    device: str = setting("cpu", _SMALL_DEVICE, choices=DEVICES)  # not part of the identity
    plugins: dict | None = None      # a user's classes: setting -> {"path", "sha256"} (dlrepro.train.plugins)
    plugin_info: dict | None = None  # and their module files: setting -> {"file", ...}; not in the identity
    outputs: str = P.setting_of("rnn_outputs", "logits")
    train_metrics: str = P.setting_of("rnn_train_metrics", "running")
    biases: str = P.setting_of("biases", "one", only="cell rnn")
    # LOCATION_FIELDS: as in older runs
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = (*LOCATION_FIELDS, "device", "plugin_info")
    PLUGGABLE: ClassVar[dict[str, dict]] = {"cell": CELLS, "optimizer": OPTIMIZERS["rnn"]}

    def validate(self) -> RNNConfig:
        super().validate()
        if self.biases != "one" and self.cell != "rnn":
            raise ConfigError(f"--biases {self.biases} is for the vanilla RNN only (cell rnn), not {self.cell}")
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
    optimizer: str = setting("adam", f"optimizer (default %(default)s), {PLUGIN}, e.g. torch.optim:NAdam",
                             choices=OPTIMIZERS["cnn"])
    lr: float = setting(1e-4, "learning rate", gt=0, high=MAX_FLOAT)
    batch_size: int = setting(32, "minibatch size", gt=0, high=MAX_COUNT)
    epochs: int = setting(200, "training epochs", gt=0, high=MAX_EPOCHS)
    eval_every: int = setting(10, _EVAL_EPOCHS, low=1, high=MAX_COUNT)
    augment: str = setting("none", "flipcrop: random crop with 4-pixel padding + horizontal flip", choices=AUGMENTS)
    subset: int = setting(0, "train on the first N training images, stratified by class (default %(default)s = all "
                             f"{TRAIN_SIZE:,})", low=0, zero="= all", high=TRAIN_SIZE)
    test_subset: int = setting(0, f"evaluate on the first N test images, stratified (default %(default)s = all "
                                  f"{TEST_SIZE:,})", low=0, zero="= all", high=TEST_SIZE)
    device: str = setting("auto", "where to train (default %(default)s; auto: cuda when available)", choices=DEVICES)
    precision: str = setting("fp32", "bf16: autocast matmuls/convolutions to bfloat16, weights stay fp32",
                             choices=PRECISIONS)
    channels_last: bool = setting(False, "channels-last memory format")
    compile: bool = setting(False, "torch.compile the model")
    data_root: str | None = None
    verify_data: bool = True
    cache_dir: str | None = None
    net: str = setting("convnet", f"the model (default %(default)s: the VGG-style ConvNet), {PLUGIN}",
                       choices=CIFAR_MODELS)
    plugins: dict | None = None      # as RNNConfig's
    plugin_info: dict | None = None
    outputs: str = P.setting_of("outputs", "logits")
    train_metrics: str = P.setting_of("train_metrics", "eval")
    normalize: str = P.setting_of("normalize", "channel")
    NOT_IDENTITY: ClassVar[tuple[str, ...]] = (*LOCATION_FIELDS, "plugin_info")
    PLUGGABLE: ClassVar[dict[str, dict]] = {"net": CIFAR_MODELS, "optimizer": OPTIMIZERS["cnn"]}

    @property
    def data_source(self) -> str | None:
        return "cifar10"

    def validate(self) -> CNNConfig:
        super().validate()
        # the first conv block's output for one image (64 x 32 x 32 floats), kept for backpropagation
        memory.fits([(f"--batch-size {self.batch_size}", self.batch_size * 64 * 32 * 32 * 4,
                      "one batch's activations")])
        return self

    def default_name(self) -> str:
        net = "" if self.net == "convnet" else f"{registry.slug(self.net)}-"
        return f"cnn-{net}{registry.slug(self.optimizer)}-lr{self.lr:g}-{self.seed}-{self.config_hash()}"


# The config class of each model kind, as the model kinds' table names it (dlrepro.registry.MODEL_KINDS).
CONFIG_TYPES: dict[str, type[RunConfig]] = {name: registry.load(kind.config)
                                             for name, kind in registry.MODEL_KINDS.items()}


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
