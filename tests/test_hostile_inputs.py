"""Study files, --set values, run folders being resumed and CIFAR-10 copies are untrusted input (the
input side): each hostile case below is one line `dlrepro: error: ...` with exit code 2 before anything runs,
never a traceback, never a hang, never gigabytes read; and a killed sweep leaves no workers behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from dlrepro.cli import main
from dlrepro.data.cifar10 import load_cifar10
from dlrepro.data.cifar10.dataset import MAX_IMAGE_BYTES
from dlrepro.errors import ConfigError, DatasetError
from dlrepro.studies.spec import load_study
from helpers import assert_usage_error, make_folder, make_tar

STUDY = """[study]
name = "hostile"
title = "T"
[fixed]
model = "mlp-numpy"
dataset = "moons"
epochs = 1
n_samples = 40
batch_size = 8
[grid]
seed = [0]
"""


def _with(old: str, new: str) -> str:
    assert old in STUDY
    return STUDY.replace(old, new)


# --- study files: types, nesting, sizes --------------------------------------------------------------------
@pytest.mark.parametrize("text, needle", [
    (STUDY + "[profiles]\nsmoke = 5\n", "[profiles.smoke] must be a table, got 5"),
    ("study = 5\n[fixed]\nmodel = 'rnn'\n", "[study] must be a table, got 5"),
    ("fixed = 5\n" + STUDY.replace("[fixed]", "[fixedx]"), "[fixed] must be a table, got 5"),
    (STUDY + "[profiles.smoke]\nfixed = 5\n", "[profiles.smoke] fixed must be a table, got 5"),
    (STUDY + "[profiles.smoke]\ngrid = [1]\n", "[profiles.smoke] grid must be a table, got [1]"),
    (_with('title = "T"', 'title = "T"\ndescription = 5'), "[study] description must be a string, got 5"),
    (_with('title = "T"', "title = 5"), "[study] title must be a string, got 5"),  # was: sweep ran, report failed
    (_with("epochs = 1", 'epochs = 1\nhidden = ["4"]'), "[fixed] hidden[0] must be an integer, got '4'"),
    (_with("epochs = 1", "epochs = 1\nhidden = [4.5]"), "[fixed] hidden[0] must be an integer, got 4.5"),  # was:
    (_with("epochs = 1", "epochs = 1\nhidden = [true]"), "[fixed] hidden[0] must be an integer, got true"),  # TypeError
    (_with("seed = [0]", "seed = [{}]"), "[grid] seed[0] must be an integer, got {}"),
    (_with("seed = [0]", "seed = [0]\noptimizer_lr = [{a = 1}]"), "[grid] optimizer_lr[0] must be a list"),
    (_with("epochs = 1", "epochs = 1\nhidden = " + "[" * 5000 + "]" * 5000), "nested too deeply"),
    (_with("epochs = 1", "epochs = 1\nx = " + "{a=" * 3000 + "1" + "}" * 3000), "nested too deeply"),
    (_with("epochs = 1", "epochs = 1\nhidden = " + "[" * 20 + "1" + "]" * 20), "nested more than 10 levels deep"),
    (_with("epochs = 1", "epochs = " + "9" * 5000), "Exceeds the limit (4300 digits)"),
    (_with("seed = [0]", "seed = [" + "9" * 4400 + "]"), "Exceeds the limit (4300 digits)"),
    (_with('name = "hostile"', 'name = "toy"'), "[study] name 'toy' is a built-in study's name; give the study "
                                                "its own name"),
    (_with("seed = [0]", "seed = [0, 1]\nlr = [" + ", ".join(str(i + 1) for i in range(400)) + "]\nn_samples = ["
           + ", ".join(str(i + 40) for i in range(400)) + "]"),
     "the grid has 320,000 trials (2 seed x 400 lr x 400 n_samples), more than the 100,000 a study may have"),
])
def test_a_study_file_of_the_wrong_shape_is_one_line_exit_2_before_anything_runs(tmp_path, capsys, text, needle):
    path = tmp_path / "study.toml"
    path.write_text(text)
    out = tmp_path / "out"
    started = time.monotonic()
    assert_usage_error(["sweep", str(path), "--profile", "smoke", "--workers", "1", "--out", str(out)], needle, capsys)
    assert not out.exists()
    assert time.monotonic() - started < 30  # the 320,000-trial grid is counted, not expanded


def test_a_million_trial_grid_dry_run_is_refused_at_once_with_its_size(tmp_path, capsys):
    axes = "\n".join(f"{k} = [{', '.join(str(v) for v in range(lo, lo + 100))}]"
                     for k, lo in (("seed", 0), ("n_samples", 40), ("data_seed", 0)))
    path = tmp_path / "big.toml"
    path.write_text(STUDY.replace("seed = [0]", axes))
    started = time.monotonic()
    assert_usage_error(["sweep", str(path), "--profile", "smoke", "--dry-run", "--out", str(tmp_path / "o")],
                       "the grid has 1,000,000 trials", capsys)
    assert time.monotonic() - started < 10


def test_a_copy_of_a_built_in_study_keeps_its_name_only_unchanged(tmp_path):
    from dlrepro.studies.spec import builtin_source

    copy = tmp_path / "toy.toml"
    copy.write_text(builtin_source("toy"))
    assert load_study(copy).name == "toy"  # the same study: same runs, same record
    copy.write_text(builtin_source("toy").replace("lr = 0.01", "lr = 0.02"))
    with pytest.raises(ConfigError, match="'toy' is a built-in study's name"):
        load_study(copy)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "big"])
def test_a_study_file_that_is_no_regular_file_or_too_big_is_refused_without_reading_it(tmp_path, capsys, kind):
    path = tmp_path / "study.toml"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer came
        needle = "is a FIFO, not a regular file"
    elif kind == "dev-zero":
        path = Path("/dev/zero")  # endless
        needle = "/dev/zero is a device, not a regular file"
    else:
        with open(path, "wb") as f:
            f.truncate(2**20 + 1)  # sparse: cheap
        needle = "is 1,048,577 bytes, more than the 1,048,576 a study file can be"
    assert_usage_error(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "o")], needle, capsys)


@pytest.mark.parametrize("value, needle", [
    ('hidden=["4"]', "--set hidden[0] must be an integer, got '4'"),
    ("hidden=[4.5]", "--set hidden[0] must be an integer, got 4.5"),
    ("hidden=[true]", "--set hidden[0] must be an integer, got true"),
    ("epochs={a=1}", "--set epochs must be an integer, got {'a': 1}"),
    ("epochs=" + "9" * 5000, "--set epochs: the value is nested too deeply or is a number too long to read"),
    ("seed=" + "[" * 3000 + "]" * 3000, "--set seed: the value is nested too deeply"),
    ("seed=" + "[" * 12 + "0" + "]" * 12, "--set seed: tables or lists nested more than 10 levels deep"),
])
def test_a_set_value_of_the_wrong_type_is_one_line_exit_2(tmp_path, capsys, value, needle):
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    assert_usage_error(["sweep", str(path), "--profile", "smoke", "--set", value, "--out", str(tmp_path / "o")],
                       needle, capsys)
    assert not (tmp_path / "o").exists()


# --- messages ----------------------------------------------------------------------------------------------
def test_argparse_errors_have_the_same_prefix_as_every_other_error(capsys):
    assert_usage_error(["train", "mlp-numpy", "--dataset", "moons", "--lr", "fast"],
                       "dlrepro: error: train mlp-numpy: argument --lr: invalid float value: 'fast'", capsys)
    assert_usage_error(["bogus"], "dlrepro: error: argument COMMAND: invalid choice: 'bogus'", capsys)
    assert_usage_error(["train", "rnn", "--steps", "0"], "dlrepro: error: --steps must be > 0", capsys)


def test_a_newline_in_a_value_does_not_split_the_error(tmp_path, capsys):
    assert_usage_error(["sweep", str(tmp_path / "a\nb.toml")], "a\\nb.toml does not exist", capsys)
    assert_usage_error(["train", "rnn", "--cell", "x\ny"], "invalid choice: 'x\\ny'", capsys)


# --- --resume with corrupt run files -----------------------------------------------------------------------
TRAIN = ["train", "mlp-numpy", "--dataset", "moons", "--epochs", "3", "--eval-every", "1", "--n-samples", "40",
         "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory) -> Path:
    """A run that stopped after its last checkpoint: no summary, so --resume continues it."""
    run = tmp_path_factory.mktemp("base") / "run"
    assert main([*TRAIN, "--out", str(run)]) == 0
    (run / "summary.json").unlink()
    return run


def _checkpoint_without(key: str):
    def mutate(run: Path) -> None:
        from dlrepro.runs import checkpoint

        ck = checkpoint.load(run / "checkpoint.pt")
        ck.pop(key)
        (run / "checkpoint.pt").write_bytes(checkpoint.dumps(ck))
    return mutate


def _write(name: str, text: str | bytes, append: bool = False):
    def mutate(run: Path) -> None:
        with open(run / name, "ab" if append else "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
    return mutate


def _fifo(name: str):
    def mutate(run: Path) -> None:
        (run / name).unlink()
        os.mkfifo(run / name)
    return mutate


@pytest.mark.parametrize("mutate, needle", [
    (_write("config.json", "[1]"), "config.json is not a run's config.json (no 'config' table)"),
    (_write("config.json", "{}"), "config.json is not a run's config.json"),
    (_write("config.json", '{"config": NaN}'), "config.json is not a run's config.json"),
    (_fifo("config.json"), "config.json is a FIFO, not a regular file; not read: move it away"),
    (_write("summary.json", "[1]"), "summary.json is not a run summary"),
    (_write("summary.json", '{"status": "completed"}'), "summary.json is not a run summary"),
    (_write("metrics.jsonl", "42\n", append=True), "metrics.jsonl line 5 is not a metrics row; remove that line"),
    (_write("metrics.jsonl", '{"x": 1}\n', append=True), "metrics.jsonl line 5 is not a metrics row"),
    (_write("metrics.jsonl", b"\xff\xfe\n", append=True), "metrics.jsonl line 5 is not a metrics row"),
    (_checkpoint_without("step"), "checkpoint.pt is not a dlrepro checkpoint (it needs step"),
    (_checkpoint_without("task"), "checkpoint.pt is not a dlrepro checkpoint"),
], ids=["config-list", "config-empty", "config-nan", "config-fifo", "summary-list", "summary-no-final",
        "metrics-42", "metrics-no-step", "metrics-not-utf8", "checkpoint-no-step", "checkpoint-no-task"])
def test_resume_with_a_corrupt_run_file_names_it_and_what_to_do(interrupted_run, tmp_path, capsys, mutate, needle):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(interrupted_run, run)
    mutate(run)
    assert_usage_error([*TRAIN, "--out", str(run), "--resume"], needle, capsys)


def test_resume_still_ignores_a_torn_last_metrics_line(interrupted_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(interrupted_run, run)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 9, "ep')  # a write cut short by a kill: no newline
    assert main([*TRAIN, "--out", str(run), "--resume"]) == 0
    assert '"ep\n' not in (run / "metrics.jsonl").read_text() and (run / "summary.json").exists()


# --- CIFAR-10 copies ---------------------------------------------------------------------------------------
def test_a_fifo_in_a_class_folder_is_refused_without_blocking(tmp_path):
    make_folder(tmp_path / "data")
    os.mkfifo(tmp_path / "data" / "train" / "cat" / "9999.png")
    with pytest.raises(DatasetError, match=r"9999.png is a FIFO, not an image file: remove it"):
        load_cifar10(tmp_path / "data", verify=False, cache_dir=tmp_path / "cache")


def test_an_image_file_larger_than_a_32x32_image_can_be_is_refused(tmp_path):
    make_folder(tmp_path / "data")
    with open(tmp_path / "data" / "test" / "dog" / "0000.png", "r+b") as f:
        f.truncate(MAX_IMAGE_BYTES + 1)  # sparse
    with pytest.raises(DatasetError, match=r"0000.png is 262,145 bytes, more than the 262,144 a CIFAR-10 image can"):
        load_cifar10(tmp_path / "data", verify=False, cache_dir=tmp_path / "cache")


def _archive_with(tmp_path: Path, name: str, size: int) -> Path:
    """An image-folder copy as a .tar.gz plus one member of `size` zero bytes (cheap: it compresses to KBs)."""
    expected_src = tmp_path / "src"
    make_folder(expected_src)
    archive = make_tar(expected_src, tmp_path / "copy.tar")
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, _Zeros(size))
    gz = tmp_path / "copy.tar.gz"
    import gzip
    import shutil

    with open(archive, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    archive.unlink()
    return gz


class _Zeros:
    def __init__(self, n: int):
        self.left = n

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def _reads(monkeypatch) -> list[tuple[str, int]]:
    """Records (member name, bytes read) of every archive member the loader reads."""
    import dlrepro.data.cifar10.archive as archive_module

    reads: list[tuple[str, int]] = []
    original = tarfile.TarFile.extractfile

    def extractfile(self, member):
        stream = original(self, member)
        reads.append((member.name, member.size))
        return stream

    monkeypatch.setattr(archive_module.tarfile.TarFile, "extractfile", extractfile)
    return reads


def test_an_archive_member_no_layout_names_is_never_read(tmp_path, monkeypatch):
    archive = _archive_with(tmp_path, "extras/pad.png", 16 * 2**20)  # 16 MiB, named like an image, in no layout
    reads = _reads(monkeypatch)
    ds = load_cifar10(archive, verify=False, cache_dir=tmp_path / "cache")
    assert len(ds.train_labels) == 30
    assert "extras/pad.png" not in {name for name, _ in reads}
    assert max(size for _, size in reads) <= MAX_IMAGE_BYTES


def test_an_archive_image_member_beyond_the_bound_is_refused_unread(tmp_path, monkeypatch):
    archive = _archive_with(tmp_path, "train/cat/huge.png", 8 * 2**20)
    with pytest.raises(DatasetError, match=r"member train/cat/huge.png is 8,388,608 bytes, more than a 32x32 image "
                                           r"can be \(262,144\)"):
        load_cifar10(archive, verify=False, cache_dir=tmp_path / "cache")


# --- a killed sweep leaves no workers ----------------------------------------------------------------------
def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_a_sweep_leaves_no_worker_running(tmp_path):
    study = tmp_path / "long.toml"
    study.write_text('[study]\nname = "long"\n[fixed]\nmodel = "rnn"\ninput_length = 3\nhidden = 4\nbatch_size = 4\n'
                     "steps = 100000000\neval_every = 1000000\ntest_size = 8\n[grid]\nseed = [0, 1]\n")
    out = tmp_path / "out"
    children: set[int] = set()
    proc = subprocess.Popen([sys.executable, "-m", "dlrepro", "sweep", str(study), "--workers", "2", "--out", str(out),
                             "--no-vectorize", "--quiet"], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("runs/long/*/.lock"))) < 2:  # both workers are training
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep did not start both trials"
            time.sleep(0.1)
        children = _children(proc.pid)  # the two workers and the resource tracker
        assert len(children) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for c in children if _alive(c)], "processes of the killed sweep still run"
    finally:
        if proc.poll() is None:
            proc.kill()
        for c in children:
            if _alive(c):
                os.kill(c, signal.SIGKILL)
