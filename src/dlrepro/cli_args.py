"""The command line's flags: `dlrepro train MODEL`'s made from the config dataclass's fields (each setting's
help and checks are its field's metadata, dlrepro.train.settings.setting), and the flag groups several
commands share (where the runs go, CIFAR-10's location, the sweep backends), each written once.

A setting's flag is --NAME for field NAME, with the field's type (int, float, a comma list), default and
choices; a bool field is a switch (--NAME, or --no-NAME when it is on by default). The help is the
field's, ending with "(default ...)" unless it places the default itself. Fields without a help (model,
test_size, plugins) have no flag, the location fields (LOCATION_FIELDS) are the data flags, and `seed`
goes with the run flags (beside --seeds).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from dlrepro import registry
from dlrepro.registry import DATASETS, MODEL_KINDS, Choices, ModelKind
from dlrepro.studies.spec import DEFAULT_PROFILE, PROFILES
from dlrepro.train.config import LOCATION_FIELDS, RunConfig
from dlrepro.train.settings import flag_name

EXIT_USAGE = 2
TENSORBOARD = "also write TensorBoard event files {} (pip install 'dlrepro[tensorboard]')"


def error_line(message: str) -> str:
    """`dlrepro: error: MESSAGE` on one line: a newline inside a value (a path, a --set value) is shown as \\n."""
    return "dlrepro: error: " + message.replace("\r", "\\r").replace("\n", "\\n") + "\n"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) with the same prefix as every other error,
    `dlrepro: error:` (the subcommand follows it), and exit code 2."""

    def error(self, message: str):
        command = self.prog.removeprefix("dlrepro").strip()
        self.exit(EXIT_USAGE, error_line(f"{command}: {message}" if command else message))


def setting_fields(cls: type[RunConfig]) -> list[dataclasses.Field]:
    """The config's fields in the order its own class body declares them (a field it re-declares, such as
    eval_every, where it re-declares it), then the inherited ones: the order of the flags in --help."""
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    own = [n for n in cls.__dict__.get("__annotations__", {}) if n in by_name]
    return [by_name[n] for n in dict.fromkeys([*own, *by_name])]


def _uses_torch(kind: ModelKind) -> bool:
    return kind.threads is not None  # a kind without torch has no device, threads or data source


def add_train_command(sub, model: str) -> argparse.ArgumentParser:
    """`dlrepro train MODEL`: a flag per setting of the kind's config, then the threads and run flags."""
    kind = MODEL_KINDS[model]
    cls = registry.load(kind.config)
    p = sub.add_parser(model, help=kind.help, description=kind.description)
    torch = _uses_torch(kind)
    offered = {name for name, entry in DATASETS.items() if torch or entry.source is None}
    data_flags = threads = False
    for f in setting_fields(cls):
        if f.name in LOCATION_FIELDS and torch and not data_flags:
            add_data_flags(p)
            data_flags = True
        if f.name == "device" and torch:  # --threads beside --device: both say where the run computes
            add_threads_flag(p, kind)
            threads = True
        what, value = f.metadata.get("applies", (None, None))
        if (what == "model" and value != model) or (what == "dataset" and value not in offered):
            continue  # a setting no run of this command means anything for
        if "help" in f.metadata and f.name != "seed" and (torch or f.name != "device"):
            _add_setting(p, f, cls, offered)
    if torch and not threads:
        add_threads_flag(p, kind)
    add_run_flags(p, {f.name: f for f in dataclasses.fields(cls)}["seed"], seeds=kind.population is not None)
    p.set_defaults(model=model)
    return p


def _add_setting(p: argparse.ArgumentParser, f: dataclasses.Field, cls: type[RunConfig], offered: set[str]) -> None:
    checks = f.metadata
    text = re.sub(r"%(?!\(default\))", "%%", checks["help"])  # a literal % (argparse formats the help)
    if f.type == "bool":  # a switch away from the default: --name, or --no-name for a setting on by default
        switch = "--no-" + flag_name(f.name)[2:] if f.default else flag_name(f.name)
        p.add_argument(switch, dest=f.name, action="store_false" if f.default else "store_true", help=text)
        return
    kw: dict[str, Any] = {}
    if f.type in ("int", "float"):
        kw["type"] = int if f.type == "int" else float
    choices = checks.get("choices")
    if isinstance(choices, dict) and f.name in cls.PLUGGABLE:
        kw["choices"] = Choices(choices)
    elif isinstance(choices, dict):
        kw["choices"] = tuple(c for c in choices if c in offered or choices[c].source is None)
    elif choices is not None:
        kw["choices"] = choices
    text += "".join(extra for c, extra in checks.get("choice_help", {}).items() if c in kw.get("choices", ()))
    if checks.get("required"):
        kw["required"] = True
    elif "by_dataset" in checks:
        by = checks["by_dataset"]
        kw["default"] = None
        text += f" (default {by['*']}" + "".join(f"; {v} for {d}" for d, v in by.items() if d in offered) + ")"
    else:
        kw["default"] = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        if "%(default" not in text:
            text += " (default %(default)g)" if f.type == "float" else " (default %(default)s)"
    p.add_argument(flag_name(f.name), help=text, **kw)


def config_from_args(a: argparse.Namespace) -> RunConfig:
    """The config the `train` flags give: each setting's flag (a comma list read by its field's `parse`),
    and CIFAR-10's location for a kind that has the data flags. Validated as it is made."""
    cls = registry.load(MODEL_KINDS[a.model].config)
    given = vars(a)
    values: dict[str, Any] = {"model": a.model}
    for f in dataclasses.fields(cls):
        if "help" in f.metadata and f.name in given:
            value = given[f.name]
            values[f.name] = f.metadata["parse"](value) if "parse" in f.metadata and isinstance(value, str) else value
    config: RunConfig = cls(**values)
    return config.with_location(data_location(a)) if "data_root" in given else config


def add_threads_flag(p: argparse.ArgumentParser, kind: ModelKind) -> None:
    default = ("all cores" if kind.threads == registry.ALL_CORES else
               f"{kind.threads}, so that runs side by side do not fight over the cores; all cores for --seeds")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help=f"torch threads (default {default}, as measured fastest in BENCHMARKS.md, \"Threads\"; "
                        "an OMP_NUM_THREADS you set is respected)")


def add_run_flags(p: argparse.ArgumentParser, seed: dataclasses.Field, seeds: bool = False) -> None:
    """--seed (or --seeds, for a kind that trains seeds as one population), --out, --resume and the rest:
    what a single run is given besides its settings."""
    seed_flags = p.add_mutually_exclusive_group() if seeds else p
    seed_flags.add_argument("--seed", type=int, default=seed.default,
                            help=seed.metadata["help"] + " (default %(default)s)")
    if seeds:
        seed_flags.add_argument("--seeds", metavar="LIST", default=None,
                                help="train several seeds, e.g. 0-7 or 0,3,5: at once as one population (stacked "
                                     "weights, batched matmuls; each member exactly its single run), one run "
                                     "directory per seed: --out DIR/seed-<k>, or each seed's default")
        p.add_argument("--no-vectorize", action="store_true",
                       help="with --seeds: train the seeds one after another instead of as one population")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/<model>-...-<seed>-<config hash>)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--tensorboard", action="store_true", help=TENSORBOARD.format("to <run>/tensorboard"))
    p.add_argument("--checkpoint-every", type=float, default=10.0, metavar="SECONDS",
                   help="least wall time between checkpoints, taken at evaluations; the last evaluation "
                        "is always checkpointed (default 10)")


NO_VERIFY = ("skip the official MD5 checks (an image-folder copy, such as a JPEG folder, needs no flag: its counts, "
             "image size and mode are checked instead; this flag also skips those, for a subset or custom copy)")
CACHE_DIR = "where to keep the decoded CIFAR-10 arrays (default: beside the data, or ~/.cache/dlrepro)"


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """CIFAR-10's location: --data-root, --no-verify, --cache-dir (the config's LOCATION_FIELDS)."""
    p.add_argument("--data-root", metavar="DIR",
                   help="CIFAR-10: the official cifar-10-python.tar.gz (or its folder), an image-folder copy, or "
                        "an archive of either (default: $DLREPRO_CIFAR10)")
    p.add_argument("--no-verify", action="store_true", help=NO_VERIFY)
    p.add_argument("--cache-dir", metavar="DIR", help=CACHE_DIR)


def data_location(a: argparse.Namespace) -> dict:
    """The CIFAR-10 flags as config location fields (see dlrepro.train.config.LOCATION_FIELDS)."""
    return {"data_root": a.data_root, "verify_data": not a.no_verify, "cache_dir": a.cache_dir}


def add_backend_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: Ray Tune trials on a local Ray, "
                        "or on a cluster with --ray-address (pip install 'dlrepro[ray]'). Same runs either way")
    p.add_argument("--ray-address", metavar="ADDR", default=None,
                   help="with --backend ray: join this Ray cluster (e.g. auto, or HEAD_IP:6379) instead of "
                        "starting a local Ray; --out must be on storage every node sees")
    p.add_argument("--tensorboard", action="store_true", help=TENSORBOARD.format("into each run"))
    p.add_argument("--no-vectorize", action="store_true",
                   help="local backend: run every trial on its own. By default, trials that differ only in seed "
                        "train as one population: the batch-1 MLPs, measured faster that way on CPU (BENCHMARKS.md), "
                        "and on a GPU also the RNN (expected, not yet measured)")
    p.add_argument("--trial-timeout", type=float, default=None, metavar="SECONDS",
                   help="stop a trial (or seed population) that runs longer and record it as failed; its run "
                        "stays resumable. Local backend: trials then run in worker processes even with --workers 1; "
                        "Ray: checked at each metrics row (default: no limit)")
    p.add_argument("--trials-per-gpu", type=int, default=1, metavar="K",
                   help="trials sharing each GPU at once (ConvNet trials, and small models given --device cuda), "
                        "for trials too small to fill one (default 1); the local pool then runs K workers per GPU, "
                        "Ray gives each trial 1/K of a GPU")


def add_study_run_flags(p: argparse.ArgumentParser) -> None:
    """--profile, --out, --workers, --set, --explain, --dry-run and --quiet, shared by sweep and reproduce, then
    the data and backend flags."""
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"{', '.join(PROFILES)} or a profile the study file defines ([profiles.NAME]); smoke: "
                        "seconds; quick: minutes on 2 CPU cores; full: the reference settings (default %(default)s)")
    p.add_argument("--out", default="results", metavar="DIR", help="output directory (default %(default)s)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel worker processes (default: number of CPU cores)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a setting for every trial (steps=2000), or replace or make a grid axis with a "
                        "list (seed=[0,1,2]); the value is read as TOML (strings in a list need quotes), checked "
                        "like the study file. Repeatable")
    p.add_argument("--explain", action="store_true",
                   help="also run, for each protocol the profile runs besides stated (as-run), each of its settings "
                        "switched alone from the stated ones (protocols as-run:outputs, ...); the report then names, "
                        "for each claim whose verdict changes, the setting(s) that alone change it")
    p.add_argument("--dry-run", action="store_true",
                   help="print the trials (id, the settings that differ between them, done or to run) and run "
                        "nothing")
    p.add_argument("--quiet", action="store_true",
                   help="print only failed trials and the closing summary, not a line per trial")
    add_data_flags(p)
    add_backend_flags(p)
