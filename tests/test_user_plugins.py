"""A user's own class, misbehaving or not: every run seeds the global generators first (two identical commands
with the docs' `Leaky` cell give identical metrics), the check runs in a child process with a time limit (an
exit, a signal or a hang at import is one line), a trial's crash or sys.exit() is that trial's failure, a
forward that goes wrong after the check is one line in `train`, and the fields dlrepro records about a class
cannot be written by a study or --set."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrepro.cli import main
from dlrepro.train.config import RNNConfig
from helpers import assert_usage_error

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
TINY = ["--steps", "20", "--hidden", "8", "--input-length", "4", "--eval-every", "10", "--quiet"]


def docs_example(name: str) -> str:
    """The ```python block of the README (or docs/) that defines class `name`."""
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if doc.is_file():
            for block in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
                if f"class {name}(" in block:
                    return block
    raise AssertionError(f"no python block defines {name}")


def cli(args: list[str], pkg: Path, cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """`python -m dlrepro ARGS` with `pkg` and dlrepro's src on PYTHONPATH."""
    full = {**os.environ, "OMP_NUM_THREADS": "1", "DLREPRO_CALIBRATION": "off",
            "PYTHONPATH": os.pathsep.join([str(pkg), str(SRC)]), **env}
    return subprocess.run([sys.executable, "-m", "dlrepro", *args], capture_output=True, text=True,
                          timeout=timeout, env=full, cwd=cwd)


def one_error_line(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("dlrepro: error: "), proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    """A user's folder, on sys.path of this process and of the check's child process."""
    d = tmp_path / "user"
    d.mkdir()
    (d / "my_cells.py").write_text(docs_example("Leaky"))
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(d), str(SRC)]))
    return d


CELL_HEAD = """import torch
from torch import nn


class Cell(nn.Module):
    calls = 0

    def __init__(self, input_dim, hidden_dim, num_classes, generator=None):
        super().__init__()
        {init}
        self.W = nn.Parameter(torch.randn(input_dim, num_classes, generator=generator))

    def forward(self, x):
        type(self).calls += 1
        {forward}
        return x.sum(1) @ self.W
"""


def write_cell(pkg: Path, name: str, *, top: str = "", init: str = "pass", forward: str = "pass") -> str:
    """A user's module `name` holding class Cell (a plain linear readout), with `top` run at import, `init` in
    its constructor and `forward` before its return. Returns the import path."""
    (pkg / f"{name}.py").write_text(top + "\n" + CELL_HEAD.format(init=init, forward=forward))
    return f"{name}:Cell"


# --- seeded -------------------------------------------------------------------------------------------------

def test_two_identical_commands_with_the_docs_leaky_cell_give_identical_metrics(pkg, tmp_path, capsys):
    import torch

    rows = []
    for k in range(2):
        torch.rand(7)  # whatever ran before in this process (another trial in a worker) drew from it
        out = tmp_path / f"run{k}"
        assert main(["train", "rnn", "--cell", "my_cells:Leaky", *TINY, "--out", str(out)]) == 0
        rows.append([{key: r[key] for key in ("step", "train_loss", "test_loss", "test_acc")}
                     for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())])
    assert rows[0] == rows[1] and len(rows[0]) == 3


def test_a_seed_population_of_a_cell_drawing_from_the_global_generator_matches_its_single_runs(pkg, tmp_path):
    """A broadcasting cell with a global-generator draw: each member starts from its own seed's draw."""
    import torch

    from dlrepro.runs.execute import execute_seeds

    path = write_cell(pkg, "bcell", init="self.bias = nn.Parameter(torch.randn(1, num_classes))")
    text = (pkg / "bcell.py").read_text().replace("    calls = 0", "    calls = 0\n    broadcasts = True")
    (pkg / "bcell.py").write_text(text.replace("return x.sum(1) @ self.W", "return x.sum(-2) @ self.W + self.bias"))
    base = RNNConfig(cell=path, hidden=8, steps=20, eval_every=10, input_length=4)
    cfgs = [RNNConfig(**{**base.to_dict(), "seed": s}) for s in (0, 1)]
    together = execute_seeds(cfgs, [tmp_path / "pop" / str(s) for s in (0, 1)], progress=False)
    torch.rand(3)
    alone = execute_seeds(cfgs, [tmp_path / "one" / str(s) for s in (0, 1)], vectorize=False, progress=False)
    for (a, _), (b, _) in zip(together, alone, strict=True):
        assert [r["test_loss"] for r in a.metrics()] == pytest.approx([r["test_loss"] for r in b.metrics()])
    assert together[0][0].metrics()[-1]["test_loss"] != together[1][0].metrics()[-1]["test_loss"]


def test_seeding_the_global_generators_leaves_the_built_in_models_untouched(tmp_path, one_torch_thread):
    """The built-in cells draw their weights from their own generators: a global draw before does nothing."""
    import torch

    from dlrepro.runs.execute import execute

    losses = []
    for k, noise in enumerate((False, True)):
        if noise:
            torch.manual_seed(12345)
        _, summary = execute(RNNConfig(cell="gru", hidden=8, steps=20, eval_every=10, input_length=4),
                             tmp_path / str(k), progress=False)
        losses.append(summary["final"])
    assert losses[0] == losses[1]


# --- isolated -----------------------------------------------------------------------------------------------

HOSTILE_IMPORTS = {
    "sys.exit() at import": ("import sys\nsys.exit(0)", "called sys.exit(0)"),
    "os._exit() at import": ("import os\nos._exit(0)", "ended the process (exit code 0)"),
    "a signal at import": ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
                           "killed by signal SIGKILL"),
    "a hang at import": ("import time\ntime.sleep(600)", "did not finish within 10 s"),
}
HOSTILE_CHECKS = {
    "a hang in __init__": ({"init": "import time; time.sleep(600)"}, "did not finish within 10 s"),
    "a hang in forward": ({"forward": "import time; time.sleep(600)"}, "did not finish within 10 s"),
    "sys.exit() in __init__": ({"init": "raise SystemExit(4)"}, "called sys.exit(4)"),
    "os._exit() in forward": ({"forward": "import os; os._exit(3)"}, "ended the process (exit code 3)"),
}


@pytest.mark.parametrize("case", [*HOSTILE_IMPORTS, *HOSTILE_CHECKS])
def test_a_plugin_that_exits_is_killed_or_hangs_while_checked_is_one_line_exit_2(case, pkg, tmp_path):
    if case in HOSTILE_IMPORTS:
        top, needle = HOSTILE_IMPORTS[case]
        path = write_cell(pkg, "hostile", top=top)
    else:
        parts, needle = HOSTILE_CHECKS[case]
        path = write_cell(pkg, "hostile", **parts)
    start = time.monotonic()
    proc = cli(["train", "rnn", "--cell", path, *TINY, "--out", str(tmp_path / "run")], pkg, tmp_path,
               DLREPRO_PLUGIN_CHECK_S="10")
    one_error_line(proc, needle)
    assert "hostile:Cell" in proc.stderr
    assert time.monotonic() - start < 200
    assert not (tmp_path / "run").exists()


def test_an_optimizer_whose_step_hangs_is_one_line_exit_2(pkg, tmp_path):
    (pkg / "stuck_opt.py").write_text("import time\nimport torch\n\n\nclass Stuck(torch.optim.SGD):\n"
                                      "    def step(self, closure=None):\n        time.sleep(600)\n")
    proc = cli(["train", "rnn", "--optimizer", "stuck_opt:Stuck", *TINY, "--out", str(tmp_path / "run")], pkg,
               tmp_path, DLREPRO_PLUGIN_CHECK_S="10")
    one_error_line(proc, "stuck_opt:Stuck: its check did not finish within 10 s")


def test_a_cell_that_refuses_small_hidden_sizes_is_sized_and_trains(pkg, tmp_path, capsys):
    path = write_cell(pkg, "big_only", init="assert hidden_dim >= 4, 'hidden_dim must be at least 4'")
    assert main(["train", "rnn", "--cell", path, *TINY, "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"


LATE_FAILURES = {
    "raises": "raise ValueError('late trouble')",
    "wrong shape": "return x.sum(1)",
    "integer dtype": "return (x.sum(1) @ self.W).long()",
    "not a tensor": "return [1, 2]",
    "sys.exit()": "raise SystemExit(0)",
}


@pytest.mark.parametrize("case", LATE_FAILURES)
@pytest.mark.parametrize("seeds", [False, True])
def test_a_forward_that_goes_wrong_after_the_check_is_one_line_in_train(case, seeds, pkg, tmp_path, capsys):
    name = f"late_{list(LATE_FAILURES).index(case)}_{int(seeds)}"
    path = write_cell(pkg, name, forward=f"if type(self).calls > 2:\n            {LATE_FAILURES[case]}")
    out = tmp_path / "run"
    argv = ["train", "rnn", "--cell", path, *TINY, "--out", str(out), *(["--seeds", "0-1"] if seeds else [])]
    assert_usage_error(argv, "training failed in a class of your own (cell " + path, capsys)
    summary = json.loads(((out / "seed-0") if seeds else out).joinpath("summary.json").read_text())
    assert summary["status"] == "failed"


def test_a_plugin_that_calls_sys_exit_in_a_two_worker_sweep_fails_its_trials_and_runs_csv_is_written(pkg, tmp_path):
    path = write_cell(pkg, "quitter", forward="if type(self).calls > 2:\n            import sys; sys.exit(0)")
    crash = write_cell(pkg, "crasher", forward="if type(self).calls > 2:\n            import os; os._exit(0)")
    study = tmp_path / "mine.toml"
    study.write_text(f'[study]\nname = "mine"\n[fixed]\nmodel = "rnn"\nsteps = 20\nhidden = 8\ninput_length = 4\n'
                     f'eval_every = 10\n[grid]\ncell = ["rnn", "{path}", "{crash}"]\n')
    proc = cli(["sweep", str(study), "--profile", "smoke", "--workers", "2", "--out", str(tmp_path / "out")],
               pkg, tmp_path)
    assert proc.returncode == 1, proc.stderr
    rows = {r["cell"]: r for r in csv.DictReader((tmp_path / "out" / "runs" / "mine" / "runs.csv").open())}
    assert rows["rnn"]["status"] == "completed"
    assert rows[path]["status"] == "failed" and "sys.exit(0)" in rows[path]["error"], rows[path]
    assert rows[crash]["status"] == "failed" and "the worker process ended (exit code 0)" in rows[crash]["error"]
    assert "Traceback" not in proc.stderr


def test_a_trial_past_the_trial_timeout_is_stopped_failed_and_resumable(pkg, tmp_path):
    path = write_cell(pkg, "slow", forward="if type(self).calls > 3:\n            import time; time.sleep(600)")
    study = tmp_path / "slow.toml"
    study.write_text(f'[study]\nname = "slow"\n[fixed]\nmodel = "rnn"\nsteps = 20\nhidden = 8\ninput_length = 4\n'
                     f'eval_every = 10\n[grid]\ncell = ["rnn", "{path}"]\n')
    start = time.monotonic()
    proc = cli(["sweep", str(study), "--profile", "smoke", "--workers", "1", "--trial-timeout", "90",
                "--out", str(tmp_path / "out")], pkg, tmp_path)
    assert time.monotonic() - start < 500  # the sleeping trial was stopped, not waited out (600 s)
    assert proc.returncode == 1, proc.stderr
    rows = {r["cell"]: r for r in csv.DictReader((tmp_path / "out" / "runs" / "slow" / "runs.csv").open())}
    assert rows["rnn"]["status"] == "completed"
    assert rows[path]["status"] == "failed" and "trial time limit (90 s)" in rows[path]["error"]
    slow_dir = tmp_path / "out" / "runs" / "slow" / rows[path]["trial"]
    assert (slow_dir / "config.json").exists() and not (slow_dir / ".lock").exists()


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_trial_timeout_that_is_not_a_positive_number_is_one_line(value, tmp_path, capsys):
    assert_usage_error(["sweep", "palindrome", "--trial-timeout", value, "--out", str(tmp_path)],
                       "--trial-timeout", capsys)


# --- not bypassable -----------------------------------------------------------------------------------------

RECORDED_IN_A_STUDY = {
    "[fixed] plugins": 'plugins = {cell = {path = "x:Y", sha256 = "0"}}',
    "[fixed] plugin_info": "plugin_info = {cell = {broadcasts = true}}",
    "[grid] plugins": '[grid]\nplugins = [{cell = {path = "x:Y", sha256 = "0"}}]',
    "[grid] joined cell_plugin_info": '[grid]\ncell_plugin_info = [["rnn", "x"]]',
}


@pytest.mark.parametrize("case", RECORDED_IN_A_STUDY)
def test_a_study_that_writes_the_recorded_plugin_fields_is_refused_in_one_line(case, tmp_path, capsys):
    study = tmp_path / "sneaky.toml"
    study.write_text('[study]\nname = "sneaky"\n[fixed]\nmodel = "rnn"\nsteps = 20\n' + RECORDED_IN_A_STUDY[case]
                     + "\n")
    assert_usage_error(["sweep", str(study), "--dry-run", "--out", str(tmp_path)], "recorded by dlrepro", capsys)


@pytest.mark.parametrize("setting", ['plugins={cell={path="x:Y",sha256="0"}}', "plugin_info={}",
                                     "plugin-info={}", 'plugins=[{}, {}]'])
def test_a_set_of_the_recorded_plugin_fields_is_refused_in_one_line(setting, tmp_path, capsys):
    assert_usage_error(["sweep", "palindrome", "--set", setting, "--dry-run", "--out", str(tmp_path)],
                       "recorded by dlrepro", capsys)
