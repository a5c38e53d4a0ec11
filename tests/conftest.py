import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.xz"


def run_cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run `python -m dlrepro ARGS` in a subprocess (one torch thread), capturing output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "dlrepro", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)


@pytest.fixture
def cli():
    return run_cli


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
