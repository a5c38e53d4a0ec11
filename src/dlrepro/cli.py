"""The `dlrepro` command line: train single runs, reproduce the studies, prepare data.

Every user error (a bad option value, a run directory that holds another run, a missing or corrupt
dataset) is printed as one line `dlrepro: error: ...` and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dlrepro.errors import DlreproError, os_error_text
from dlrepro.train.config import (
    AUGMENTS,
    CELLS,
    CNN_OPTIMIZERS,
    DEVICES,
    DTYPES,
    MLP_DATASETS,
    PRECISIONS,
    RNN_OPTIMIZERS,
)

if TYPE_CHECKING:
    from dlrepro.sweep.trials import SweepOptions

EXIT_USAGE = 2


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
    seed_flags.add_argument("--seed", type=int, default=0,
                            help="random seed for weights and data order (default 0)")
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


def _add_small_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=DEVICES, default="cpu",
                   help="where to train (default cpu; a GPU is expected to pay for --seeds populations only, see "
                        "BENCHMARKS.md, \"GPU\"). Not part of the run's identity")


def _add_mlp(sub) -> None:
    for model, what in (("mlp-numpy", "the from-scratch NumPy MLP"), ("mlp-torch", "the PyTorch MLP")):
        p = sub.add_parser(model, help=f"train {what} (Part 1)",
                           description=f"Train {what} with SGD and cross-entropy on a toy dataset "
                                       "(80/20 stratified split). Defaults follow the reference report.")
        datasets = MLP_DATASETS if model == "mlp-torch" else tuple(d for d in MLP_DATASETS if d != "cifar10")
        p.add_argument("--dataset", required=True, choices=datasets,
                       help="toy dataset from scikit-learn (2 features, 2 classes)"
                            + ("; or cifar10 (the MLP 3072-20-10 of Part 1, task 3)" if model == "mlp-torch" else ""))
        p.add_argument("--hidden", default="20",
                       help="hidden layer sizes as a comma list, e.g. 20 or 64,32 (default 20)")
        p.add_argument("--lr", type=float, default=1e-2, help="SGD learning rate (default 0.01)")
        p.add_argument("--batch-size", type=int, default=None,
                       help="minibatch size (default 1" + ("; 32 for cifar10)" if model == "mlp-torch" else ")"))
        p.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
        p.add_argument("--eval-every", type=int, default=10,
                       help="evaluate on the full train and test splits every N epochs (default 10)")
        p.add_argument("--n-samples", type=int, default=1000, help="points generated before the split (default 1000)")
        p.add_argument("--data-seed", type=int, default=0,
                       help="random_state of the dataset generator and split, fixed across --seed (default 0)")
        p.add_argument("--dtype", choices=DTYPES, default=None,
                       help="floating-point type of weights and data (default float64"
                            + ("; float32 for cifar10)" if model == "mlp-torch" else ")"))
        if model == "mlp-torch":
            _add_data_flags(p)
            _add_small_device_flag(p)
        _add_run_flags(p, seeds=True)
        p.set_defaults(func=_cmd_train_mlp, model=model)


def _add_rnn(sub) -> None:
    p = sub.add_parser("rnn", help="train a vanilla RNN or LSTM on palindromes (Part 3)",
                       description="Train a recurrent net to predict the last digit of a palindrome from the "
                                   "first --input-length digits (so it must remember the first digit). Fresh "
                                   "batches every step; a fixed held-out set of 1,024 palindromes for testing.")
    p.add_argument("--cell", choices=CELLS, default="rnn", help="recurrent cell (default rnn)")
    p.add_argument("--input-length", type=int, default=10,
                   help="number of digits the net reads; the palindrome has one more (default 10)")
    p.add_argument("--one-hot", action="store_true",
                   help="feed 10-dim one-hot digits instead of the digit's value as a scalar (the reference)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
    p.add_argument("--batch-size", type=int, default=128, help="palindromes per step (default 128)")
    p.add_argument("--optimizer", choices=RNN_OPTIMIZERS, default="rmsprop",
                   help="optimizer (default rmsprop)")
    p.add_argument("--lr", type=float, default=1e-3,
                   help="learning rate (default 0.001). The reference report states 1e-2, but its curves "
                        "(length 5 perfect, 10 near step 3,000, 15 near 5,500, 20 unstable) are what 1e-3 "
                        "produces; at 1e-2 a scalar-input vanilla RNN stalls. The study runs both.")
    p.add_argument("--steps", type=int, default=10_000, help="training steps (default 10000)")
    p.add_argument("--clip", type=float, default=10.0,
                   help="clip the global gradient norm to this value; 0 disables (default 10)")
    p.add_argument("--eval-every", type=int, default=10, help="evaluate every N steps (default 10)")
    _add_small_device_flag(p)
    _add_run_flags(p, seeds=True)
    p.set_defaults(func=_cmd_train_rnn)


def _cmd_train_rnn(a) -> int:
    from dlrepro.train.config import RNNConfig

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
    from dlrepro.train.config import MLPConfig, parse_hidden

    cifar = a.dataset == "cifar10"
    cfg = MLPConfig(model=a.model, dataset=a.dataset, hidden=parse_hidden(a.hidden), lr=a.lr,
                    batch_size=a.batch_size if a.batch_size is not None else (32 if cifar else 1),
                    epochs=a.epochs, eval_every=a.eval_every, n_samples=a.n_samples, data_seed=a.data_seed,
                    dtype=a.dtype or ("float32" if cifar else "float64"), seed=a.seed,
                    **({"device": a.device} if a.model == "mlp-torch" else {}))
    return cfg.with_location(_data_location(a)) if a.model == "mlp-torch" else cfg


def _add_cnn(sub) -> None:
    p = sub.add_parser("cnn", help="train the VGG-style ConvNet on CIFAR-10 (Part 2)",
                       description="Train the 9.23M-parameter VGG-style ConvNet (8 conv+BatchNorm+ReLU layers, "
                                   "5 max-pools, 1 linear layer) on CIFAR-10. Defaults follow the reference: "
                                   "Adam lr 1e-4, batch 32, 200 epochs, no augmentation.")
    _add_data_flags(p)
    p.add_argument("--optimizer", choices=CNN_OPTIMIZERS, default="adam",
                   help="optimizer (default adam)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    p.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
    p.add_argument("--eval-every", type=int, default=10,
                   help="evaluate on the full train and test splits every N epochs (default 10)")
    p.add_argument("--augment", choices=AUGMENTS, default="none",
                   help="flipcrop: random crop with 4-pixel padding + horizontal flip (default none)")
    p.add_argument("--subset", type=int, default=0,
                   help="train on the first N training images, stratified by class (default 0 = all 50,000)")
    p.add_argument("--test-subset", type=int, default=0,
                   help="evaluate on the first N test images, stratified (default 0 = all 10,000)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where to train (default auto: cuda when available)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="bf16: autocast matmuls/convolutions to bfloat16, weights stay fp32 (default fp32)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    _add_run_flags(p)
    p.set_defaults(func=_cmd_train_cnn)


def _cmd_train_cnn(a) -> int:
    from dlrepro.train.config import CNNConfig

    cfg = CNNConfig(optimizer=a.optimizer, lr=a.lr, batch_size=a.batch_size, epochs=a.epochs,
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

    if not a.checkpoint_every >= 0:  # NaN too
        raise DlreproError(f"--checkpoint-every must be >= 0, got {a.checkpoint_every}")
    seeds = getattr(a, "seeds", None)
    if seeds is None:
        configs, outs = [config], [a.out]
    else:
        configs = [dataclasses.replace(config, seed=s) for s in parse_seeds(seeds)]
        outs = [Path(a.out) / f"seed-{c.seed}" if a.out else None for c in configs]
    results = execute_seeds(configs, outs, vectorize=seeds is not None and not a.no_vectorize,
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
    from dlrepro.report.judge import check_claims, claim_plan
    from dlrepro.report.registry import STUDIES
    from dlrepro.reproduce import reproduce
    from dlrepro.sweep.study import plan, select_studies

    only = None
    if a.only:
        only = [s.strip() for s in a.only.split(",")]
        unknown = [s for s in only if s not in STUDIES]
        if unknown:
            raise DlreproError(f"--only: unknown study {unknown[0]!r}; choose from {', '.join(STUDIES)}")
    options = _options(a)
    if a.dry_run:
        for study in select_studies(only or STUDIES, a.profile, _sets(a)):
            check_claims(study)
            print("\n".join(plan(study, a.profile, Path(a.out), options.data) + claim_plan(study, a.profile)))
        return 0
    _, failed = reproduce(a.out, a.profile, options, only=only, sets=_sets(a))
    return 1 if failed else 0


def _cmd_report(a) -> int:
    from dlrepro.report.build import build_report

    if not Path(a.dir).is_dir():
        raise DlreproError(f"report: {a.dir} is not a directory")
    report = build_report(a.dir)
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
        rows.append([name, study.title, ", ".join(f"{p} {len(study.trials(p))}" for p in study.profiles),
                     len(study.claims)])
    print(markdown_table(["study", "title", "trials per profile", "claims"], rows))
    print("\nRun one: dlrepro sweep NAME --profile smoke. Copy one to edit: dlrepro studies --show NAME > my.toml, "
          "give it its own [study] name, then dlrepro sweep my.toml.")
    return 0


def _cmd_sweep(a) -> int:
    from dlrepro.report.judge import check_claims, claim_plan
    from dlrepro.report.tables import fmt, markdown_table
    from dlrepro.studies.spec import load_study
    from dlrepro.sweep.study import check_cifar, needs_cifar, plan, sweep
    from dlrepro.sweep.table import RUNS_CSV

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
    if needs_cifar(study, a.profile):
        reason = check_cifar(options.data)
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
    """--set, --dry-run and --quiet, shared by sweep and reproduce."""
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
    rep.add_argument("--out", default="results", metavar="DIR", help="output directory (default results)")
    rep.add_argument("--workers", type=int, default=None,
                     help="parallel worker processes (default: number of CPU cores)")
    rep.add_argument("--only", default=None, help="comma list of studies to run (default: all)")
    rep.add_argument("--profile", choices=("smoke", "quick", "full"), default="quick",
                     help="smoke: seconds; quick: minutes on 2 CPU cores (default); full: the reference settings")
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
    sw.add_argument("--profile", choices=("smoke", "quick", "full"), default="quick",
                    help="smoke: seconds; quick: minutes on 2 CPU cores (default); full: the reference settings")
    sw.add_argument("--workers", type=int, default=None,
                    help="parallel worker processes (default: number of CPU cores)")
    sw.add_argument("--out", default="results", metavar="DIR", help="output directory (default results)")
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
