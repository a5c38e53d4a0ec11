"""A results folder is untrusted input (the report's side): `dlrepro report` reads, writes and deletes
only inside the folder it is given, opens only regular files, and turns every corrupt file into a reason in the
report (a run's file: that run is 'not run') or one line and exit 2 (a file about the whole folder). Never a
traceback, never a hang, never a file touched outside.

Each case starts from a copy of one small results folder (tests/helpers.py `make_results`, its report built
once) beside a folder `outside` that must come through unchanged. HOSTILE names every case; the fuzzer in
test_report_fuzz.py draws random corruptions of the same folder.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from dlrepro.cli import main
from helpers import no_hang, snapshot

MARK_LR, MARK_ACC = 0.0424242, 0.4242  # values only the files outside hold: the report must never show them


@pytest.fixture
def setting(base_results, tmp_path):
    return make_setting(base_results, tmp_path)


def make_setting(base_results: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(results folder, the folder outside it): a fresh copy of the base results, and beside it files the
    report must never read, change or delete, among them a valid run whose values carry the marks."""
    out = tmp_path / "results"
    shutil.copytree(base_results, out, symlinks=True)
    outside = tmp_path / "outside"
    (outside / "pictures").mkdir(parents=True)
    (outside / "pictures" / "holiday.png").write_bytes(b"\x89PNG not ours")
    (outside / "pictures" / "logo.svg").write_text("<svg/>")
    run = first_run(out)
    marked = outside / "run" / run.name
    shutil.copytree(run, marked)
    cfg = json.loads((marked / "config.json").read_text())
    cfg["config"]["lr"] = MARK_LR
    (marked / "config.json").write_text(json.dumps(cfg))
    summary = json.loads((marked / "summary.json").read_text())
    summary["final"]["test_acc"] = summary["best_test_acc"] = MARK_ACC
    (marked / "summary.json").write_text(json.dumps(summary))
    rows = [json.loads(x) for x in (marked / "metrics.jsonl").read_text().splitlines()]
    (marked / "metrics.jsonl").write_text("".join(json.dumps({**r, "test_acc": MARK_ACC}) + "\n" for r in rows))
    shutil.copytree(out / "runs" / "toy", outside / "toy")
    shutil.copytree(out / "runs" / "mine", outside / "mine")
    for d in (outside / "toy", outside / "mine"):
        shutil.copytree(marked, d / marked.name, dirs_exist_ok=True)
    return out, outside


def first_run(out: Path, study: str = "toy") -> Path:
    return sorted(p for p in (out / "runs" / study).iterdir() if p.is_dir())[0]


def report(out: Path, capsys) -> tuple[int, str, str]:
    """`dlrepro report OUT` in-process: (exit code, stdout, stderr), failing on a hang."""
    with no_hang():
        code = main(["report", str(out)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2 and err.count("\n") == 1 and err.startswith("dlrepro: error: "), err
    assert "Traceback" not in err and all(n in err for n in needles), err


def report_text(out: Path) -> str:
    return (out / "report.md").read_text() + (out / "report.html").read_text()


def no_marks(out: Path) -> None:
    text = report_text(out)
    assert f"{MARK_LR:g}" not in text and f"{MARK_ACC:.4f}" not in text, "a file outside the folder was read"


def link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    path.symlink_to(target)


def put(path: Path, data: bytes | str) -> None:
    path.unlink(missing_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    put(path, json.dumps(change(doc)))


def nested(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def rows_of(run: Path) -> list[str]:
    return (run / "metrics.jsonl").read_text().splitlines()


# --- the hostile inputs: name -> (change the folder, what the report must do) ---------------------------
# "run": exit 0, the first toy run is not read and the report says why (the needle); "error": one line,
# exit 2, naming the needle; "report": exit 0 and the needle appears in report.md.

def _run_file(name: str, make):
    return lambda out, outside: make(first_run(out) / name, out, outside)


HOSTILE = {
    # the report reads, writes and deletes outside its folder (each was so on main)
    "figures/ a link to another folder": (
        lambda out, outside: link(out / "figures", outside / "pictures"), "error", "figures is a link"),
    "figures/<study> a link to another folder": (
        lambda out, outside: link(out / "figures" / "mine", outside / "pictures"), "error", "figures/mine is a link"),
    "a run's config.json a link outside": (
        _run_file("config.json", lambda p, out, o: link(p, o / "run" / p.parent.name / "config.json")),
        "run", "config.json is a link to"),
    "a run's summary.json a link outside": (
        _run_file("summary.json", lambda p, out, o: link(p, o / "run" / p.parent.name / "summary.json")),
        "run", "summary.json is a link to"),
    "a run's metrics.jsonl a link outside": (
        _run_file("metrics.jsonl", lambda p, out, o: link(p, o / "run" / p.parent.name / "metrics.jsonl")),
        "run", "metrics.jsonl is a link to"),
    "a run's metrics.jsonl a link to /dev/zero": (
        _run_file("metrics.jsonl", lambda p, out, o: link(p, Path("/dev/zero"))), "run", "metrics.jsonl is a link"),
    "a run's data.npz a link outside": (
        _run_file("data.npz", lambda p, out, o: link(p, o / "pictures" / "holiday.png")), "run", "data.npz is a link"),
    "a run folder a link outside": (
        lambda out, outside: link(first_run(out), outside / "run" / first_run(out).name), "run", "is a link to"),
    "runs/toy a link outside": (
        lambda out, outside: link(out / "runs" / "toy", outside / "toy"), "report", "runs/toy is a link to"),
    "runs/ a link outside": (
        lambda out, outside: (shutil.copytree(out / "runs", outside / "runs"), link(out / "runs", outside / "runs")),
        "report", "runs is a link to"),
    "a user's study folder a link outside": (
        lambda out, outside: link(out / "runs" / "mine", outside / "mine"), "report", "runs/mine is a link to"),
    "study.json naming a trial by absolute path": (
        lambda out, outside: edit_json(out / "runs" / "mine" / "study.json", lambda d: {
            **d, "trials": [str(outside / "mine" / first_run(out).name)]}), "error", "is not a plain folder name"),
    "study.json naming a trial by ../": (
        lambda out, outside: edit_json(out / "runs" / "mine" / "study.json", lambda d: {
            **d, "trials": [f"../../../outside/mine/{first_run(out).name}"]}), "error", "is not a plain folder name"),
    "the temp file of a figure planted as a link outside": (
        lambda out, outside: (shutil.rmtree(out / "figures"), (out / "figures").mkdir(),
                              (out / "figures" / ".toy_moons_data.png.tmp").symlink_to(
                                  outside / "pictures" / "holiday.png")), "report", "toy_moons_data.png"),
    "report.md a link outside": (
        lambda out, outside: link(out / "report.md", outside / "pictures" / "logo.svg"), "report", "## Summary"),
    # corrupt files of a run: that run is not run, with the file and line
    "a metrics row 42": (_run_file("metrics.jsonl", lambda p, *_: put(p, "42\n" + p.read_text())),
                         "run", "metrics.jsonl line 1: 42 is not a metrics row"),
    "metrics.jsonl not UTF-8": (_run_file("metrics.jsonl", lambda p, *_: put(p, b"\xff\xfe" + p.read_bytes())),
                                "run", "metrics.jsonl line 1: not UTF-8"),
    "a garbage line in the middle of metrics.jsonl": (
        _run_file("metrics.jsonl", lambda p, *_: put(p, "\n".join([*rows_of(p.parent)[:2], "{garbage",
                                                                    *rows_of(p.parent)[2:]]) + "\n")),
        "run", "metrics.jsonl line 3: not JSON"),
    "a metrics value NaN": (_run_file("metrics.jsonl", lambda p, *_: put(p, p.read_text().replace(
        '"test_acc": 0.5', '"test_acc": NaN', 1))), "run", "NaN is not a number JSON allows"),
    "a metrics value 1e999": (_run_file("metrics.jsonl", lambda p, *_: put(p, p.read_text().replace(
        '"test_acc": 0.5', '"test_acc": 1e999', 1))), "run", "test_acc inf is not a number"),
    "a metrics step a text": (_run_file("metrics.jsonl", lambda p, *_: put(p, p.read_text().replace(
        '"step": 0', '"step": "zero"', 1))), "run", "step 'zero' is not an integer"),
    "summary.json a list": (_run_file("summary.json", lambda p, *_: put(p, "[1, 2]")), "run", "holds a list"),
    "summary.json with NaN": (_run_file("summary.json", lambda p, *_: edit_json(p, lambda d: {
        **d, "best_test_acc": "NAN"}) or put(p, p.read_text().replace('"NAN"', "NaN"))), "run", "NaN"),
    "summary.json with final a number": (_run_file("summary.json", lambda p, *_: edit_json(p, lambda d: {
        **d, "final": 5})), "run", "'final' is not a table"),
    "summary.json nested 100,000 deep": (_run_file("summary.json", lambda p, *_: put(p, nested())),
                                          "run", "nested too deeply"),
    "summary.json a FIFO": (_run_file("summary.json", lambda p, *_: fifo(p)), "run", "summary.json is a FIFO"),
    "summary.json a folder": (_run_file("summary.json", lambda p, *_: (p.unlink(), p.mkdir())),
                              "run", "summary.json is a folder"),
    "metrics.jsonl a FIFO": (_run_file("metrics.jsonl", lambda p, *_: fifo(p)), "run", "metrics.jsonl is a FIFO"),
    "config.json without config": (_run_file("config.json", lambda p, *_: put(p, '{"versions": {}}')),
                                   "run", "holds no 'config' table"),
    "config.json with epochs a text": (_run_file("config.json", lambda p, *_: edit_json(p, lambda d: {
        **d, "config": {**d["config"], "epochs": "many"}})), "run", "not a valid run config"),
    "config.json 5 MB": (_run_file("config.json", lambda p, *_: os.truncate(p, 5 * 1024 * 1024)),
                         "run", "more than the"),
    "config.json empty": (_run_file("config.json", lambda p, *_: put(p, "")), "run", "config.json line 1: not JSON"),
    "data.npz not a zip": (_run_file("data.npz", lambda p, *_: put(p, b"PK not a zip")),
                           "run", "not a toy data archive"),
    "data.npz with a label of 10^9": (_run_file("data.npz", lambda p, *_: _npz_labels(p, 10**9)),
                                      "run", "not 2-D points with small class labels"),
    # files about the whole folder: one line, exit 2
    "reproduce.json a list": (lambda out, o: put(out / "reproduce.json", "[]"), "error", "reproduce.json holds a list"),
    "reproduce.json not JSON": (lambda out, o: put(out / "reproduce.json", "{"), "error", "reproduce.json line 1"),
    "reproduce.json not_run a list": (lambda out, o: edit_json(out / "reproduce.json", lambda d: {
        **d, "not_run": ["x"]}), "error", "not_run"),
    "reproduce.json hardware a text": (lambda out, o: edit_json(out / "reproduce.json", lambda d: {
        **d, "hardware": "fast"}), "error", "hardware"),
    "reproduce.json nested 100,000 deep": (lambda out, o: put(out / "reproduce.json", nested()), "error",
                                           "nested too deeply"),
    "reproduce.json a FIFO": (lambda out, o: fifo(out / "reproduce.json"), "error", "reproduce.json is a FIFO"),
    "reproduce.json a link outside": (lambda out, o: link(out / "reproduce.json", o / "pictures" / "logo.svg"),
                                      "error", "reproduce.json is a link to"),
    "study.json title a number": (lambda out, o: edit_json(out / "runs" / "mine" / "study.json", lambda d: {
        **d, "title": 5}), "error", "title 5 is not a str"),
    "study.json a list": (lambda out, o: put(out / "runs" / "mine" / "study.json", "[]"), "error", "holds a list"),
    "study.json invalid UTF-8": (lambda out, o: put(out / "runs" / "mine" / "study.json", b'{"title": "\xff"}'),
                                 "error", "study.json line 1: not UTF-8"),
    "study.json nested 100,000 deep": (lambda out, o: put(out / "runs" / "mine" / "study.json", nested()),
                                       "error", "nested too deeply"),
    "study.json a FIFO": (lambda out, o: fifo(out / "runs" / "mine" / "study.json"), "error", "is a FIFO"),
    # files the report can do without: the report is built
    "study.toml garbage": (lambda out, o: put(out / "runs" / "mine" / "study.toml", b"\xff[[["), "report",
                           "## My own MLP study"),
    "study.toml a FIFO": (lambda out, o: fifo(out / "runs" / "mine" / "study.toml"), "report", "## My own MLP study"),
    "a figure a FIFO": (lambda out, o: fifo(out / "figures" / "toy_moons_data.png"), "report", "toy_moons_data.png"),
    "a figure a link outside": (lambda out, o: link(out / "figures" / "toy_moons_data.png",
                                                    o / "pictures" / "holiday.png"), "report", "toy_moons_data.png"),
    "a stale figure a folder": (lambda out, o: (out / "figures" / "old.png").mkdir(), "report", "## Summary"),
}


def _npz_labels(path: Path, label: int) -> None:
    import numpy as np

    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["y_test"] = arrays["y_test"].copy()
    arrays["y_test"][0] = label
    path.unlink()
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_results_folder_gives_a_report_or_one_line_and_touches_nothing_outside(case, setting, capsys):
    out, outside = setting
    change, expect, needle = HOSTILE[case]
    change(out, outside)
    before = snapshot(outside)
    code, _, err = report(out, capsys)
    assert snapshot(outside) == before, "a file outside the results folder was changed"
    if expect == "error":
        assert_one_line(code, err, needle)
        return
    assert code == 0, err
    no_marks(out)
    md = (out / "report.md").read_text()
    if expect == "run":  # the run is named with the reason, in its section and in its claims
        run = first_run(out).name
        assert f"runs/toy/{run}" in md and needle in md, md[:3000]
        assert "1 run folder(s) not read" in md
    else:
        assert needle in md
    assert not (out / "figures").is_symlink() and (out / "figures").is_dir()


def test_a_garbage_metrics_line_makes_the_run_unreadable_not_short(setting, capsys):
    """A bad line 3 of 4 is named; the run's claims are 'not run' for that reason, not judged on rows 1-2."""
    from dlrepro.report.build import study_evidence
    from dlrepro.studies.spec import load_study

    out, _ = setting
    run = first_run(out)
    lines = rows_of(run)
    put(run / "metrics.jsonl", "\n".join([*lines[:2], "{garbage", *lines[2:]]) + "\n")
    ev = study_evidence(out / "runs" / "toy", load_study("toy"), None, None)
    assert run.name not in ev.runs and ev.unreadable[run.name].endswith("metrics.jsonl line 3: not JSON "
                                                                        "(Expecting property name enclosed in "
                                                                        "double quotes)")
    assert run.name in ev.trials  # its config is fine: a trial whose claims cannot be judged, not a missing one
    assert ev.problem(run.name).startswith("is unreadable (runs/toy/")
    # a torn last line (a run killed mid-write, no newline after it) is still just left out
    put(run / "metrics.jsonl", "\n".join(lines) + '\n{"step": 3')
    ev = study_evidence(out / "runs" / "toy", load_study("toy"), None, None)
    assert run.name in ev.runs and len(ev.runs[run.name].rows) == len(lines) and not ev.unreadable


def test_figures_through_a_link_are_refused_and_the_linked_files_stay(setting, capsys):
    out, outside = setting
    link(out / "figures", outside / "pictures")
    code, _, err = report(out, capsys)
    assert_one_line(code, err, f"{out / 'figures'} is a link (to {outside / 'pictures'})")
    assert sorted(p.name for p in (outside / "pictures").iterdir()) == ["holiday.png", "logo.svg"]


def test_a_planted_temp_file_link_is_replaced_not_written_through(setting, capsys):
    out, outside = setting
    target = outside / "pictures" / "logo.svg"
    (out / f".claims.json.{os.getpid()}.tmp").symlink_to(target)
    code, _, err = report(out, capsys)
    assert code == 0, err
    assert target.read_text() == "<svg/>" and json.loads((out / "claims.json").read_text())["claims"]


def test_a_read_only_folder_names_claims_json_not_its_temp_file(setting, capsys, monkeypatch):
    import dlrepro.files as files  # the one atomic-write helper

    out, _ = setting
    real_open = open

    def read_only(file, mode="r", *args, **kwargs):
        if "r" not in mode:
            raise PermissionError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", read_only, raising=False)
    code, _, err = report(out, capsys)
    assert_one_line(code, err, f"{out / 'claims.json'}: {os.strerror(errno.EROFS)}")
    assert ".tmp" not in err


def test_a_full_disk_while_drawing_a_figure_names_the_figure(setting, capsys, monkeypatch):
    from matplotlib.figure import Figure

    out, _ = setting
    shutil.rmtree(out / "figures")

    def full(self, fname, *args, **kwargs):
        if hasattr(fname, "write"):  # the atomic-write helper hands savefig its temp file, open
            fname.write(b"\x89PNG half")
        else:
            Path(fname).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", full)
    code, _, err = report(out, capsys)
    assert_one_line(code, err, f"{out / 'figures'}/", ".png: No space left on device")
    assert not list((out / "figures").glob(".*.tmp"))


def test_a_newline_in_a_value_keeps_the_error_on_one_line(tmp_path, capsys):
    code = main(["report", str(tmp_path / "two\nlines")])
    assert_one_line(code, capsys.readouterr().err, "two\\nlines is not a directory")


def test_a_character_device_inside_the_folder_is_not_read(setting, capsys):
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    out, _ = setting
    metrics = first_run(out) / "metrics.jsonl"
    metrics.unlink()
    try:
        os.mknod(metrics, stat.S_IFCHR | 0o444, os.makedev(1, 5))  # /dev/zero's numbers
    except OSError as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    code, _, err = report(out, capsys)
    assert code == 0, err
    assert "metrics.jsonl is a device, not a regular file" in (out / "report.md").read_text()


def test_a_claim_on_an_unreadable_run_is_not_run_naming_the_file_and_line(tmp_path):
    """Runs at the claim's settings: one with a garbage metrics line makes the claim 'not run' with that line,
    where the rows before it would have judged it (as a shorter run) on main."""
    from dlrepro.claims.evidence import evidence
    from dlrepro.claims.judge import judge_claims
    from dlrepro.studies.spec import load_study
    from helpers import TOY, curve, write_run

    toy = tmp_path / "results" / "runs" / "toy"
    cfgs = [write_run(toy, {**TOY, "model": m}, curve(50)) for m in ("mlp-numpy", "mlp-torch")]
    run = toy / cfgs[0].default_name()
    lines = rows_of(run)
    put(run / "metrics.jsonl", "\n".join([*lines[:3], "{garbage", *lines[3:]]) + "\n")
    judged = judge_claims(load_study("toy").claims, evidence(toy, "unknown", None))
    claims = [c for c in judged if "moons" in c.text and "NumPy" in c.text]
    assert claims and all(c.verdict == "not run" for c in claims), [(c.text, c.verdict) for c in claims]
    assert any(f"{run.name}/metrics.jsonl line 4: not JSON" in c.reason for c in claims), [c.reason for c in claims]
