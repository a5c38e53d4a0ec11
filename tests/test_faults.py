"""Fault injection: each test is named as the claim it proves. Processes are SIGKILLed at random points,
disks fill up, two writers meet on one run, checkpoints are truncated; afterwards no metrics row is lost
or duplicated and every error is one line.

TALLY counts what the suite did (printed at the end of the module with `pytest -s`): faults injected,
rows compared and rows lost or duplicated, which must be 0 (asserted when the module's tests are done).
"""

import errno
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrepro import files as files_module
from dlrepro.cli import main
from dlrepro.runs import rundir as rundir_module
from dlrepro.runs.execute import execute
from dlrepro.runs.rundir import RunDir, read_metrics
from dlrepro.train.config import MLPConfig, RNNConfig
from helpers import assert_usage_error, dlrepro, kill_dlrepro_when

TALLY = {"faults injected": 0, "rows compared": 0, "rows lost or duplicated": 0}


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield TALLY
    print(f"\nfault suite: {TALLY}")
    assert TALLY["rows lost or duplicated"] == 0, f"fault suite: {TALLY}"


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


def _same_rows(got, want) -> bool:
    """Rows equal (elapsed_s aside); counts the rows lost or duplicated into TALLY."""
    steps = [r["step"] for r in got]
    TALLY["rows compared"] += len(want)
    TALLY["rows lost or duplicated"] += len(set(r["step"] for r in want) ^ set(steps)) + len(steps) - len(set(steps))
    return _strip(got) == _strip(want)


MLP_ARGS = ["train", "mlp-numpy", "--dataset", "moons", "--epochs", "60", "--eval-every", "1",
            "--n-samples", "200", "--batch-size", "4", "--checkpoint-every", "0", "--quiet"]
MLP = MLPConfig(model="mlp-numpy", dataset="moons", epochs=60, eval_every=1, n_samples=200, batch_size=4)
RNN_ARGS = ["train", "rnn", "--input-length", "4", "--hidden", "16", "--steps", "400", "--eval-every", "10",
            "--checkpoint-every", "0", "--quiet"]
RNN = RNNConfig(input_length=4, hidden=16, steps=400, eval_every=10)


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    return {"mlp": execute(MLP, root / "mlp", progress=False)[0].metrics(),
            "rnn": execute(RNN, root / "rnn", progress=False)[0].metrics()}


# --- SIGKILL ---------------------------------------------------------------------------------------------
def test_sigkill_at_random_points_in_10_runs_then_resume_gives_identical_rows(tmp_path, references):
    rng = random.Random(13)  # seeded: the same kill points every time
    for trial in range(10):
        kind = ("mlp", "rnn")[trial % 2]
        args, want = (MLP_ARGS, references["mlp"]) if kind == "mlp" else (RNN_ARGS, references["rnn"])
        out = tmp_path / f"{kind}-{trial}"
        k = rng.randrange(0, len(want) - 1)  # 0: as soon as the run is claimed, before any row
        kill_dlrepro_when([*args, "--out", str(out)],
                          ready=lambda out=out, k=k: (out / ".lock").exists() if k == 0
                          else len(read_metrics(out / "metrics.jsonl")) >= k)
        TALLY["faults injected"] += 1
        assert not (out / "summary.json").exists()
        assert main([*args, "--out", str(out), "--resume"]) == 0  # in-process: the kill is what needs a process
        assert _same_rows(read_metrics(out / "metrics.jsonl"), want), (kind, k)
        assert not list(out.glob(".*"))  # no lock or temp file left behind


def test_sweep_killed_midway_and_rerun_completes_every_trial_with_each_step_once(tmp_path):
    ref_out, out = tmp_path / "ref", tmp_path / "killed"
    assert main(["sweep", "toy", "--profile", "smoke", "--workers", "1", "--out", str(ref_out)]) == 0
    runs = out / "runs" / "toy"
    kill_dlrepro_when(["sweep", "toy", "--profile", "smoke", "--workers", "1", "--out", str(out)],
                      ready=lambda: runs.is_dir() and len(list(runs.glob("*/metrics.jsonl"))) >= 3)
    TALLY["faults injected"] += 1
    again = dlrepro("sweep", "toy", "--profile", "smoke", "--workers", "1", "--out", str(out))
    assert again.returncode == 0, again.stderr
    ref_files = sorted((ref_out / "runs" / "toy").iterdir())  # the runs and the study's record and runs.csv
    assert sorted(p.name for p in runs.iterdir()) == [p.name for p in ref_files]
    for ref in (p for p in ref_files if p.is_dir()):
        assert RunDir(runs / ref.name).summary()["status"] == "completed"
        assert _same_rows(RunDir(runs / ref.name).metrics(), RunDir(ref).metrics()), ref.name


# --- a damaged checkpoint ----------------------------------------------------------------------------------
def test_truncated_checkpoint_is_one_line_saying_what_to_do_and_deleting_it_restarts_cleanly(tmp_path, capsys,
                                                                                            references):
    out = tmp_path / "r"
    kill_dlrepro_when([*MLP_ARGS, "--out", str(out)], ready=lambda: len(read_metrics(out / "metrics.jsonl")) >= 5)
    ckpt = out / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    TALLY["faults injected"] += 1
    assert_usage_error([*MLP_ARGS, "--out", str(out), "--resume"],
                       f"checkpoint {ckpt} is corrupt (", capsys)
    assert main([*MLP_ARGS, "--out", str(out), "--resume"]) == 2
    assert "; delete it to restart the run from scratch, or restore it" in capsys.readouterr().err
    ckpt.unlink()
    assert main([*MLP_ARGS, "--out", str(out), "--resume"]) == 0
    assert _same_rows(read_metrics(out / "metrics.jsonl"), references["mlp"])


# --- two writers -------------------------------------------------------------------------------------------
def test_train_into_a_run_another_process_writes_exits_2_naming_it_and_touches_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    with RunDir(out).writing():
        TALLY["faults injected"] += 1
        assert_usage_error([*MLP_ARGS, "--out", str(out)],
                           f"run {out} is being written by pid {os.getpid()} on {socket.gethostname()}", capsys)
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
    assert not out.exists()  # the holder created it and wrote nothing


def test_two_train_processes_on_one_out_one_trains_the_other_exits_2(tmp_path, references):
    """The first process is stopped (SIGSTOP) while it holds the run's lock, after its first rows; the second
    then certainly meets it: exit 2 naming the first, nothing touched. Continued, the first completes."""
    out = tmp_path / "r"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen([sys.executable, "-m", "dlrepro", *MLP_ARGS, "--out", str(out)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not read_metrics(out / "metrics.jsonl"):
            assert first.poll() is None and time.time() < deadline, first.stderr.read()
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # it holds the lock until it is continued and finishes
        held = read_metrics(out / "metrics.jsonl")
        assert not (out / "summary.json").exists() and (out / ".lock").exists()
        second = dlrepro(*MLP_ARGS, "--out", str(out), "--resume")
        TALLY["faults injected"] += 1
        assert second.returncode == 2, second.stderr
        assert second.stderr == f"dlrepro: error: run {out} is being written by pid {first.pid} on " \
                                f"{socket.gethostname()}\n"
        assert read_metrics(out / "metrics.jsonl") == held  # the second wrote nothing
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert _same_rows(read_metrics(out / "metrics.jsonl"), references["mlp"])


def test_two_sweeps_at_once_on_one_folder_write_each_step_once_and_equal_one_sweep(tmp_path):
    ref_out, out = tmp_path / "ref", tmp_path / "shared"
    assert main(["sweep", "toy", "--profile", "smoke", "--workers", "1", "--out", str(ref_out)]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "dlrepro", "sweep", "toy", "--profile", "smoke", "--workers",
                               "1", "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    TALLY["faults injected"] += 1
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    for ref in sorted(p for p in (ref_out / "runs" / "toy").iterdir() if p.is_dir()):
        run = RunDir(out / "runs" / "toy" / ref.name)
        assert run.summary()["status"] == "completed"
        assert _same_rows(run.metrics(), RunDir(ref).metrics()), ref.name
        assert not (run.path / ".lock").exists()


def test_sweep_leaves_a_trial_another_process_writes_as_running_elsewhere_not_failed(tmp_path, capsys):
    from dlrepro.studies.spec import load_study

    trial = load_study("toy").trials("smoke")[0]
    held = tmp_path / "runs" / "toy" / trial.default_name()
    with RunDir(held).writing():
        TALLY["faults injected"] += 1
        assert main(["sweep", "toy", "--profile", "smoke", "--workers", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "running elsewhere" in out and "1 trial(s) running elsewhere" in out and held.name in out
    assert not held.exists()  # untouched: the holder wrote nothing into it
    others = [d for d in (tmp_path / "runs" / "toy").iterdir() if d.is_dir()]
    assert len(others) == 5 and all(RunDir(d).summary()["status"] == "completed" for d in others)
    assert main(["sweep", "toy", "--profile", "smoke", "--workers", "1", "--out", str(tmp_path)]) == 0
    assert RunDir(held).summary()["status"] == "completed"


def test_seed_population_locks_every_member(tmp_path, capsys):
    args = ["train", "mlp-numpy", "--dataset", "moons", "--epochs", "2", "--n-samples", "50", "--seeds", "0-2",
            "--quiet", "--out", str(tmp_path)]
    with RunDir(tmp_path / "seed-1").writing():
        TALLY["faults injected"] += 1
        assert_usage_error(args, f"run {tmp_path / 'seed-1'} is being written by pid {os.getpid()}", capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing trained, nothing left
    from dlrepro.sweep.local import run_trials
    from dlrepro.sweep.trials import RUNNING_ELSEWHERE

    cfgs = [MLPConfig(model="mlp-numpy", dataset="moons", epochs=2, n_samples=50, seed=s) for s in range(3)]
    dirs = [tmp_path / f"s{s}" for s in range(3)]
    with RunDir(dirs[1]).writing():
        results = run_trials(cfgs, dirs)
    assert [r.status for r in results] == ["completed", RUNNING_ELSEWHERE, "completed"]


# --- full disks --------------------------------------------------------------------------------------------
class _FullDisk:
    """`open` for dlrepro.runs.rundir (and dlrepro.files) whose writes to files named `name` fail with ENOSPC
    after `after` good writes (half of the failing write's data lands first, as on a real disk filling up)."""

    def __init__(self, name: str, after: int = 0):
        self.name, self.after = name, after

    def __call__(self, file, mode="r", *args, **kwargs):
        f = open(file, mode, *args, **kwargs)
        if "r" in mode or Path(file).name != self.name:
            return f
        fault = self

        class Filling:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()

            def fileno(self):
                return f.fileno()

            def flush(self):
                f.flush()

            def write(self, data):
                if fault.after > 0:
                    fault.after -= 1
                    return f.write(data)
                f.write(data[: len(data) // 2])
                TALLY["faults injected"] += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return Filling()


def _fill_savefig(monkeypatch):
    from matplotlib.figure import Figure

    def savefig(self, fname, *args, **kwargs):  # fname: the atomic write's temp file (dlrepro.files)
        if hasattr(fname, "write"):
            fname.write(b"\x89PNG half")
        else:
            Path(fname).write_bytes(b"\x89PNG half")
        TALLY["faults injected"] += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", savefig)


@pytest.mark.parametrize("point", ["metrics", "checkpoint", "summary", "figure"])
def test_disk_full_at_each_write_point_is_one_line_keeps_the_run_consistent_and_resume_is_exact(
        point, tmp_path, capsys, monkeypatch, references):
    out = tmp_path / "r"
    args = [*MLP_ARGS, "--out", str(out)]
    if point == "figure":
        _fill_savefig(monkeypatch)
    else:
        name = {"metrics": "metrics.jsonl", "checkpoint": files_module.temp_path(Path("checkpoint.pt")).name,
                "summary": files_module.temp_path(Path("summary.json")).name}[point]
        fault = _FullDisk(name, after=20 if point != "summary" else 0)
        for module in (rundir_module, files_module):  # appends (metrics) and atomic writes (dlrepro.files)
            monkeypatch.setattr(module, "open", fault, raising=False)
    failed_file = {"metrics": "metrics.jsonl", "checkpoint": "checkpoint.pt", "summary": "summary.json",
                   "figure": "curves.png"}[point]
    assert_usage_error(args, f"{out / failed_file}: No space left on device", capsys)
    assert not list(out.glob(".*.tmp"))  # failed temp files are removed
    summary = RunDir(out).summary()
    if point == "summary":
        assert summary is None  # the disk refused it too: the run reads as unfinished
    else:
        assert summary["status"] == "failed" and "No space left on device" in summary["error"]
    assert not (out / "curves.png").exists() or point != "figure"
    assert RunDir(out).load_checkpoint()["step"] > 0  # the last good one stays loadable
    monkeypatch.undo()  # space freed
    assert main([*args, "--resume"]) == 0, capsys.readouterr().err
    assert _same_rows(read_metrics(out / "metrics.jsonl"), references["mlp"])
    assert RunDir(out).summary()["status"] == "completed" and (out / "curves.png").exists()


def test_io_error_in_one_sweep_trial_is_a_failed_trial_with_its_one_line_reason(tmp_path, monkeypatch):
    from dlrepro.sweep.local import run_trials

    monkeypatch.setattr(rundir_module, "open", _FullDisk("metrics.jsonl", after=3), raising=False)
    cfg = MLPConfig(model="mlp-numpy", dataset="moons", epochs=8, eval_every=1, n_samples=50)
    (result,) = run_trials([cfg], [tmp_path / "t"])
    assert result.status == "failed"
    assert result.error == f"{tmp_path / 't' / 'metrics.jsonl'}: No space left on device"


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 200 KB tmpfs (root only; skipped elsewhere), unmounted afterwards."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_run_on_a_full_tmpfs_ends_with_one_line_and_exit_2_and_resumes_exactly_after_freeing_space(tiny_tmpfs):
    filler = tiny_tmpfs / "filler"
    filler.write_bytes(b"\0" * 150_000)
    out = tiny_tmpfs / "r"
    args = ["train", "mlp-numpy", "--dataset", "moons", "--epochs", "300", "--eval-every", "1", "--n-samples",
            "100", "--batch-size", "8", "--checkpoint-every", "0", "--quiet", "--out", str(out)]
    full = dlrepro(*args)
    TALLY["faults injected"] += 1
    assert full.returncode == 2 and full.stderr.count("\n") == 1, full.stderr
    assert full.stderr.startswith(f"dlrepro: error: {out}/") and "No space left on device" in full.stderr
    assert "Traceback" not in full.stderr and not list(out.glob(".*"))
    summary = RunDir(out).summary() if (out / "summary.json").exists() else None
    assert summary is None or summary["status"] == "failed"
    filler.unlink()
    resumed = dlrepro(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    want = execute(MLPConfig(model="mlp-numpy", dataset="moons", epochs=300, eval_every=1, n_samples=100,
                             batch_size=8), tiny_tmpfs.parent / "ref", progress=False)[0].metrics()
    assert _same_rows(read_metrics(out / "metrics.jsonl"), want)
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
