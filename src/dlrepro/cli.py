"""The `dlrepro` command line: train single runs, reproduce the studies, prepare data.

Every user error (a bad option value, a run directory that holds another run, a missing or corrupt
dataset) is printed as one line `dlrepro: error: ...` and exits with code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dlrepro.errors import DlreproError, os_error_text
from dlrepro.registry import CELLS, CIFAR_MODELS, DATASETS, OPTIMIZERS, Choices
from dlrepro.studies.spec import DEFAULT_PROFILE, PROFILES
from dlrepro.train.config import AUGMENTS, DEVICES, DTYPES, PRECISIONS, CNNConfig, MLPConfig, RNNConfig, RunConfig

if TYPE_CHECKING:
    from dlrepro.sweep.trials import SweepOptions

EXIT_USAGE = 2
PLUGIN = "or a class of your own as package.module:Name (README, \"Extending dlrepro\")"


def default(cls: type[RunConfig], name: str):
    """The config dataclass's default for setting `name`: each flag's default, written once."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def _setting(p, cls: type[RunConfig], name: str, **kw) -> None:
    """The flag --NAME of config setting `name`: its default (and type, int or float) from the dataclass
    `cls`; the help shows it as %(default)s."""
    kind = {"int": int, "float": float}.get(next(str(f.type) for f in dataclasses.fields(cls) if f.name == name))
    p.add_argument("--" + name.replace("_", "-"), default=default(cls, name), **({"type": kind} if kind else {}), **kw)


def error_line(message: str) -> str:
    """`dlrepro: error: MESSAGE` on one line: a newline inside a value (a path, a --set value) is shown as \\n."""
    return "dlrepro: error: " + message.replace("\r", "\\r").replace("\n", "\\n") + "\n"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) with the same prefix as every other error,
    `dlrepro: error:` (the subcommand follows it), and exit code 2."""

    def error(self, message: str):
        command = self.prog.removeprefix("dlrepro").strip()
        self.exit(EXIT_USAGE, error_line(f"{command}: {message}" if command else message))


def _add_run_flags(p: argparse.ArgumentParser, seeds: bool = False) -> None:
    seed_flags = p.add_mutually_exclusive_group() if seeds else p
    _setting(seed_flags, RunConfig, "seed", help="random seed for weights and data order (default %(default)s)")
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
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files to <run>/tensorboard (pip install 'dlrepro[tensorboard]')")
    p.add_argument("--checkpoint-every", type=float, default=10.0, metavar="SECONDS",
                   help="least wall time between checkpoints, taken at evaluations; the last evaluation "
                        "is always checkpointed (default 10)")


def _add_threads_flag(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help=f"torch threads (default {default}, as measured fastest in BENCHMARKS.md, \"Threads\"; "
                        "an OMP_NUM_THREADS you set is respected)")


def _add_small_device_flag(p: argparse.ArgumentParser) -> None:
    _add_threads_flag(p, "1, so that runs side by side do not fight over the cores; all cores for --seeds")
    _setting(p, RNNConfig, "device", choices=DEVICES,
             help="where to train (default %(default)s; a GPU is expected to pay for --seeds populations only, "
                  "see BENCHMARKS.md, \"GPU\"). Not part of the run's identity")


def _add_mlp(sub) -> None:
    for model, what in (("mlp-numpy", "the from-scratch NumPy MLP"), ("mlp-torch", "the PyTorch MLP")):
        p = sub.add_parser(model, help=f"train {what} (Part 1)",
                           description=f"Train {what} with SGD and cross-entropy on a toy dataset "
                                       "(80/20 stratified split). Defaults follow the reference report.")
        datasets = tuple(d for d, e in DATASETS.items() if model == "mlp-torch" or e.source is None)
        p.add_argument("--dataset", required=True, choices=datasets,
                       help="toy dataset from scikit-learn (2 features, 2 classes)"
                            + ("; or cifar10 (the MLP 3072-20-10 of Part 1, task 3)" if model == "mlp-torch" else ""))
        p.add_argument("--hidden", default=",".join(map(str, default(MLPConfig, "hidden"))),
                       help="hidden layer sizes as a comma list, e.g. 20 or 64,32 (default %(default)s)")
        _setting(p, MLPConfig, "lr", help="SGD learning rate (default %(default)g)")
        p.add_argument("--batch-size", type=int, default=None,
                       help=f"minibatch size (default {default(MLPConfig, 'batch_size')}"
                            + ("; 32 for cifar10)" if model == "mlp-torch" else ")"))
        _setting(p, MLPConfig, "epochs", help="training epochs (default %(default)s)")
        _setting(p, MLPConfig, "eval_every", help="evaluate on the full train and test splits every N epochs (default "
                                                  "%(default)s)")
        _setting(p, MLPConfig, "n_samples", help="points generated before the split (default %(default)s)")
        _setting(p, MLPConfig, "data_seed", help="random_state of the dataset generator and split, fixed across "
                                                 "--seed (default %(default)s)")
        p.add_argument("--dtype", choices=DTYPES, default=None,
                       help=f"floating-point type of weights and data (default {default(MLPConfig, 'dtype')}"
                            + ("; float32 for cifar10)" if model == "mlp-torch" else ")"))
        if model == "mlp-torch":
            _add_data_flags(p)
            _add_small_device_flag(p)
        _add_run_flags(p, seeds=True)
        p.set_defaults(func=_cmd_train_mlp, model=model)


def _add_rnn(sub) -> None:
    p = sub.add_parser("rnn", help="train a recurrent cell (vanilla RNN, LSTM, GRU) on palindromes (Part 3)",
                       description="Train a recurrent net to predict the last digit of a palindrome from the "
                                   "first --input-length digits (so it must remember the first digit). Fresh "
                                   "batches every step; a fixed test set of 1,024 palindromes (held out from "
                                   "training from input length 10 on; shorter lengths have too few distinct "
                                   "palindromes).")
    _setting(p, RNNConfig, "cell", choices=Choices(CELLS), help=f"recurrent cell (default %(default)s), {PLUGIN}")
    _setting(p, RNNConfig, "input_length", help="number of digits the net reads; the palindrome has one more (default "
                                                "%(default)s)")
    p.add_argument("--one-hot", action="store_true",
                   help="feed 10-dim one-hot digits instead of the digit's value as a scalar (the reference)")
    _setting(p, RNNConfig, "hidden", help="hidden units (default %(default)s)")
    _setting(p, RNNConfig, "batch_size", help="palindromes per step (default %(default)s)")
    _setting(p, RNNConfig, "optimizer", choices=Choices(OPTIMIZERS["rnn"]), help=f"optimizer (default %(default)s), "
                                                                                  f"{PLUGIN}, e.g. torch.optim:NAdam")
    _setting(p, RNNConfig, "lr",
             help="learning rate (default %(default)g). The reference report states 1e-2, but its curves "
                  "(length 5 perfect, 10 near step 3,000, 15 near 5,500, 20 unstable) are what 1e-3 "
                  "produces; at 1e-2 a scalar-input vanilla RNN stalls. The study runs both.")
    _setting(p, RNNConfig, "steps", help="training steps (default %(default)s)")
    _setting(p, RNNConfig, "clip", help="clip the global gradient norm to this value; 0 disables (default %(default)g)")
    _setting(p, RNNConfig, "eval_every", help="evaluate every N steps (default %(default)s)")
    _add_small_device_flag(p)
    _add_run_flags(p, seeds=True)
    p.set_defaults(func=_cmd_train_rnn)


def _cmd_train_rnn(a) -> int:
    cfg = RNNConfig(cell=a.cell, input_length=a.input_length, one_hot=a.one_hot, hidden=a.hidden,
                    batch_size=a.batch_size, optimizer=a.optimizer, lr=a.lr, steps=a.steps, clip=a.clip,
                    eval_every=a.eval_every, seed=a.seed, device=a.device)
    return _run(cfg, a)


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", metavar="DIR",
                   help="CIFAR-10: the official cifar-10-python.tar.gz (or its folder), an image-folder copy, or "
                        "an archive of either (default: $DLREPRO_CIFAR10)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the official MD5 checks (an image-folder copy, such as a JPEG folder, needs no flag: "
                        "its counts, image size and mode are checked instead; this flag also skips those, for a "
                        "subset or custom copy)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="where to keep the decoded CIFAR-10 arrays (default: beside the data, or ~/.cache/dlrepro)")


def _data_location(a) -> dict:
    """The CIFAR-10 flags as config location fields (see dlrepro.train.config.LOCATION_FIELDS)."""
    return {"data_root": a.data_root, "verify_data": not a.no_verify, "cache_dir": a.cache_dir}


def _mlp_config(a):
    from dlrepro.train.config import parse_hidden

    cifar = a.dataset == "cifar10"  # its own defaults: batch 32, float32
    batch, dtype = (32, "float32") if cifar else (default(MLPConfig, "batch_size"), default(MLPConfig, "dtype"))
    cfg = MLPConfig(model=a.model, dataset=a.dataset, hidden=parse_hidden(a.hidden), lr=a.lr,
                    batch_size=a.batch_size if a.batch_size is not None else batch,
                    epochs=a.epochs, eval_every=a.eval_every, n_samples=a.n_samples, data_seed=a.data_seed,
                    dtype=a.dtype or dtype, seed=a.seed,
                    **({"device": a.device} if a.model == "mlp-torch" else {}))
    return cfg.with_location(_data_location(a)) if a.model == "mlp-torch" else cfg


def _add_cnn(sub) -> None:
    p = sub.add_parser("cnn", help="train the VGG-style ConvNet on CIFAR-10 (Part 2)",
                       description="Train the 9.23M-parameter VGG-style ConvNet (8 conv+BatchNorm+ReLU layers, "
                                   "5 max-pools, 1 linear layer) on CIFAR-10. Defaults follow the reference: "
                                   "Adam lr 1e-4, batch 32, 200 epochs, no augmentation.")
    _add_data_flags(p)
    _setting(p, CNNConfig, "net", choices=Choices(CIFAR_MODELS), help=f"the model (default %(default)s: the VGG-style "
                                                                       f"ConvNet), {PLUGIN}")
    _setting(p, CNNConfig, "optimizer", choices=Choices(OPTIMIZERS["cnn"]), help=f"optimizer (default %(default)s), "
                                                                                  f"{PLUGIN}, e.g. torch.optim:NAdam")
    _setting(p, CNNConfig, "lr", help="learning rate (default %(default)g)")
    _setting(p, CNNConfig, "batch_size", help="minibatch size (default %(default)s)")
    _setting(p, CNNConfig, "epochs", help="training epochs (default %(default)s)")
    _setting(p, CNNConfig, "eval_every", help="evaluate on the full train and test splits every N epochs (default "
                                              "%(default)s)")
    _setting(p, CNNConfig, "augment", choices=AUGMENTS, help="flipcrop: random crop with 4-pixel padding + horizontal "
                                                             "flip (default %(default)s)")
    _setting(p, CNNConfig, "subset", help="train on the first N training images, stratified by class (default "
                                          "%(default)s = all 50,000)")
    _setting(p, CNNConfig, "test_subset", help="evaluate on the first N test images, stratified (default %(default)s "
                                               "= all 10,000)")
    _setting(p, CNNConfig, "device", choices=DEVICES, help="where to train (default %(default)s; auto: cuda when "
                                                           "available)")
    _setting(p, CNNConfig, "precision", choices=PRECISIONS, help="bf16: autocast matmuls/convolutions to bfloat16, "
                                                                 "weights stay fp32 (default %(default)s)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    _add_threads_flag(p, "all cores")
    _add_run_flags(p)
    p.set_defaults(func=_cmd_train_cnn)


def _cmd_train_cnn(a) -> int:
    cfg = CNNConfig(net=a.net, optimizer=a.optimizer, lr=a.lr, batch_size=a.batch_size, epochs=a.epochs,
                    eval_every=a.eval_every, augment=a.augment, subset=a.subset, test_subset=a.test_subset,
                    device=a.device, precision=a.precision, channels_last=a.channels_last, compile=a.compile,
                    seed=a.seed, **_data_location(a))
    return _run(cfg, a)


def _cmd_data_cifar10(a) -> int:
    from dlrepro.data.cifar10 import prepare

    print(prepare(a.root, download=a.download, verify=not a.no_verify, cache_dir=a.cache_dir))
    return 0


def _run(config, a) -> int:
    import dataclasses

    from dlrepro.runs.execute import execute_seeds
    from dlrepro.train.config import parse_seeds
    from dlrepro.train.threads import set_threads, train_threads

    if not a.checkpoint_every >= 0:  # NaN too
        raise DlreproError(f"--checkpoint-every must be >= 0, got {a.checkpoint_every}")
    threads = getattr(a, "threads", None)
    if threads is not None and not 1 <= threads <= 1024:
        raise DlreproError(f"--threads must be between 1 and 1024, got {threads}")
    seeds = getattr(a, "seeds", None)
    if seeds is None:
        configs, outs = [config], [a.out]
    else:
        configs = [dataclasses.replace(config, seed=s) for s in parse_seeds(seeds)]
        outs = [Path(a.out) / f"seed-{c.seed}" if a.out else None for c in configs]
    vectorize = seeds is not None and not a.no_vectorize
    set_threads(train_threads(configs, threads, population=vectorize))
    results = execute_seeds(configs, outs, vectorize=vectorize,
                            tensorboard=a.tensorboard, resume=a.resume, progress=False if a.quiet else None,
                            checkpoint_every_s=a.checkpoint_every)

    def fmt(x):
        return "n/a" if x is None else f"{x:.4f}"

    for run, summary in results:
        assert summary is not None  # a run another process writes raised RunBusy
        final = summary["final"]
        print(f"{summary['status']}: {summary['steps']} steps in {summary['wall_time_s']:.1f} s; "
              f"train acc {fmt(final['train_acc'])}, test acc {fmt(final['test_acc'])} "
              f"(best {fmt(summary['best_test_acc'])}) -> {run.path}")
    return 0


def _cmd_train_mlp(a) -> int:
    return _run(_mlp_config(a), a)


def _add_backend_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: Ray Tune trials on a local Ray, "
                        "or on a cluster with --ray-address (pip install 'dlrepro[ray]'). Same runs either way")
    p.add_argument("--ray-address", metavar="ADDR", default=None,
                   help="with --backend ray: join this Ray cluster (e.g. auto, or HEAD_IP:6379) instead of "
                        "starting a local Ray; --out must be on storage every node sees")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files into each run (pip install 'dlrepro[tensorboard]')")
    p.add_argument("--no-vectorize", action="store_true",
                   help="local backend: run every trial on its own. By default, trials that differ only in seed "
                        "train as one population: the batch-1 MLPs, measured faster that way on CPU (BENCHMARKS.md), "
                        "and on a GPU also the RNN (expected, not yet measured)")
    p.add_argument("--trials-per-gpu", type=int, default=1, metavar="K",
                   help="trials sharing each GPU at once (ConvNet trials, and small models given --device cuda), "
                        "for trials too small to fill one (default 1); the local pool then runs K workers per GPU, "
                        "Ray gives each trial 1/K of a GPU")


def _options(a) -> SweepOptions:
    """The sweep flags of `sweep` and `reproduce`, checked, as one options object."""
    from dlrepro.sweep.trials import SweepOptions

    if a.workers is not None and a.workers < 1:
        raise DlreproError(f"--workers must be >= 1, got {a.workers}")
    _check_backend(a)
    return SweepOptions(workers=a.workers, data=_data_location(a), backend=a.backend, address=a.ray_address,
                        tensorboard=a.tensorboard, vectorize=not a.no_vectorize, trials_per_gpu=a.trials_per_gpu,
                        quiet=a.quiet)


def _check_backend(a) -> None:
    if a.trials_per_gpu < 1:
        raise DlreproError(f"--trials-per-gpu must be >= 1, got {a.trials_per_gpu}")
    if a.ray_address is not None and a.backend != "ray":
        raise DlreproError("--ray-address needs --backend ray")
    if a.backend == "ray":
        from dlrepro.sweep.ray_backend import require_ray

        require_ray()  # before anything runs: without Ray, one line saying how to install it


def _sets(a) -> dict:
    """--set KEY=VALUE flags as {key: value} (a later one for the same key wins)."""
    from dlrepro.studies.spec import parse_set

    return dict(parse_set(text) for text in a.set or [])


def _cmd_reproduce(a) -> int:
    from dlrepro.report.registry import STUDIES
    from dlrepro.reproduce import plan_lines, reproduce
    from dlrepro.studies.claim_checks import check_claims, claim_plan
    from dlrepro.sweep.study import plan, select_studies

    only = None
    if a.only:
        only = [s.strip() for s in a.only.split(",")]
        unknown = [s for s in only if s not in STUDIES]
        if unknown:
            raise DlreproError(f"--only: unknown study {unknown[0]!r}; choose from {', '.join(STUDIES)}")
    options = _options(a)
    if a.dry_run:
        studies = select_studies(only or STUDIES, a.profile, _sets(a))
        for study in studies:
            check_claims(study)
        print("\n".join(plan_lines(studies, a.profile, Path(a.out), options)))
        for study in studies:
            print("\n".join(plan(study, a.profile, Path(a.out), options.data) + claim_plan(study, a.profile)))
        return 0
    _, failed = reproduce(a.out, a.profile, options, only=only, sets=_sets(a))
    return 1 if failed else 0


def _cmd_report(a) -> int:
    from dlrepro.report.build import build_report

    if not Path(a.dir).is_dir():
        raise DlreproError(f"report: {a.dir} is not a directory")
    report, _ = build_report(a.dir)
    print(f"report: {report} and {Path(a.dir) / 'report.html'}")
    return 0


def _cmd_studies(a) -> int:
    from dlrepro.report.tables import markdown_table
    from dlrepro.studies.spec import builtin_names, builtin_source, load_study

    if a.show:
        print(builtin_source(a.show), end="")
        return 0
    rows = []
    for name in builtin_names():
        study = load_study(name)
        rows.append([name, study.title, ", ".join(f"{p} {len(study.all_trials(p))}" for p in study.profiles),
                     len(study.claims)])
    print(markdown_table(["study", "title", "trials per profile", "claims"], rows))
    print("\nRun one: dlrepro sweep NAME --profile smoke. Copy one to edit: dlrepro studies --show NAME > my.toml, "
          "give it its own [study] name, then dlrepro sweep my.toml.")
    return 0


def _cmd_sweep(a) -> int:
    from dlrepro.report.tables import markdown_table
    from dlrepro.studies.claim_checks import check_claims, claim_plan
    from dlrepro.studies.spec import load_study
    from dlrepro.sweep.study import check_source, plan, sources, sweep
    from dlrepro.sweep.table import RUNS_CSV
    from dlrepro.text import fmt

    options = _options(a)
    study = load_study(a.study)
    sets = _sets(a)
    if sets:
        study = study.with_sets(sets, a.profile)
    else:
        study.trials(a.profile)  # an undefined profile: one line, before anything runs
    check_claims(study)  # a claim that cannot be judged: one line, before anything runs
    if a.dry_run:
        print("\n".join(plan(study, a.profile, Path(a.out), options.data) + claim_plan(study, a.profile)))
        return 0
    for source in sources(study, a.profile):  # each once, before any trial
        reason = check_source(source, options.data)[1]
        if reason is not None:
            raise DlreproError(reason)
    results = sweep(study, a.profile, Path(a.out), options)
    failed = sum(r.status == "failed" for r in results)
    table = Path(a.out) / "runs" / study.name / RUNS_CSV
    if a.quiet:
        print(f"{study.name}: {len(results)} trial(s), {failed} failed -> {table}")
    else:
        rows = [[r.name, r.status, fmt((r.summary or {}).get("final", {}).get("test_acc")), r.error or ""]
                for r in results]
        print(markdown_table(["trial", "status", "final test acc", "error"], rows))
        print(f"table: {table}")
    return 1 if failed else 0


def _add_study_run_flags(p: argparse.ArgumentParser) -> None:
    """--profile, --out, --workers, --set, --dry-run and --quiet, shared by sweep and reproduce."""
    p.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE,
                   help="smoke: seconds; quick: minutes on 2 CPU cores; full: the reference settings "
                        "(default %(default)s)")
    p.add_argument("--out", default="results", metavar="DIR", help="output directory (default %(default)s)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel worker processes (default: number of CPU cores)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a setting for every trial (steps=2000), or replace or make a grid axis with a "
                        "list (seed=[0,1,2]); the value is read as TOML (strings in a list need quotes), checked "
                        "like the study file. Repeatable")
    p.add_argument("--dry-run", action="store_true",
                   help="print the trials (id, the settings that differ between them, done or to run) and run "
                        "nothing")
    p.add_argument("--quiet", action="store_true",
                   help="print only failed trials and the closing summary, not a line per trial")


def build_parser() -> Parser:
    parser = Parser(prog="dlrepro", description="Reproduce a classic deep-learning course study: MLPs "
                    "(NumPy and PyTorch), a VGG ConvNet on CIFAR-10, and recurrent nets on palindromes.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__import__('dlrepro').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    train = sub.add_parser("train", help="train one model into a run directory",
                           description="Train one model; writes config.json, metrics.jsonl, summary.json, "
                                       "a checkpoint and curves.png into the run directory.")
    train_sub = train.add_subparsers(dest="model", required=True, parser_class=Parser, metavar="MODEL")
    _add_mlp(train_sub)
    _add_rnn(train_sub)
    _add_cnn(train_sub)

    data = sub.add_parser("data", help="prepare and verify a dataset",
                          description="Prepare a dataset: decode it once into a memory-mapped cache and check it.")
    data_sub = data.add_subparsers(dest="dataset", required=True, parser_class=Parser, metavar="DATASET")
    cifar = data_sub.add_parser("cifar10", help="prepare CIFAR-10 and print counts per class",
                                description="Find CIFAR-10 under --root (official archive or folder, an image-folder "
                                            "copy, or an archive of either), verify it, cache the decoded arrays "
                                            "and print the counts per class. Nothing is downloaded unless asked.")
    cifar.add_argument("--root", metavar="DIR", help="where the dataset is or goes (default: $DLREPRO_CIFAR10)")
    cifar.add_argument("--download", action="store_true",
                       help="fetch the official cifar-10-python.tar.gz (MD5-checked) when none is found")
    cifar.add_argument("--no-verify", action="store_true",
                       help="skip the official MD5 checks (an image-folder copy, such as a JPEG folder, needs no "
                            "flag: its counts, image size and mode are checked instead; this flag also skips those)")
    cifar.add_argument("--cache-dir", metavar="DIR", help="where to keep the decoded .npy cache "
                                                          "(default: beside the data, or ~/.cache/dlrepro)")
    cifar.set_defaults(func=_cmd_data_cifar10)

    rep = sub.add_parser("reproduce", help="run every study, then write the report (figures, tables, claims)",
                         description="Run the four built-in studies (`dlrepro studies`) with --profile into "
                                     "--out/runs, skipping runs that are already complete, then write report.md, "
                                     "report.html, claims.json and figures/ (as `dlrepro report` does) and print "
                                     "the count of claims per verdict. A --set applies to each study that has "
                                     "that setting or grid axis (steps: the palindrome study; epochs: the "
                                     "others); a key no study has is an error. Exit code 1 if a trial failed.")
    rep.add_argument("--only", default=None, help="comma list of studies to run (default: all)")
    _add_study_run_flags(rep)
    _add_data_flags(rep)
    _add_backend_flags(rep)
    rep.set_defaults(func=_cmd_reproduce)
    sw = sub.add_parser("sweep", help="run every trial of one study",
                        description="Run every grid point of a study (a built-in one by name, or a TOML file) as "
                                    "a standard run under OUT/runs/<study>/<trial id>, and write "
                                    "OUT/runs/<study>/runs.csv (a row per trial: settings, status, final metrics) "
                                    "and the study's record (study.json, study.toml) for `dlrepro report`. "
                                    "Completed trials are skipped, interrupted ones resumed, failed ones retried. "
                                    "Exit code 1 if a trial failed.")
    sw.add_argument("study", help="a built-in study's name (palindrome; see `dlrepro studies`) or the path to a "
                                  "study file (my_study.toml)")
    _add_study_run_flags(sw)
    _add_data_flags(sw)
    _add_backend_flags(sw)
    sw.set_defaults(func=_cmd_sweep)

    rp = sub.add_parser("report", help="rebuild the report from existing runs (no training)",
                        description="Rebuild DIR/report.md, DIR/report.html, DIR/claims.json and DIR/figures/ "
                                    "from the runs under DIR/runs, without training.")
    rp.add_argument("dir", help="a directory written by dlrepro reproduce (e.g. results)")
    rp.set_defaults(func=_cmd_report)

    st = sub.add_parser("studies", help="list the built-in studies",
                        description="List the studies shipped with dlrepro: name, title and the number of trials "
                                    "in each profile. Run one with `dlrepro sweep NAME`; print one with --show "
                                    "to copy and edit it.")
    st.add_argument("--show", metavar="NAME", help="print the study file NAME (to copy: --show NAME > my.toml)")
    st.set_defaults(func=_cmd_studies)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DlreproError as exc:
        sys.stderr.write(error_line(str(exc)))
        return EXIT_USAGE
    except OSError as exc:  # a full disk, a read-only or vanished folder: the path and the reason
        sys.stderr.write(error_line(os_error_text(exc)))
        return EXIT_USAGE
    except KeyboardInterrupt:
        again = "rerun with --resume" if args.command == "train" else "rerun the same command"
        print(f"dlrepro: interrupted; {again} to continue from the last checkpoints", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
