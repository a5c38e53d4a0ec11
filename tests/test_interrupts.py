"""A sweep's output may be lost, never its results: Ctrl-C stops within seconds and starts nothing queued,
leaving every run resumable; a reader that stops reading (`| head`) or a closed stdout costs no result file;
a terminal without cursor control (TERM=dumb) gets plain lines."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrepro.sweep.study import trial_state

SRC = Path(__file__).resolve().parents[1] / "src"
SWEEP = ["sweep", "palindrome", "--profile", "smoke", "--set", "cell=rnn", "--set", "hidden=16", "--workers", "2"]


def env(**extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "DLREPRO_CALIBRATION": "off",
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]), **extra}


def run_dirs(out: Path) -> list[Path]:
    study = out / "runs" / "palindrome"
    return sorted(d for d in study.iterdir() if d.is_dir()) if study.is_dir() else []


def test_ctrl_c_stops_a_sweep_within_seconds_starts_nothing_queued_and_leaves_every_run_resumable(tmp_path):
    out = tmp_path / "out"
    # 6 long trials (3 seeds x 2 lengths) on 2 workers: 4 are queued when the interrupt comes
    args = [*SWEEP, "--set", "steps=200000", "--set", "eval_every=20", "--set", "seed=[0,1,2]", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "dlrepro", *args], env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 240
    while sum((d / "metrics.jsonl").exists() for d in run_dirs(out)) < 2:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.time() < deadline, "the trials did not start"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C at a terminal: the whole foreground process group
    stopped_at = time.time()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the sweep went on for a minute after Ctrl-C")
    assert time.time() - stopped_at < 30
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "dlrepro: interrupted; rerun the same command" in err, err
    started = [d for d in run_dirs(out) if (d / "metrics.jsonl").exists()]
    assert len(started) == 2  # the queued trials never trained
    for d in started:
        assert not (d / "summary.json").exists() and not (d / ".lock").exists()
        assert trial_state(d) == "interrupted"  # the next sweep resumes it from its checkpoint


def test_a_reader_that_stops_reading_costs_no_result_and_no_error(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dlrepro", *SWEEP, "--set", "steps=60", "--out", str(out)]
    shell = " ".join(f"'{a}'" for a in cmd) + ' | head -1; echo "exit=${PIPESTATUS[0]}" >&2'
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env(), timeout=600)
    assert proc.stdout.count("\n") == 1, proc.stdout
    assert proc.stderr.strip() == "exit=0", proc.stderr  # no "Broken pipe", no traceback
    rows = list(csv.DictReader((out / "runs" / "palindrome" / "runs.csv").open()))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"completed"}


def test_a_closed_stdout_costs_no_result_and_no_error(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "dlrepro", *SWEEP, "--set", "steps=60", "--out", str(out)]
    shell = " ".join(f"'{a}'" for a in cmd) + ' >&-; echo "exit=$?" >&2'
    proc = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, env=env(), timeout=600)
    assert proc.stderr.strip() == "exit=0", proc.stderr
    rows = list(csv.DictReader((out / "runs" / "palindrome" / "runs.csv").open()))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"completed"}
    for d in run_dirs(out):  # nothing a worker printed landed in a file that took descriptor 1
        assert (d / "summary.json").read_text().startswith("{")


def test_a_dumb_terminal_gets_no_cursor_control(tmp_path):
    import pexpect  # the dev extra has it: a missing one is a failure, not a silent skip
    child = pexpect.spawn(sys.executable, ["-m", "dlrepro", *SWEEP, "--set", "steps=200", "--out", str(tmp_path)],
                          env=env(TERM="dumb", DLREPRO_STATUS_EVERY_S="0.5"), encoding="utf-8", timeout=600,
                          dimensions=(40, 120))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before[-2000:]
    assert "\x1b[" not in child.before
    assert "[2/2] completed" in child.before and "[status] palindrome:" in child.before


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie waiting for a reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_without_the_parent_death_signal_the_fallback_watcher_ends_the_whole_orphaned_worker(tmp_path):
    """A platform without Linux's PR_SET_PDEATHSIG (sys.platform patched in the worker) relies on the watcher
    thread alone: when the sweep's process dies by SIGKILL, the worker process must end, not just the thread."""
    worker = (
        "import sys, time\n"
        "sys.platform = 'darwin'  # no parent-death signal: the fallback watcher is the only guard\n"
        "from dlrepro.sweep.local import exit_with_parent\n"
        "exit_with_parent(every_s=0.05)\n"
        f"open({str(tmp_path / 'ready')!r}, 'w').close()\n"
        "while True:\n"
        "    sum(range(10_000))  # training, in the main thread\n")
    parent = ("import subprocess, sys, time\n"
              f"child = subprocess.Popen([sys.executable, '-c', {worker!r}])\n"
              f"open({str(tmp_path / 'pid')!r}, 'w').write(str(child.pid))\n"
              "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", parent], env=env())
    try:
        deadline = time.time() + 120
        while not (tmp_path / "ready").exists():
            assert time.time() < deadline and proc.poll() is None, "the worker did not start"
            time.sleep(0.05)
        pid = int((tmp_path / "pid").read_text())
        assert _alive(pid)
        proc.kill()  # the sweep dies without running any cleanup
        proc.wait()
        deadline = time.time() + 60
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        orphan = _alive(pid)
        if orphan:
            os.kill(pid, signal.SIGKILL)
        assert not orphan, "the orphaned worker kept running"
    finally:
        proc.kill()


def _unit(kind: str) -> str:
    """A unit of work for the pool test: it returns, raises, exits or hangs as `kind` says."""
    if kind == "os._exit":
        os._exit(0)
    if kind == "raise":
        raise ValueError("boom\nsecond line")
    if kind == "sys.exit":
        sys.exit(3)
    if kind == "signal":
        os.kill(os.getpid(), signal.SIGSEGV)
    if kind == "hang":
        time.sleep(600)
    return kind * 2


def test_the_pool_fails_only_the_unit_that_crashed_raised_or_ran_past_its_limit():
    from dlrepro.sweep.pool import run_pool

    results: dict[int, tuple] = {}
    units = ["a", "os._exit", "raise", "sys.exit", "signal", "hang", "b"]
    run_pool(units, _unit, 2, lambda i, value, error: results.__setitem__(i, (value, error)), limit_s=30)
    assert results == {0: ("aa", None), 1: (None, "the worker process ended (exit code 0)"),
                       2: (None, "ValueError: boom second line"), 3: (None, "called sys.exit(3)"),
                       4: (None, "the worker process ended (killed by signal SIGSEGV)"),
                       5: (None, "did not finish within the trial time limit (30 s); stopped"), 6: ("bb", None)}
