"""One run format for whoever writes a run and whoever reads it back: resume and the report refuse a file for
the same reason (dlrepro.run_format's checks), and the writer never writes a file the reader would refuse."""

from __future__ import annotations

import json

import pytest

from dlrepro import run_format
from dlrepro.errors import ConfigError
from dlrepro.run_format import ERROR_CHARS, LIMITS, METRICS, SUMMARY, finished, summary_problem
from dlrepro.runs.folder import Folder, Unreadable
from dlrepro.runs.load import read_run
from dlrepro.runs.rundir import RunDir
from dlrepro.train.config import config_from_dict
from helpers import TOY, write_run

BAD_SUMMARIES = [[1], {"status": "done", "final": {}}, {"status": "completed"},
                 {"status": "completed", "final": {"test_acc": "high"}},
                 {"status": "failed", "final": {}, "steps": True}]


@pytest.mark.parametrize("summary", BAD_SUMMARIES)
def test_resume_and_the_report_refuse_a_summary_for_the_same_reason(tmp_path, summary):
    cfg = write_run(tmp_path, {**TOY, "epochs": 20}, 0.9)
    run = tmp_path / cfg.default_name()
    (run / SUMMARY).write_text(json.dumps(summary))
    reason = summary_problem(summary)
    assert reason is not None
    with pytest.raises(ConfigError, match="is not a run summary") as resumed:
        RunDir(run).summary()
    with pytest.raises(Unreadable) as reported:
        read_run(run, Folder(tmp_path))
    assert reason in str(resumed.value) and reported.value.reason == reason


def test_what_a_run_writes_passes_every_check(tmp_path):
    cfg = write_run(tmp_path, {**TOY, "epochs": 20}, 0.9)
    rd = RunDir(tmp_path / cfg.default_name())
    assert run_format.config_problem(json.loads(rd.file(run_format.CONFIG).read_text())) is None
    assert all(run_format.row_problem(r) is None for r in rd.metrics()) and len(rd.metrics()) == 3
    assert summary_problem(rd.summary()) is None and finished(rd.summary())


def test_finished_is_completed_or_diverged():
    assert [finished({"status": s}) for s in ("completed", "diverged", "failed")] == [True, True, False]
    assert not finished(None)


def test_a_metrics_row_past_the_limit_is_refused_and_the_file_kept(tmp_path, monkeypatch):
    config = config_from_dict({**TOY, "epochs": 20})
    rd = RunDir(tmp_path / "run")
    with rd.writing():
        rd.set_up(config)
    row = {"step": 0, "epoch": 0, "train_loss": 0.1, "train_acc": 0.5, "test_loss": 0.1, "test_acc": 0.5,
           "elapsed_s": 0.0}
    monkeypatch.setitem(LIMITS, METRICS, len(json.dumps(row)) + len(json.dumps({**row, "step": 10})) + 2)
    rd.log_metrics(row)
    rd.log_metrics({**row, "step": 10})
    before = rd.file(METRICS).read_bytes()
    with pytest.raises(ConfigError, match="more than the .* a metrics.jsonl can be; not written"):
        rd.log_metrics({**row, "step": 20})
    assert rd.file(METRICS).read_bytes() == before and len(before) <= LIMITS[METRICS]


def test_a_failed_runs_long_error_is_cut_so_the_summary_stays_readable(tmp_path):
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    summary = rd.write_summary("failed", 0, 0.0, error="x" * (10 * ERROR_CHARS))
    assert len(summary["error"]) == ERROR_CHARS and summary_problem(rd.summary()) is None


def test_a_config_json_larger_than_its_limit_is_not_written(tmp_path, monkeypatch):
    monkeypatch.setitem(LIMITS, run_format.CONFIG, 10)
    rd = RunDir(tmp_path / "run")
    with pytest.raises(ConfigError, match="a config.json can be; not written"), rd.writing():
        rd.set_up(config_from_dict({**TOY, "epochs": 20}))
    assert not rd.file(run_format.CONFIG).exists()
