"""Open for extension: one registry per kind of choice drives the CLI and the checks, a user's own
cell or optimizer runs by import path from outside the source tree, each bad path is one line, the path and
its file's hash are part of the run's identity, and the built-in studies' trial ids stay what they were."""

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlrepro import registry
from dlrepro.cli import build_parser
from dlrepro.errors import ConfigError
from dlrepro.studies.spec import builtin_names, load_study
from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig
from dlrepro.train.memory import cell_size
from helpers import assert_usage_error

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SRC = Path(__file__).resolve().parents[1] / "src"
TINY_RNN = ["--steps", "20", "--hidden", "8", "--input-length", "4", "--eval-every", "10", "--quiet"]


def run_cli(args: list[str], pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    """`python -m dlrepro ARGS` with exactly `pythonpath` (and dlrepro's src) on PYTHONPATH, from `cwd`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(map(str, [*pythonpath, SRC]))}
    return subprocess.run([sys.executable, "-m", "dlrepro", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def _sweep_smoke(tmp_path: Path, user_package: Path, text: str) -> tuple[Path, Path]:
    """Write `text` as mine.toml and sweep its smoke profile (one worker) with the user's package importable;
    (the study file, the results folder)."""
    study, out = tmp_path / "mine.toml", tmp_path / "results"
    study.write_text(text)
    proc = run_cli(["sweep", str(study), "--profile", "smoke", "--out", str(out), "--workers", "1", "--quiet"],
                   [user_package], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return study, out


@pytest.fixture
def user_package(tmp_path):
    """A user's folder outside the source tree holding a copy of examples/my_cell.py."""
    pkg = tmp_path / "user"
    pkg.mkdir()
    shutil.copy(EXAMPLES / "my_cell.py", pkg / "my_cell.py")
    return pkg


def test_built_in_trial_ids_are_those_of_the_runs_made_before_the_registries():
    """Every trial id of every built-in study and profile as main wrote them before the registries (170 ids,
    recorded in tests/data), and the default run names of `dlrepro train`: existing results folders stay "done".
    The only trials added since are seeds 1-2 of the vanilla RNN at lr 1e-3 in the palindrome quick profile;
    the CIFAR-10 MLP's quick profile runs its full 200 epochs (its one trial is the full profile's seed 0).
    The only trials removed are the toy study's 2,500-point classification runs (both MLPs, seeds 0-4, in the
    quick and full profiles): the reference's train accuracies are of 800 training points, as the 1,000-point
    runs have, so those runs serve no claim. The other protocols' trials are new trials beside these
    (tests/test_study_protocols.py)."""
    before = json.loads((Path(__file__).parent / "data" / "builtin_trial_ids_94f469f.json").read_text())
    assert sum(map(len, before.values())) == 170 and {k.split("/")[0] for k in before} == set(builtin_names())
    for key, old_ids in before.items():
        name, profile = key.split("/")
        now = [c for c in load_study(name).trials(profile)]
        added = [c for c in now if c.default_name() not in old_ids]
        if key == "cifar_mlp/quick":   # the quick profile runs the CIFAR-10 MLP at its full 200 epochs now
            assert [(c.epochs, c.eval_every, c.seed) for c in now] == [(200, 10, 0)] and len(old_ids) == 1
            continue
        removed = set(old_ids) - {c.default_name() for c in now}
        if key in ("toy/quick", "toy/full"):   # exactly the 2,500-point classification runs, nothing else
            assert removed == {dataclasses.replace(c, n_samples=2500).default_name() for c in now
                               if c.dataset == "classification" and c.n_samples == 1000}, key
            assert len(removed) == 10 and len(old_ids) == 40, key
            removed = set()
        assert not removed, key
        if key == "palindrome/quick":
            assert sorted((c.cell, c.lr, c.steps, c.seed) for c in added) == sorted(
                ("rnn", 1e-3, 10000, s) for s in (1, 2) for _ in range(4))
        else:
            assert not added, key
    assert [RNNConfig().default_name(), RNNConfig(cell="lstm", one_hot=True, optimizer="adam").default_name(),
            CNNConfig().default_name(), CNNConfig(optimizer="adagrad").default_name(), MLPConfig().default_name(),
            MLPConfig(model="mlp-torch", dataset="cifar10").default_name()] == [
        "rnn-L10-lr0.001-0-b15ca747", "lstm-L10-lr0.001-0-b950fc87", "cnn-adam-lr0.0001-0-46d4f3ee",
        "cnn-adagrad-lr0.0001-0-41e67b25", "mlp-numpy-moons-0-947d7dda", "mlp-torch-cifar10-0-d6e61216"]
    assert not {"net", "plugins", "plugin_info"} & (set(CNNConfig().to_dict()) | set(RNNConfig().to_dict()))


def test_every_cli_default_is_the_config_dataclass_default():
    parser = build_parser()
    train = next(a for a in parser._actions if a.choices and "train" in a.choices).choices["train"]
    subs = next(a for a in train._actions if a.choices and "rnn" in a.choices).choices
    for model, cls in (("rnn", RNNConfig), ("cnn", CNNConfig), ("mlp-numpy", MLPConfig)):
        fields = {f.name: f.default for f in __import__("dataclasses").fields(cls)}
        flags = {a.dest: a.default for a in subs[model]._actions if a.dest in fields and a.default is not None}
        assert flags, model
        for dest, value in flags.items():
            want = ",".join(map(str, fields[dest])) if isinstance(fields[dest], tuple) else fields[dest]
            assert value == want, (model, dest)
    help_text = subs["rnn"].format_help()
    assert "(default rnn)" in help_text and "(default 128)" in help_text and "(default 0.001)" in help_text


def test_a_name_outside_the_registry_is_one_line_naming_the_choices(capsys):
    assert_usage_error(["train", "rnn", "--cell", "lstm2"], "choose from 'rnn', 'lstm', 'gru'", capsys)
    with pytest.raises(ConfigError, match=r"^--cell: unknown value 'lstm2'; choose from rnn, lstm, gru, or a "):
        RNNConfig(cell="lstm2")
    with pytest.raises(ConfigError, match=r"^--optimizer: unknown value 'adagrad'; choose from rmsprop, adam, sgd"):
        RNNConfig(optimizer="adagrad")  # the RNN family's table, not the ConvNet's
    assert "my_pkg.cells:MyCell" in registry.Choices(registry.CELLS) and "a:b:c" not in registry.Choices(registry.CELLS)


@pytest.mark.parametrize("cell, gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
@pytest.mark.parametrize("one_hot", [False, True])
def test_the_memory_estimate_counts_each_cells_parameters_from_its_class(cell, gates, one_hot):
    import torch  # noqa: F401

    cfg = RNNConfig(cell=cell, hidden=96, one_hot=one_hot, input_length=7, batch_size=5, test_size=3)
    cls = registry.load(registry.CELLS[cell].target)
    params = sum(p.numel() for p in cls(10 if one_hot else 1, 96, 10).parameters())
    a, _, _ = cell_size(registry.CELLS[cell].target, 10 if one_hot else 1)
    (_, weights, _), (_, states, _), _ = cfg.memory_needs()
    assert a == gates and weights == 4 * params * 4  # weights, gradients, optimizer state, float32
    assert states == 5 * gates * 7 * 96 * 4


def test_train_rnn_cell_gru_runs(tmp_path, capsys):
    from dlrepro.cli import main

    assert main(["train", "rnn", "--cell", "gru", *TINY_RNN, "--out", str(tmp_path / "g")]) == 0
    stored = json.loads((tmp_path / "g" / "config.json").read_text())["config"]
    assert stored["cell"] == "gru" and "plugins" not in stored


def test_a_plugin_cell_and_a_plugin_optimizer_run_end_to_end_from_outside_the_tree(tmp_path, user_package):
    """A study naming examples/my_cell.py's MGU (a copy on PYTHONPATH, outside the source tree) and
    torch.optim:NAdam by import path: checked, trained, recorded with the module's file and sha256; editing
    the plugin gives new trial ids; `report` rebuilds the folder without the plugin importable."""
    study, out = _sweep_smoke(tmp_path, user_package, '[study]\nname = "mine"\n[fixed]\nmodel = "rnn"\nhidden = 8\n'
                              'steps = 20\neval_every = 10\ninput_length = 4\noptimizer = "torch.optim:NAdam"\n'
                              '[grid]\ncell = ["gru", "my_cell:MGU"]\nseed = [0]\n')
    runs = sorted((out / "runs" / "mine").glob("*/config.json"))
    assert [p.parent.name.split("-")[0] for p in runs] == ["gru", "mgu"]
    mgu = json.loads(runs[-1].read_text())["config"]
    digest = hashlib.sha256((user_package / "my_cell.py").read_bytes()).hexdigest()
    import torch

    nadam = hashlib.sha256(Path(sys.modules[torch.optim.NAdam.__module__].__file__).read_bytes()).hexdigest()
    assert mgu["plugins"] == {"cell": {"path": "my_cell:MGU", "sha256": digest},
                              "optimizer": {"path": "torch.optim:NAdam", "sha256": nadam}}
    assert mgu["plugin_info"]["cell"] == {"broadcasts": True, "file": str((user_package / "my_cell.py").resolve())}
    for p in runs:
        assert json.loads((p.parent / "summary.json").read_text())["status"] == "completed"
    import csv

    rows = list(csv.DictReader((out / "runs" / "mine" / "runs.csv").open()))
    assert json.loads(rows[1]["plugins"])["cell"]["sha256"] == digest
    assert set(json.loads(rows[0]["plugins"])) == {"optimizer"}  # the GRU trains with NAdam too
    before = {p.parent.name for p in runs}
    (user_package / "my_cell.py").write_text((user_package / "my_cell.py").read_text() + "\n# edited\n")
    plan = run_cli(["sweep", str(study), "--profile", "smoke", "--out", str(out), "--dry-run"], [user_package],
                   cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "1 done, 1 to run" in plan.stdout  # the GRU runs stay done, the edited MGU's are new trials
    assert not any(name in plan.stdout for name in before if name.startswith("mgu"))
    report = run_cli(["report", str(out)], [], cwd=tmp_path)  # the plugin is not importable here
    assert report.returncode == 0, report.stderr
    md = (out / "report.md").read_text()
    mgu_run = runs[-1].parent.name
    assert any(mgu_run in line and "my_cell:MGU" in line and "completed" in line for line in md.splitlines()), md


BAD = {
    "nosuch_module_19:Cell": "nosuch_module_19:Cell: cannot import module nosuch_module_19 (ModuleNotFoundError",
    "bad_cells:Nope": "bad_cells:Nope: module bad_cells has no Nope",
    "bad_cells:helper": "bad_cells:helper: not a class (a function)",
    "bad_cells:NoArgs": "bad_cells:NoArgs: wrong constructor: NoArgs(1, 8, 10, generator=...) raised TypeError",
    "bad_cells:WrongShape": "bad_cells:WrongShape: wrong output shape: a batch of 2 sequences gave (2, 3), "
                            "expected (2, 10)",
    "bad_cells:Raises": "bad_cells:Raises: forward on a batch of 2 sequences raised RuntimeError: boom",
}
BAD_CELLS = '''
import torch
from torch import nn

def helper():
    pass

class NoArgs(nn.Module):
    def __init__(self):
        super().__init__()

class WrongShape(nn.Module):
    def __init__(self, input_dim, hidden_dim, num_classes, generator=None):
        super().__init__()

    def forward(self, x):
        return x.new_zeros(x.shape[0], 3)

class Raises(WrongShape):
    def forward(self, x):
        raise RuntimeError("boom")

class NotAnOptimizer:
    def __init__(self, params, lr):
        pass

class TinyNet(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :7]
'''


@pytest.fixture
def bad_cells(tmp_path, monkeypatch):
    (tmp_path / "bad_cells.py").write_text(BAD_CELLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("bad_cells", None)


@pytest.mark.parametrize("path", list(BAD))
def test_each_bad_cell_path_is_one_line_naming_it_before_anything_runs(path, bad_cells, tmp_path, capsys):
    assert_usage_error(["train", "rnn", "--cell", path, *TINY_RNN, "--out", str(tmp_path / "r")], BAD[path], capsys)
    assert not (tmp_path / "r").exists()


def test_a_bad_optimizer_or_cifar_model_path_is_one_line_too(bad_cells, tmp_path, capsys):
    assert_usage_error(["train", "rnn", "--optimizer", "bad_cells:NotAnOptimizer", *TINY_RNN],
                       "bad_cells:NotAnOptimizer: not a torch.optim.Optimizer subclass", capsys)
    assert_usage_error(["train", "rnn", "--optimizer", "torch.optim:LBFGS", *TINY_RNN],
                       "torch.optim:LBFGS: wrong constructor: LBFGS(params, lr=0.001) and a step raised", capsys)
    assert_usage_error(["train", "cnn", "--net", "bad_cells:TinyNet", "--out", str(tmp_path / "c")],
                       "bad_cells:TinyNet: wrong output shape: a batch of 2 images (2, 3, 32, 32) gave (2, 7), "
                       "expected (2, 10)", capsys)
    study = tmp_path / "s.toml"
    study.write_text('[fixed]\nmodel = "rnn"\nsteps = 20\nhidden = 8\ncell = "bad_cells:Raises"\n')
    assert_usage_error(["sweep", str(study), "--profile", "smoke", "--out", str(tmp_path / "o")],
                       "bad_cells:Raises: forward on a batch of 2 sequences raised RuntimeError: boom", capsys)
    assert_usage_error(["sweep", "palindrome", "--profile", "smoke", "--set", "cell=nosuch_module_19:X",
                        "--out", str(tmp_path / "o"), "--dry-run"], "nosuch_module_19:X: cannot import", capsys)
    assert not (tmp_path / "o" / "runs" / "s").exists()


def test_a_broadcasting_plugin_cell_trains_as_a_population_equal_to_its_single_runs(tmp_path, user_package,
                                                                                      monkeypatch):
    from dlrepro.runs.execute import execute_seeds
    from dlrepro.train.build import population_kind
    from dlrepro.train.plugins import resolve

    monkeypatch.syspath_prepend(str(user_package))
    base = RNNConfig(cell="my_cell:MGU", hidden=8, steps=20, eval_every=10, input_length=4)
    cfgs = [resolve(RNNConfig(**{**base.to_dict(), "seed": s})) for s in (0, 1)]
    assert population_kind(cfgs[0]) == "rnn"
    together = execute_seeds(cfgs, [tmp_path / "p0", tmp_path / "p1"], vectorize=True, progress=False)
    alone = execute_seeds(cfgs, [tmp_path / "s0", tmp_path / "s1"], vectorize=False, progress=False)
    for (run_p, _), (run_s, _) in zip(together, alone, strict=True):
        for a, b in zip(run_p.metrics(), run_s.metrics(), strict=True):
            for k in ("train_loss", "test_loss", "test_acc"):
                assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k
    # a user's cell that says `broadcasts = False` (or anything but True) trains as single runs
    for value in ("False", "1", '"yes"'):
        name = f"plain_cell_{value.strip(chr(34))}"
        (user_package / f"{name}.py").write_text((user_package / "my_cell.py").read_text()
                                                 .replace("    broadcasts = True", f"    broadcasts = {value}"))
        assert population_kind(resolve(RNNConfig(cell=f"{name}:MGU", hidden=8))) is None, value
        sys.modules.pop(name, None)
    sys.modules.pop("my_cell", None)


def test_the_documented_extension_examples_pass_the_checks_and_the_cell_trains(tmp_path, monkeypatch):
    """The three ten-line examples of docs/extending.md ("The contracts"), as written there."""
    import re

    from dlrepro.runs.execute import execute_seeds
    from dlrepro.train.plugins import resolve

    text = (Path(__file__).resolve().parents[1] / "docs" / "extending.md").read_text()
    section = text[text.index("## The contracts"):]
    section = section[:section.index("\n## ")]
    blocks = re.findall(r"```python\n# (\w+)\.py.*?\n(.*?)```", section, re.S)
    assert [name for name, _ in blocks] == ["my_cells", "my_nets", "my_optim"]
    for name, code in blocks:
        (tmp_path / f"{name}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    resolve(CNNConfig(net="my_nets:Small"))
    cfg = resolve(RNNConfig(cell="my_cells:Leaky", optimizer="my_optim:SignSGD", lr=1e-4, hidden=8, steps=20,
                            eval_every=10, input_length=4))
    assert set(cfg.plugins) == {"cell", "optimizer"} and not cfg.plugin_info["cell"]["broadcasts"]
    (_, summary), = execute_seeds([cfg], [tmp_path / "run"], progress=False)
    assert summary["status"] == "completed"
    # the CIFAR-10 model and NAdam, end to end on a tiny synthetic copy of the official files
    from dlrepro.cli import main
    from helpers import make_official

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    make_official(tmp_path / "data")
    assert main(["train", "cnn", "--net", "my_nets:Small", "--optimizer", "torch.optim:NAdam", "--data-root",
                 str(tmp_path / "data"), "--no-verify", "--device", "cpu", "--subset", "20", "--test-subset", "10",
                 "--batch-size", "10", "--epochs", "1", "--eval-every", "1", "--quiet", "--out",
                 str(tmp_path / "cnn")]) == 0
    stored = json.loads((tmp_path / "cnn" / "config.json").read_text())["config"]
    assert stored["net"] == "my_nets:Small" and set(stored["plugins"]) == {"net", "optimizer"}
    assert json.loads((tmp_path / "cnn" / "summary.json").read_text())["status"] == "completed"
    assert CNNConfig(net="my_nets:Small", optimizer="torch.optim:NAdam").default_name().startswith("cnn-small-nadam-")
    for name, _ in blocks:
        sys.modules.pop(name, None)


def test_a_plugin_cells_runs_are_judged_under_every_protocol_of_its_study(tmp_path, user_package):
    """A trial naming a user's class has its module's sha256 in its id, which the report (importing no plugin)
    finds from the run's recorded config: under a second protocol too, so the claim is judged from those runs."""
    _, out = _sweep_smoke(tmp_path, user_package,
                          '[study]\nname = "mine"\n[fixed]\nmodel = "rnn"\ncell = "my_cell:MGU"\nhidden = 8\n'
                          'steps = 20\neval_every = 10\ninput_length = 4\nlr = 0.001\n[grid]\nseed = [0]\n'
                          '[protocols.fast]\nfixed = { lr = 0.01 }\n'
                          '[[claims]]\nid = "mgu-learns"\ntext = "The MGU ends above 0% test accuracy"\n'
                          'match = { cell = "my_cell:MGU" }\nsettings = { steps = 20 }\nrule = "at_least"\n'
                          'metric = "test_acc"\nstatistic = "final"\nvalue = 0.0\n')
    runs = {json.loads(p.read_text())["config"]["lr"]: p.parent.name
            for p in (out / "runs" / "mine").glob("*/config.json")}
    assert set(runs) == {0.001, 0.01}
    report = run_cli(["report", str(out)], [], cwd=tmp_path)   # the plugin is not importable here
    assert report.returncode == 0, report.stderr
    claim = json.loads((out / "claims.json").read_text())["claims"][0]
    assert claim["verdict"] == "reproduced" and claim["runs"] == [runs[0.001]]
    assert claim["protocols"]["fast"]["verdict"] == "reproduced" and claim["protocols"]["fast"]["runs"] == [runs[0.01]]
