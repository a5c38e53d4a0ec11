"""TensorBoard event files: each step once after a resume, and the run's config in the HParams plugin."""

import pytest

from dlrepro.runs.rundir import RunDir, read_metrics
from helpers import dlrepro, kill_dlrepro_when

pytest.importorskip("tensorboard")


def _events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))  # purge_orphaned_data=True, as TensorBoard reads
    events.Reload()
    return events


def test_a_killed_and_resumed_run_has_each_step_once(tmp_path):
    out = tmp_path / "killed"
    args = ["train", "mlp-numpy", "--dataset", "moons", "--epochs", "150", "--eval-every", "1", "--quiet",
            "--tensorboard", "--checkpoint-every", "0.2", "--out", str(out)]

    def rows_past_checkpoint() -> bool:
        rows = read_metrics(out / "metrics.jsonl")
        if len(rows) < 20 or not (out / "checkpoint.pt").exists():
            return False
        return RunDir(out).load_checkpoint()["step"] < rows[-1]["step"]

    kill_dlrepro_when(args, ready=rows_past_checkpoint)
    checkpoint_step = RunDir(out).load_checkpoint()["step"]
    written_before = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert written_before[-1] > checkpoint_step  # the killed process logged steps that the resume redoes
    resumed = dlrepro(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl")]
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 2
    events = _events(out)
    for tag in ("acc/test", "loss/train"):
        assert [e.step for e in events.Scalars(tag)] == steps  # once each, in order: no duplicates


def test_hparams_hold_the_run_config(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    from dlrepro.cli import main

    out = tmp_path / "tb"
    assert main(["train", "mlp-numpy", "--dataset", "circles", "--epochs", "2", "--lr", "0.05", "--hidden", "8,4",
                 "--n-samples", "50", "--quiet", "--tensorboard", "--out", str(out)]) == 0
    content = _events(out).PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["lr"].number_value == 0.05 and hp["dataset"].string_value == "circles"
    assert hp["model"].string_value == "mlp-numpy" and hp["hidden"].string_value == "[8, 4]"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == {"acc/test", "acc/train", "loss/test", "loss/train"}
