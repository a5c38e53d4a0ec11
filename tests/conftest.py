import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest


def dlrepro(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m dlrepro ARGS` in a subprocess (one torch thread) and capture its output."""
    return subprocess.run([sys.executable, "-m", "dlrepro", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def kill_dlrepro_when(args: list[str], ready: Callable[[], bool], timeout: float = 120) -> None:
    """Start `python -m dlrepro ARGS` and SIGKILL it as soon as `ready()` holds (it must not finish first)."""
    proc = subprocess.Popen([sys.executable, "-m", "dlrepro", *args], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, f"finished before it could be killed: {proc.stderr.read()}"
        assert time.time() < deadline, "timed out waiting to kill"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.fixture
def one_torch_thread():
    """Compute in-process as the `dlrepro` subprocesses do (OMP_NUM_THREADS=1): float sums depend on it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def assert_usage_error(argv: list[str], needle: str, capsys) -> None:
    """`dlrepro ARGV` in-process exits with code 2 and prints exactly one line, containing `needle`."""
    from dlrepro.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err


class MemorySink:
    """An engine `Sink` that keeps rows and the latest checkpoint in memory."""

    def __init__(self):
        self.rows, self.checkpoint = [], None

    def load_checkpoint(self):
        return self.checkpoint

    def save_checkpoint(self, checkpoint):
        self.checkpoint = checkpoint

    def restart_metrics(self, up_to_step):
        self.rows = [r for r in self.rows if r["step"] <= up_to_step]

    def log_metrics(self, row):
        self.rows.append(row)
