"""`dlrepro train` picks its torch threads by model kind (dlrepro.train.threads); --threads and a user's
OMP_NUM_THREADS win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig
from dlrepro.train.threads import train_threads
from helpers import assert_usage_error

CORES = os.cpu_count() or 1


def test_small_models_take_one_thread_and_the_convnet_every_core():
    assert train_threads([RNNConfig()], env={}) == 1
    assert train_threads([MLPConfig(model="mlp-torch")], env={}) == 1
    assert train_threads([CNNConfig()], env={}) == CORES
    assert train_threads([RNNConfig(seed=s) for s in range(4)], population=True, env={}) == CORES
    assert train_threads([RNNConfig(seed=s) for s in range(4)], population=False, env={}) == 1
    assert train_threads([MLPConfig(model="mlp-numpy")], env={}) is None  # never imports torch


def test_threads_flag_and_a_users_omp_num_threads_win():
    assert train_threads([RNNConfig()], requested=3, env={"OMP_NUM_THREADS": "2"}) == 3
    assert train_threads([RNNConfig()], env={"OMP_NUM_THREADS": "2"}) is None  # torch reads it itself
    assert train_threads([CNNConfig()], env={"OMP_NUM_THREADS": "1"}) is None
    assert train_threads([RNNConfig()], env={"OMP_NUM_THREADS": ""}) == 1  # set but empty: not a choice


def threads_used(*flags: str, omp: str | None = None) -> int:
    """`dlrepro train rnn` (a few steps) in a fresh process; the torch threads it trained with."""
    code = ("import sys, torch; from dlrepro.cli import main; rc = main(sys.argv[1:]); "
            "print('THREADS', torch.get_num_threads()); sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    out = subprocess.run([sys.executable, "-c", code, "train", "rnn", "--steps", "10", "--hidden", "8", "--quiet",
                          *flags], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split("THREADS")[-1])


@pytest.mark.skipif(CORES < 2, reason="needs 2 cores to tell 1 thread from all")
def test_train_runs_with_the_chosen_threads(tmp_path):
    def used(*flags: str, omp: str | None = None) -> int:
        return threads_used("--out", str(tmp_path / f"run-{len(list(tmp_path.iterdir()))}"), *flags, omp=omp)

    assert used() == 1
    assert used("--threads", "2") == 2
    assert used(omp="2") == 2
    assert used("--threads", "1", omp="2") == 1


def test_a_bad_thread_count_is_one_line(capsys):
    assert_usage_error(["train", "rnn", "--threads", "0"], "--threads must be between 1 and 1024", capsys)
