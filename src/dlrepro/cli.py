"""The `dlrepro` command line: train single runs, reproduce the studies, prepare data.

Every user error (a bad option value, a run directory that holds another run, a missing or corrupt
dataset) is printed as one line `dlrepro: error: ...` and exits with code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dlrepro.cli_args import (
    CACHE_DIR,
    EXIT_USAGE,
    NO_VERIFY,
    Parser,
    add_study_run_flags,
    add_train_command,
    config_from_args,
    data_location,
    error_line,
)
from dlrepro.errors import DlreproError, os_error_text
from dlrepro.registry import MODEL_KINDS

if TYPE_CHECKING:
    from dlrepro.sweep.trials import SweepOptions

def _cmd_train(a) -> int:
    import dataclasses

    from dlrepro.runs.execute import execute_seeds
    from dlrepro.text import fmt
    from dlrepro.train.settings import parse_seeds
    from dlrepro.train.threads import set_threads, train_threads

    config = config_from_args(a)
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
    for run, summary in results:
        assert summary is not None  # a run another process writes raised RunBusy
        final = summary["final"]
        print(f"{summary['status']}: {summary['steps']} steps in {summary['wall_time_s']:.1f} s; "
              f"train acc {fmt(final['train_acc'])}, test acc {fmt(final['test_acc'])} "
              f"(best {fmt(summary['best_test_acc'])}) -> {run.path}")
    return 0


def _cmd_data_cifar10(a) -> int:
    from dlrepro.data.cifar10 import prepare

    print(prepare(a.root, download=a.download, verify=not a.no_verify, cache_dir=a.cache_dir))
    return 0


def _options(a) -> SweepOptions:
    """The sweep flags of `sweep` and `reproduce`, checked, as one options object."""
    from dlrepro.sweep.trials import SweepOptions

    if a.workers is not None and a.workers < 1:
        raise DlreproError(f"--workers must be >= 1, got {a.workers}")
    if a.trial_timeout is not None and not 0 < a.trial_timeout <= 10**7:  # NaN too
        raise DlreproError(f"--trial-timeout must be a number of seconds above 0, got {a.trial_timeout}")
    if a.trials_per_gpu < 1:
        raise DlreproError(f"--trials-per-gpu must be >= 1, got {a.trials_per_gpu}")
    if a.ray_address is not None and a.backend != "ray":
        raise DlreproError("--ray-address needs --backend ray")
    if a.backend == "ray":
        from dlrepro.sweep.ray_backend import require_ray

        require_ray()  # before anything runs: without Ray, one line saying how to install it
    return SweepOptions(workers=a.workers, data=data_location(a), backend=a.backend, address=a.ray_address,
                        tensorboard=a.tensorboard, vectorize=not a.no_vectorize, trials_per_gpu=a.trials_per_gpu,
                        quiet=a.quiet, trial_timeout=a.trial_timeout)


def _sets(a) -> dict:
    """--set KEY=VALUE flags as {key: value} (a later one for the same key wins)."""
    from dlrepro.studies.spec import parse_set

    return dict(parse_set(text) for text in a.set or [])


def _cmd_reproduce(a) -> int:
    from dlrepro.report.registry import STUDIES
    from dlrepro.reproduce import dry_run, prepare, reproduce
    from dlrepro.sweep.study import select_studies

    only = None
    if a.only:
        only = [s.strip() for s in a.only.split(",")]
        unknown = [s for s in only if s not in STUDIES]
        if unknown:
            raise DlreproError(f"--only: unknown study {unknown[0]!r}; choose from {', '.join(STUDIES)}")
    options = _options(a)
    if a.dry_run:
        studies = select_studies(only or STUDIES, a.profile, _sets(a), a.explain)
        prepare(studies, a.profile, options, load_data=False)
        print("\n".join(dry_run(studies, a.profile, Path(a.out), options)))
        return 0
    _, failed = reproduce(a.out, a.profile, options, only=only, sets=_sets(a), explain=a.explain)
    return 1 if failed else 0


def _cmd_report(a) -> int:
    from dlrepro.report.build import build_report

    if not Path(a.dir).is_dir():
        raise DlreproError(f"report: {a.dir} is not a directory")
    report, _ = build_report(a.dir, echo=not a.quiet)
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
    from dlrepro.errors import DatasetError
    from dlrepro.report.tables import markdown_table
    from dlrepro.reproduce import dry_run, prepare
    from dlrepro.studies.spec import load_study
    from dlrepro.sweep.study import sweep
    from dlrepro.sweep.table import RUNS_CSV
    from dlrepro.text import fmt

    options = _options(a)
    study = load_study(a.study)
    sets = _sets(a)
    if sets:
        study = study.with_sets(sets, a.profile)
    else:
        study.trials(a.profile)  # an undefined profile: one line, before anything runs
    if a.explain:
        study = study.explaining()
    ready = prepare([study], a.profile, options, load_data=not a.dry_run)  # each source once, before any trial
    if a.dry_run:
        print("\n".join(dry_run([study], a.profile, Path(a.out), options, totals=False)))
        return 0
    reason = next((why for _, why in ready.values() if why is not None), None)
    if reason is not None:
        raise DatasetError(reason)
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


def build_parser() -> Parser:
    parser = Parser(prog="dlrepro", description="Reproduce a classic deep-learning course study: MLPs "
                    "(NumPy and PyTorch), a VGG ConvNet on CIFAR-10, and recurrent nets on palindromes.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__import__('dlrepro').__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    train = sub.add_parser("train", help="train one model into a run directory",
                           description="Train one model; writes config.json, metrics.jsonl, summary.json, "
                                       "a checkpoint and curves.png into the run directory.")
    train_sub = train.add_subparsers(dest="model", required=True, parser_class=Parser, metavar="MODEL")
    for model in MODEL_KINDS:
        add_train_command(train_sub, model).set_defaults(func=_cmd_train)

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
    cifar.add_argument("--no-verify", action="store_true", help=NO_VERIFY)
    cifar.add_argument("--cache-dir", metavar="DIR", help=CACHE_DIR)
    cifar.set_defaults(func=_cmd_data_cifar10)

    rep = sub.add_parser("reproduce", help="run every study, then write the report (figures, tables, claims)",
                         description="Run the four built-in studies (`dlrepro studies`) with --profile into "
                                     "--out/runs, skipping runs that are already complete, then write report.md, "
                                     "report.html, claims.json and figures/ (as `dlrepro report` does) and print "
                                     "the count of claims per verdict. A --set applies to each study that has "
                                     "that setting or grid axis (steps: the palindrome study; epochs: the "
                                     "others); a key no study has is an error. Exit code 1 if a trial failed.")
    rep.add_argument("--only", default=None, help="comma list of studies to run (default: all)")
    add_study_run_flags(rep)
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
    add_study_run_flags(sw)
    sw.set_defaults(func=_cmd_sweep)

    rp = sub.add_parser("report", help="rebuild the report from existing runs (no training)",
                        description="Rebuild DIR/report.md, DIR/report.html, DIR/claims.json and DIR/figures/ "
                                    "from the runs under DIR/runs, without training.")
    rp.add_argument("dir", help="a directory written by dlrepro reproduce (e.g. results)")
    rp.add_argument("--quiet", action="store_true", help="print only where the report was written, not its tables")
    rp.set_defaults(func=_cmd_report)

    st = sub.add_parser("studies", help="list the built-in studies",
                        description="List the studies shipped with dlrepro: name, title and the number of trials "
                                    "in each profile. Run one with `dlrepro sweep NAME`; print one with --show "
                                    "to copy and edit it.")
    st.add_argument("--show", metavar="NAME", help="print the study file NAME (to copy: --show NAME > my.toml)")
    st.set_defaults(func=_cmd_studies)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the program itself: a closed stdout or a reader that stops reading costs no result
        from dlrepro.output import guard_streams

        guard_streams()
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
