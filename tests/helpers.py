"""What tests (and benchmarks) share besides fixtures: `from helpers import ...`. pytest finds this module
through `pythonpath = ["tests"]` (pyproject.toml); a benchmark puts tests/ on sys.path first. Fixtures stay
in conftest.py, which nothing imports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

# --- the CLI in a subprocess, and its usage errors ---------------------------------------------------------


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


# --- engine sinks ------------------------------------------------------------------------------------------


class MemorySink:
    """The engine `Sink` (`dlrepro.train.engine.Sink`) that keeps the metrics rows and the latest checkpoint
    in memory: for tests, and for benchmarks that time the engine without files."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float | None]] = []
        self.checkpoint: dict[str, Any] | None = None

    def load_checkpoint(self) -> dict[str, Any] | None:
        return self.checkpoint

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.checkpoint = checkpoint

    def restart_metrics(self, up_to_step: int) -> None:
        self.rows = [r for r in self.rows if r["step"] <= up_to_step]

    def log_metrics(self, row: dict[str, float | None]) -> None:
        self.rows.append(row)
