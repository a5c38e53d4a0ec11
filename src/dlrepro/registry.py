"""Every named choice, in one table per kind: model kinds, recurrent cells, CIFAR-10 models, optimizers (per
model family), datasets and the data sources they read. Adding one is one entry here.

Each entry names its class by import path (`package.module:Name`, loaded only when a run is built, so the
CLI, config checks and the report never import torch for it), its label for figures and tables, and the
facts others need (an optimizer's fused kernel, a dataset's data source). The CLI's `choices=`, the config
checks, the report's labels and the memory estimate read these tables; nothing else names a cell or an
optimizer.

Wherever a cell, a CIFAR-10 model or an optimizer is named, a user's own class may be named instead by its
import path (`my_pkg.cells:MyCell`, as Hydra's `_target_` does); `dlrepro.train.plugins` checks it before
anything runs. The contracts are in docs/extending.md.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

from dlrepro.errors import ConfigError

IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


@dataclass(frozen=True)
class Entry:
    target: str                     # "package.module:Name": the class (or factory)
    label: str                      # for figures, tables and legends
    fused: bool = False             # optimizers: torch has a fused kernel (same update, tested equal)
    source: str | None = None       # datasets: the data source read (a DATA_SOURCES key), None: generated


@dataclass(frozen=True)
class ModelKind:
    """What one model kind (`model` of a config, `dlrepro train MODEL`) is made of, each part named by import
    path (loaded only when used: the CLI's --help and the configs never import torch for it)."""
    config: str                     # its config dataclass (dlrepro.train.config)
    task: str                       # the function config -> Task (dlrepro.train.build)
    population: str | None          # the function (configs) -> PopulationTask, None: seeds train one by one
    threads: int | None             # torch threads of one `train` run: 0 one per core; None: no torch at all
    vectorize: bool                 # a sweep trains its seeds as one population on the CPU (measured)
    vectorize_gpu: bool             # ... on a GPU (expected, not measured yet: BENCHMARKS.md, "GPU")
    cost: str | None                # the function (config, members) -> seconds (dlrepro.sweep.estimate)
    help: str                       # `dlrepro train --help`'s line for it
    description: str                # `dlrepro train MODEL --help`'s paragraph
    # Settings besides the seed in which the members of one population may differ (its population task
    # takes each member's own config).
    member_settings: tuple[str, ...] = ()
    # Its population task reads the run's data source (else a config that reads one trains alone: the
    # CIFAR-10 MLP, whose kind's population is for the toy sets).
    population_reads_data: bool = False
    # Settings its population task does not implement: a config with one of them away from its default
    # trains alone.
    single_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataSource:
    label: str
    loader: str                     # "package.module:function" taking (root, verify=, cache_dir=)
    env: str                        # the environment variable that may give its location


CELLS: dict[str, Entry] = {
    "rnn": Entry("dlrepro.models.rnn:VanillaRNN", "vanilla RNN"),
    "lstm": Entry("dlrepro.models.rnn:LSTM", "LSTM"),
    "gru": Entry("dlrepro.models.gru:GRU", "GRU"),
}

CIFAR_MODELS: dict[str, Entry] = {
    "convnet": Entry("dlrepro.models.convnet:ConvNet", "VGG-style ConvNet"),
}

# Fused: one kernel over every parameter instead of a Python loop over the ConvNet's 26 tensors, several
# times faster per step on CPU than torch's default loop and than foreach. RMSprop has no fused kernel (its
# foreach version is no faster than the loop). Step times: BENCHMARKS.md ("ConvNet training throughput").
OPTIMIZERS: dict[str, dict[str, Entry]] = {
    "rnn": {"rmsprop": Entry("torch.optim:RMSprop", "RMSprop"),
            "adam": Entry("torch.optim:Adam", "Adam"),
            "sgd": Entry("torch.optim:SGD", "SGD")},
    "cnn": {"adam": Entry("torch.optim:Adam", "Adam", fused=True),
            "sgd": Entry("torch.optim:SGD", "SGD", fused=True),
            "adagrad": Entry("torch.optim:Adagrad", "Adagrad", fused=True),
            "rmsprop": Entry("torch.optim:RMSprop", "RMSprop")},
}

DATA_SOURCES: dict[str, DataSource] = {
    "cifar10": DataSource("CIFAR-10", "dlrepro.data.cifar10:load_cifar10", "DLREPRO_CIFAR10"),
}

# The MLPs' datasets: scikit-learn's toy sets (dlrepro.data.toy, generated) and CIFAR-10.
DATASETS: dict[str, Entry] = {
    "moons": Entry("dlrepro.data.toy:make_toy", "moons"),
    "circles": Entry("dlrepro.data.toy:make_toy", "circles"),
    "classification": Entry("dlrepro.data.toy:make_toy", "classification"),
    "blobs": Entry("dlrepro.data.toy:make_toy", "blobs"),
    "cifar10": Entry("dlrepro.data.cifar10:load_cifar10", "CIFAR-10", source="cifar10"),
}


ALL_CORES = 0  # ModelKind.threads: one torch thread per core

# The threads are measured (BENCHMARKS.md, "Threads"): the small models gain nothing from more than one and two
# side by side fight over the cores; the ConvNet is fastest with every core. The vectorise rules likewise
# ("Seed populations"): the batch-1 MLPs train much faster as populations, the RNN (batch 128) gains nothing
# on the CPU; the ConvNet's population (members that may differ in optimizer and lr) is grouped on a GPU only
# ("ConvNet population"). The costs: dlrepro.sweep.estimate.
_TOY = "with SGD and cross-entropy on a toy dataset (80/20 stratified split). Defaults follow the reference report."
MODEL_KINDS: dict[str, ModelKind] = {
    "mlp-numpy": ModelKind("dlrepro.train.config:MLPConfig", "dlrepro.train.build:numpy_mlp_task",
                           "dlrepro.train.build:numpy_mlp_population", None, True, False,
                           "dlrepro.sweep.estimate:mlp_seconds", "train the from-scratch NumPy MLP (Part 1)",
                           f"Train the from-scratch NumPy MLP {_TOY}"),
    "mlp-torch": ModelKind("dlrepro.train.config:MLPConfig", "dlrepro.train.build:torch_mlp_task",
                           "dlrepro.train.build:torch_mlp_population", 1, True, True,
                           "dlrepro.sweep.estimate:mlp_seconds", "train the PyTorch MLP (Part 1)",
                           f"Train the PyTorch MLP {_TOY}"),
    "rnn": ModelKind("dlrepro.train.config:RNNConfig", "dlrepro.train.build:palindrome_task",
                     "dlrepro.train.build:palindrome_population", 1, False, True,
                     "dlrepro.sweep.estimate:rnn_seconds",
                     "train a recurrent cell (vanilla RNN, LSTM, GRU) on palindromes (Part 3)",
                     "Train a recurrent net to predict the last digit of a palindrome from the first --input-length "
                     "digits (so it must remember the first digit). Fresh batches every step; a fixed test set of "
                     "1,024 palindromes (held out from training from input length 10 on; shorter lengths have too "
                     "few distinct palindromes)."),
    "cnn": ModelKind("dlrepro.train.config:CNNConfig", "dlrepro.train.build:cnn_task",
                     "dlrepro.train.cnn_population:build_cnn_population", ALL_CORES, False, True,
                     "dlrepro.sweep.estimate:cnn_seconds", "train the VGG-style ConvNet on CIFAR-10 (Part 2)",
                     "Train the 9.23M-parameter VGG-style ConvNet (8 conv+BatchNorm+ReLU layers, 5 max-pools, 1 "
                     "linear layer) on CIFAR-10. Defaults follow the reference: Adam lr 1e-4, batch 32, 200 epochs, "
                     "no augmentation.",
                     member_settings=("optimizer", "lr"), population_reads_data=True, single_only=("order", "compile")),
}


class Choices(tuple[str, ...]):
    """A table's names as argparse `choices=`: iterates (and so shows in --help) as the names, and also
    contains every import path `package.module:Name` (a user's own class, checked later)."""

    def __new__(cls, table: dict):
        return super().__new__(cls, tuple(table))

    def __contains__(self, value) -> bool:
        return super().__contains__(value) or is_import_path(value)


def is_import_path(value) -> bool:
    return isinstance(value, str) and IMPORT_PATH.fullmatch(value) is not None


def check(flag: str, value, table: dict, plugins: bool = True) -> None:
    """ConfigError unless `value` names an entry of `table` (or, with `plugins`, is an import path)."""
    if isinstance(value, str) and (value in table or (plugins and is_import_path(value))):
        return
    extra = ", or a class as package.module:Name" if plugins else ""
    raise ConfigError(f"{flag}: unknown value {value!r}; choose from {', '.join(table)}{extra}")


def target(value: str, table: dict) -> str:
    """The import path of a table's name, or `value` itself (a user's import path)."""
    return table[value].target if value in table else value


def label(value: str, table: dict) -> str:
    """A choice's label; a user's class by its class name (its module is never imported for it)."""
    return table[value].label if value in table else value.rpartition(":")[2]


def slug(value: str) -> str:
    """A choice as it appears in run and file names: the name, or a user's class by its class name."""
    return value.rpartition(":")[2].lower() if is_import_path(value) else value


def load(path: str):
    """The object an import path `package.module:Name` names. ImportError / AttributeError as Python's."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
