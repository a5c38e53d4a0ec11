"""The Ray Tune backend: the same runs as the local pool, failures recorded, completed trials skipped."""

import json
import re
import sys
from pathlib import Path

import pytest

from dlrepro.cli import main
from dlrepro.runs.rundir import RunDir
from dlrepro.studies.spec import load_study


@pytest.fixture(scope="module")
def ray_2cpus():
    """One local Ray with 2 CPUs for the module (run_ray uses a Ray already started in the process)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _runs(out: Path, study: str) -> dict[str, Path]:
    return {d.name: d for d in (out / "runs" / study).iterdir() if d.is_dir()}


def test_ray_sweep_writes_the_same_runs_as_the_local_pool(ray_2cpus, tmp_path, capsys):
    study = "toy"
    assert main(["sweep", study, "--profile", "smoke", "--backend", "ray", "--workers", "2",
                 "--out", str(tmp_path / "ray")]) == 0
    # in this process: far below torch's parallel grain size, so thread counts do not change the numbers
    assert main(["sweep", study, "--profile", "smoke", "--backend", "local", "--workers", "1",
                 "--out", str(tmp_path / "local")]) == 0
    ray_runs, local_runs = _runs(tmp_path / "ray", "toy"), _runs(tmp_path / "local", "toy")
    assert sorted(ray_runs) == sorted(local_runs) and len(ray_runs) == 6
    for name, d in ray_runs.items():
        a, b = RunDir(d), RunDir(local_runs[name])
        assert a.stored_config() == b.stored_config()
        rows = a.metrics()
        assert [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows] == \
               [{k: v for k, v in r.items() if k != "elapsed_s"} for r in b.metrics()]
        assert (a.summary()["status"], a.summary()["final"]) == (b.summary()["status"], b.summary()["final"])
        assert sorted(p.name for p in d.iterdir()) == sorted(p.name for p in local_runs[name].iterdir())
        # Tune saw every metrics row, and holds the last checkpoint, under --out (not ~/ray_results)
        tune_dir = tmp_path / "ray" / "ray_results" / "toy" / name
        reported = [json.loads(line) for line in (tune_dir / "result.json").read_text().splitlines()]
        assert [r["step"] for r in reported] == [r["step"] for r in rows]
        assert [p.name for p in tune_dir.glob("checkpoint_*/*")] == ["checkpoint.pt"]


def test_failed_trial_is_recorded_others_complete_and_a_rerun_skips_completed(ray_2cpus, tmp_path):
    from dlrepro.sweep.ray_backend import run_ray
    from dlrepro.sweep.trials import SweepOptions

    configs = load_study("palindrome").trials("smoke")[:2]  # step-based: epoch is null
    trials = [(cfg, tmp_path / "runs" / "palindrome" / cfg.default_name()) for cfg in configs]
    bad = trials[0][1]
    bad.mkdir(parents=True)
    (bad / "notes.txt").write_text("not a run")  # the trial refuses this directory (ConfigError)
    lines = []
    results = run_ray(trials, SweepOptions(workers=2), log=lines.append, max_failures=1)  # one retry, also refused
    assert [r.status for r in results] == ["failed", "completed"]
    assert results[0].error.startswith("ConfigError: ") and "holds no dlrepro run" in results[0].error
    assert any(" failed " in line and bad.name in line for line in lines)
    assert any("Ray retries it (1/1)" in line for line in lines)
    assert RunDir(trials[1][1]).summary()["status"] == "completed"
    assert (tmp_path / "ray_results" / "dlrepro").is_dir()  # default storage: beside runs/

    (bad / "notes.txt").unlink()
    again = run_ray(trials, SweepOptions(workers=2), log=lines.append)
    assert [(r.status, r.skipped) for r in again] == [("completed", False), ("completed", True)]
    assert not any(p.name.startswith(".ray-checkpoint") for d in (bad, trials[1][1]) for p in d.iterdir())


@pytest.mark.parametrize("command", [["sweep", "toy", "--profile", "smoke"],
                                     ["reproduce", "--profile", "smoke", "--only", "toy"]])
def test_backend_ray_without_ray_is_one_line_and_exit_2(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "out"
    assert main([*command, "--backend", "ray", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "dlrepro: error: --backend ray needs Ray: pip install 'dlrepro[ray]'\n"
    assert not out.exists()
    assert main([*command, "--ray-address", "auto", "--out", str(out)]) == 2
    assert capsys.readouterr().err == "dlrepro: error: --ray-address needs --backend ray\n"


def test_a_trial_another_process_writes_is_running_elsewhere_not_retried_or_failed(ray_2cpus, tmp_path):
    from dlrepro.sweep.ray_backend import run_ray
    from dlrepro.sweep.trials import RUNNING_ELSEWHERE, SweepOptions

    configs = load_study("palindrome").trials("smoke")[:2]
    trials = [(cfg, tmp_path / "runs" / "palindrome" / cfg.default_name()) for cfg in configs]
    lines = []
    with RunDir(trials[0][1]).writing():  # as a second sweep, or a first attempt still running, would
        results = run_ray(trials, SweepOptions(workers=2), log=lines.append)
    assert [r.status for r in results] == [RUNNING_ELSEWHERE, "completed"]
    assert results[0].error.startswith(f"run {trials[0][1]} is being written by pid ")
    assert not any("Ray retries it" in line for line in lines)
    assert any(line.startswith("1 trial(s) running elsewhere") for line in lines)
    assert not trials[0][1].exists()  # untouched


def test_a_plugin_a_ray_worker_cannot_import_fails_its_trial_with_that_one_line(ray_2cpus, tmp_path, monkeypatch):
    """Checked on the driver, the module is then gone for the workers (a node without it): the trial fails
    with the plugin's one line, the other trial completes."""
    from dlrepro.sweep.ray_backend import run_ray
    from dlrepro.sweep.trials import SweepOptions
    from dlrepro.train.config import RNNConfig
    from dlrepro.train.plugins import resolve

    plugin = tmp_path / "only_on_driver_19.py"
    plugin.write_text((Path(__file__).resolve().parents[1] / "examples" / "my_cell.py").read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    tiny = {"hidden": 8, "steps": 20, "eval_every": 10, "input_length": 4}
    configs = [resolve(RNNConfig(cell="only_on_driver_19:MGU", **tiny)), RNNConfig(cell="gru", **tiny)]
    plugin.unlink()
    trials = [(cfg, tmp_path / "runs" / "s" / cfg.default_name()) for cfg in configs]
    results = run_ray(trials, SweepOptions(workers=2), log=lambda line: None, max_failures=0)
    assert [r.status for r in results] == ["failed", "completed"]
    assert results[0].error.startswith("PluginError: only_on_driver_19:MGU: cannot import module only_on_driver_19")
    sys.modules.pop("only_on_driver_19", None)


def test_a_ray_sweep_shows_progress_read_from_the_run_directories(ray_2cpus, tmp_path, capsys, monkeypatch):
    from dlrepro.sweep import progress

    monkeypatch.setattr(progress, "STATUS_EVERY_S", 0.3)  # without a terminal: a status line this often
    assert main(["sweep", "palindrome", "--profile", "smoke", "--set", "cell=rnn", "--set", "steps=300",
                 "--backend", "ray", "--workers", "2", "--out", str(tmp_path)]) == 0
    status = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[status] palindrome: ")]
    states = {re.search(r"(\d)/2 trials done, (\d) running", line).groups() for line in status}
    assert len(states) >= 2, status  # it advanced
    assert any(re.search(r", [12] running,", line) for line in status), status  # Ray's trials seen running


def test_a_trial_past_the_trial_timeout_is_stopped_by_ray_and_recorded_failed(ray_2cpus, tmp_path):
    """Tune checks the limit at each metrics row: a long trial is stopped there and fails with one line."""
    from dlrepro.sweep.ray_backend import run_ray
    from dlrepro.sweep.trials import SweepOptions
    from dlrepro.train.config import RNNConfig

    configs = [RNNConfig(hidden=8, steps=1_000_000, eval_every=10, input_length=4),
               RNNConfig(hidden=8, steps=20, eval_every=10, input_length=4, cell="gru")]
    trials = [(cfg, tmp_path / "runs" / "s" / cfg.default_name()) for cfg in configs]
    results = run_ray(trials, SweepOptions(workers=2, trial_timeout=20.0), log=lambda line: None, max_failures=0)
    assert [r.status for r in results] == ["failed", "completed"], [r.error for r in results]
    assert results[0].error == "did not finish within the trial time limit (20 s); stopped"
    from dlrepro.sweep.study import trial_state

    assert trial_state(trials[0][1]) in ("failed", "interrupted")  # the next sweep retries it
