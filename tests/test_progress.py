"""Live progress of sweeps (dlrepro.sweep.progress) and the time estimates behind it (dlrepro.sweep.estimate)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlrepro.studies.spec import load_study
from dlrepro.sweep import estimate
from dlrepro.sweep.estimate import Scale, duration, makespan, plan_estimate, trial_seconds
from dlrepro.sweep.progress import Progress, last_row
from dlrepro.sweep.study import study_trials
from dlrepro.train.config import CNNConfig, MLPConfig, RNNConfig

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SMOKE_SWEEP = ["sweep", "palindrome", "--profile", "smoke", "--set", "cell=rnn", "--set", "steps=2000",
               "--workers", "2"]


def cli_env(**extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "DLREPRO_CALIBRATION": "off", **extra}


def screen_lines(raw: str) -> list[str]:
    """Every line the terminal was shown (each redraw of the live block gives its lines again)."""
    return [ANSI.sub("", line).rstrip() for chunk in raw.split("\x1b[J") for line in chunk.split("\n")]


def test_a_sweep_on_a_terminal_shows_an_overall_line_and_a_line_per_running_trial_that_advance(tmp_path):
    import pexpect  # the dev extra has it: a missing one is a failure, not a silent skip
    child = pexpect.spawn(sys.executable, ["-m", "dlrepro", *SMOKE_SWEEP, "--out", str(tmp_path)],
                          env=cli_env(), encoding="utf-8", timeout=600, dimensions=(40, 120))
    child.expect(pexpect.EOF)
    child.close()
    raw = child.before
    assert child.exitstatus == 0, raw[-2000:]
    lines = screen_lines(raw)
    overall = [re.match(r"palindrome: (\d)/2 trials done, (\d) running, (\d) to start, elapsed (\S+), (.*)", line)
               for line in lines]
    overall = [m for m in overall if m]
    assert overall, raw[-2000:]
    assert {m.group(1) for m in overall} >= {"0", "2"}  # the count of done trials advanced to the end
    assert any(m.group(2) == "2" for m in overall)      # both trials were seen running at once
    steps: dict[str, set[int]] = {}
    for line in lines:
        m = re.match(r"  (rnn-L\d-\S+)  step (\d+)/2000(  test_acc \d\.\d{4})?$", line)
        if m:
            steps.setdefault(m.group(1), set()).add(int(m.group(2)))
    assert len(steps) == 2, raw[-2000:]
    assert all(len(seen) >= 2 for seen in steps.values()), steps  # each trial's line advanced
    assert any(m.group(5).startswith("about") and m.group(5).endswith("left") for m in overall)
    assert "[1/2] completed" in raw and "[2/2] completed" in raw  # the finished trials' lines stay
    assert "[status]" not in raw


def test_without_a_terminal_a_sweep_prints_a_plain_status_line_periodically(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dlrepro", *SMOKE_SWEEP, "--out", str(tmp_path)], capture_output=True,
                         text=True, env=cli_env(DLREPRO_STATUS_EVERY_S="0.5"), timeout=600)
    assert out.returncode == 0, out.stderr
    status = [line for line in out.stdout.splitlines() if line.startswith("[status] ")]
    assert len(status) >= 2, out.stdout
    assert all(re.match(r"\[status\] palindrome: \d/2 trials done, \d running, \d to start, elapsed \S+, ", line)
               for line in status), status
    assert "\x1b[" not in out.stdout  # no terminal control codes in a log file


def test_quiet_sweep_prints_neither_progress_nor_status_lines(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dlrepro", *SMOKE_SWEEP, "--out", str(tmp_path), "--quiet"],
                         capture_output=True, text=True, env=cli_env(DLREPRO_STATUS_EVERY_S="0.2"), timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()  # the closing summary only
    assert len(lines) == 2 and re.match(r"2 trials in \S+ s on 2 worker", lines[0]), lines
    assert lines[1] == f"palindrome: 2 trial(s), 0 failed -> {tmp_path}/runs/palindrome/runs.csv"


# --- reading the run directories ---------------------------------------------------------------------------


def _trials(tmp_path: Path, steps=(100, 300)) -> list:
    return [(RNNConfig(input_length=5, steps=s, seed=i), tmp_path / f"t{i}") for i, s in enumerate(steps)]


def _finished_run(tmp_path: Path) -> tuple:
    from helpers import RNN, write_run

    cfg = write_run(tmp_path / "runs", {**RNN, "steps": 100}, test=0.5)
    return cfg, tmp_path / "runs" / cfg.default_name()


def _write_rows(run: Path, *rows: dict, lock: bool = True) -> None:
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "metrics.jsonl", "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    if lock:
        (run / ".lock").write_text("pid 1 on host\n")


def test_progress_reads_running_trials_from_their_lock_and_the_last_metrics_row(tmp_path):
    trials = _trials(tmp_path)
    progress = Progress(trials, "study", live=False)
    _write_rows(tmp_path / "t0", {"step": 0, "test_acc": 0.1}, {"step": 50, "test_acc": 0.5})
    (tmp_path / "t1").mkdir()  # no lock: not started
    progress.poll()
    assert progress.counts() == (0, 1, 1)
    assert progress.views[0].fraction == 0.5
    assert progress.views[0].line(100) == "  t0  step 50/100  test_acc 0.5000"
    (tmp_path / "t0" / ".lock").unlink()
    (tmp_path / "t0" / "summary.json").write_text("{}")
    _write_rows(tmp_path / "t1", {"step": 0, "test_acc": None})
    progress.poll()
    assert progress.counts() == (1, 1, 0)
    assert progress.views[1].line(100) == "  t1  step 0/300"


def test_the_time_left_comes_from_the_started_trials_own_measured_rate_weighted_by_trial_cost(tmp_path):
    trials = _trials(tmp_path, steps=(100, 300))  # the second costs 3x the first
    progress = Progress(trials, "study", live=False, prior_s=50.0)
    assert progress.seconds_left(now=progress.start + 10) == pytest.approx(40.0)  # nothing measured: the prior
    assert progress.seconds_left(now=progress.start + 60) is None                 # past the prior: unknown
    _write_rows(tmp_path / "t0", {"step": 50})
    progress.poll()
    now = time.time()
    progress.views[0].started = now - 10.0  # t0 started 10 s ago (after the workers' start-up)
    # half of t0 (cost 1 of 4) in 10 s: 20 s per unit of t0's cost; left: half of t0 and all of t1 (3.5)
    assert progress.seconds_left(now=now) == pytest.approx(70.0)
    assert "about 70 s left" in progress.overall()
    _write_rows(tmp_path / "t1", {"step": 100})
    progress.poll()
    progress.views[1].started = now - 10.0  # both ran side by side for 10 s; t1 did a third of its 3 units
    # 20 s spent for 1.5 units: 13.3 s per unit; 2.5 units left, shared by 2 trials at once: 16.7 s
    assert progress.seconds_left(now=now) == pytest.approx(20 / 1.5 * 2.5 / 2)


def test_trials_done_before_the_sweep_count_as_done_but_not_in_its_speed(tmp_path):
    cfg, done_dir = _finished_run(tmp_path)
    trials = [(cfg, done_dir), (RNNConfig(input_length=5, steps=100, seed=1), tmp_path / "t1")]
    progress = Progress(trials, "study", live=False)
    _write_rows(tmp_path / "t1", {"step": 50})
    progress.poll()
    assert progress.counts() == (1, 1, 0)
    now = time.time()
    progress.views[1].started = now - 10.0
    # half of t1 in 10 s: 10 s left (the skipped trial's work, counted as done by this sweep, would say less)
    assert progress.seconds_left(now=now) == pytest.approx(10.0)


def test_the_status_says_when_trials_run_slower_than_the_calibration_predicts(tmp_path):
    trials = _trials(tmp_path, steps=(20_000, 30_000))
    cost = trial_seconds(trials[0][0])
    progress = Progress(trials, "study", live=False, scale=Scale(overhead=1.0, compute=4.0))  # RNN: 2x expected
    _write_rows(tmp_path / "t0", {"step": 10_000})
    progress.poll()
    progress.views[0].started = time.time() - 3 * cost  # half of t0 took 3x its cost: 6x, 3x what was expected
    assert progress.busier() == pytest.approx(3.0, rel=0.02)
    assert "(trials run 3.0x slower than calibrated: the machine is busier)" in progress.overall()
    progress.views[0].started = time.time() - 1.2 * cost  # 2.4x: 1.2x what was expected, within the noise
    assert progress.busier() is None and "busier" not in progress.overall()


BAD_ROWS = {
    "a text step": '{"step": "x", "test_acc": 0.5}',
    "a list step": '{"step": [1], "test_acc": 0.5}',
    "a bool step": '{"step": true, "test_acc": 0.5}',
    "an infinite step": '{"step": 1e999, "test_acc": 0.5}',
    "a text accuracy": '{"step": 20, "test_acc": "high"}',
    "a nested accuracy": '{"step": 20, "test_acc": {"a": 1}}',
    "not an object": '[1, 2, 3]',
    "deeply nested": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_the_live_view_shrugs_off_a_bad_metrics_row(case, tmp_path):
    import io

    trials = _trials(tmp_path)
    _write_rows(tmp_path / "t0", {"step": 10, "test_acc": 0.25})
    with open(tmp_path / "t0" / "metrics.jsonl", "a") as f:
        f.write(BAD_ROWS[case] + "\n")
    stream = io.StringIO()
    progress = Progress(trials, "study", live=True, stream=stream)
    progress.refresh()  # what the display thread does: it must not raise
    line = progress.views[0].line(100)
    assert re.fullmatch(r"  t0  (starting|step \d+/100)(  test_acc \d\.\d{4})?", line), line
    assert 0 <= progress.views[0].fraction <= 1
    progress.overall()


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "folder", "regular file elsewhere"])
def test_the_live_view_reads_no_link_no_fifo_and_no_device(target, tmp_path):
    """A metrics.jsonl that is a link (to /dev/zero, to a file) or a FIFO is not read, and nothing blocks."""
    run = tmp_path / "t0"
    run.mkdir()
    (run / ".lock").write_text("pid 1\n")
    path = run / "metrics.jsonl"
    if target == "fifo":
        os.mkfifo(path)
    elif target == "folder":
        path.mkdir()
    elif target == "regular file elsewhere":
        (tmp_path / "elsewhere.jsonl").write_text('{"step": 50, "test_acc": 0.5}\n')
        path.symlink_to(tmp_path / "elsewhere.jsonl")
    else:
        path.symlink_to(target)
    start = time.monotonic()
    assert last_row(path) is None
    progress = Progress(_trials(tmp_path), "study", live=False)
    progress.poll()
    assert progress.views[0].row is None and progress.views[0].fraction == 0
    assert time.monotonic() - start < 5


def test_last_row_reads_the_tail_and_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": i, "pad": "x" * 100}) + "\n" for i in range(200)) + '{"step": 2')
    assert last_row(path)["step"] == 199
    assert last_row(tmp_path / "missing.jsonl") is None


def test_the_live_block_is_redrawn_in_place_and_finished_lines_stay_above_it(tmp_path):
    import io

    stream = io.StringIO()
    trials = _trials(tmp_path)
    _write_rows(tmp_path / "t0", {"step": 10, "test_acc": 0.25})
    with Progress(trials, "study", live=True, stream=stream, refresh_s=0.01) as progress:
        time.sleep(0.1)
        progress.log("[1/2] completed t9")
        time.sleep(0.1)
    text = stream.getvalue()
    assert "\x1b[2F\x1b[J" in text  # moved up over the two lines of the block and cleared them
    assert "[1/2] completed t9\n" in text
    assert "  t0  step 10/100  test_acc 0.2500" in screen_lines(text)
    assert text.endswith("\x1b[J")  # the block is gone when the sweep ends


# --- the estimate --------------------------------------------------------------------------------------------


def test_each_kind_of_trial_is_scaled_by_its_own_part_of_the_calibration():
    """Unequal scales: the batch-1 MLPs by the per-call overhead, the ConvNet and the CIFAR-10 MLP by the
    arithmetic, the RNN by their geometric mean; swapping any two kinds' scales changes an estimate."""
    scale = Scale(overhead=2.0, compute=5.0)
    kinds = {"toy mlp": (MLPConfig(model="mlp-numpy", dataset="moons", epochs=10), 2.0),
             "cifar mlp": (MLPConfig(model="mlp-torch", dataset="cifar10", epochs=1), 5.0),
             "convnet": (CNNConfig(epochs=1, subset=200, test_subset=100), 5.0),
             "rnn": (RNNConfig(steps=1000), 10 ** 0.5)}
    for name, (cfg, factor) in kinds.items():
        base = estimate.unit_seconds([cfg]) - estimate.UNIT_OVERHEAD_S
        assert estimate.unit_seconds([cfg], scale) - estimate.UNIT_OVERHEAD_S == pytest.approx(base * factor), name
    start = estimate.estimate_units([[kinds["rnn"][0]]], 1, scale).seconds - estimate.unit_seconds([kinds["rnn"][0]],
                                                                                                    scale)
    assert start == pytest.approx(estimate.POOL_START_S * 2.0)  # starting workers: per-call overhead


def test_makespan_hands_the_longest_units_to_the_least_loaded_worker():
    assert makespan([4, 3, 3, 2], 2) == 6
    assert makespan([10, 1, 1], 4) == 10
    assert makespan([], 2) == 0


def test_trial_costs_grow_with_what_the_trial_does():
    base = trial_seconds(RNNConfig(input_length=10, steps=10_000))
    assert trial_seconds(RNNConfig(input_length=10, steps=20_000)) == pytest.approx(2 * base)
    assert trial_seconds(RNNConfig(input_length=20, steps=10_000)) > base
    assert trial_seconds(RNNConfig(input_length=10, steps=10_000, cell="lstm")) > 3 * base
    # lr 1e-2 runs took as long as lr 1e-3 runs in the idle quick reproduce (BENCHMARKS.md, "Whole studies")
    assert trial_seconds(RNNConfig(input_length=10, steps=10_000, lr=1e-2)) == pytest.approx(base)
    # the table's own anchor: a 10,000-step vanilla RNN at L = 20 took 63-69 s in that reproduce's pool, which
    # read the calibration x0.7: about 93 s at Scale 1
    assert trial_seconds(RNNConfig(input_length=20, steps=10_000)) == pytest.approx(66 / 0.7, rel=0.1)
    moons = MLPConfig(model="mlp-numpy", dataset="moons", epochs=200)
    assert trial_seconds(moons, members=5) < 2 * trial_seconds(moons)  # a population costs about one run
    cnn = CNNConfig(epochs=3, eval_every=1, subset=2000, test_subset=1000)
    assert trial_seconds(CNNConfig(epochs=6, eval_every=1, subset=2000, test_subset=1000)) > 1.8 * trial_seconds(cnn)


def test_the_quick_profile_estimate_is_within_a_factor_2_of_the_recorded_quick_reproduce():
    """BENCHMARKS.md, "Whole studies": the quick reproduce took 19 min 31 s (1,171 s) on an idle machine whose
    calibration read x0.7, i.e. about 1,673 s at Scale 1. The estimate (Scale 1) comes from the trials the
    profiles plan, kind by kind."""
    total = 0.0
    for name in ("toy", "cifar_mlp", "optimizers", "palindrome"):
        trials = study_trials(load_study(name), "quick", Path("/nonexistent"))
        total += plan_estimate(trials, workers=2, scale=Scale()).seconds
    assert 1673 / 2 < total < 1673 * 2, total


def test_the_estimate_follows_the_trials_planned_not_a_per_study_constant():
    study = load_study("palindrome")

    def seeds(values: list[int]):
        trials = study_trials(study.with_sets({"seed": values}, "full"), "full", Path("/nonexistent"))
        return plan_estimate(trials, workers=2, scale=Scale())

    one, three = seeds([0]), seeds([0, 1, 2])
    assert three.units == 3 * one.units
    assert 2.5 * one.seconds < three.seconds < 3.2 * one.seconds


def test_finished_trials_cost_nothing_and_skip_the_calibration(tmp_path, monkeypatch):
    cfg, done_dir = _finished_run(tmp_path)
    monkeypatch.setattr(estimate, "calibrate", lambda: pytest.fail("calibrated with nothing to run"))
    est = plan_estimate([(cfg, done_dir)])
    assert est.units == 0 and est.seconds == 0


def test_the_calibration_is_about_a_second_and_can_be_turned_off(monkeypatch):
    start = time.perf_counter()
    overhead, compute = estimate.time_workloads(budget_s=0.3)
    assert len(overhead) >= 5 and len(compute) >= 5
    assert time.perf_counter() - start < 10
    monkeypatch.setenv("DLREPRO_CALIBRATION", "off")
    estimate.calibrate.cache_clear()
    try:
        assert estimate.calibrate() == Scale(1.0, 1.0)
    finally:
        estimate.calibrate.cache_clear()


def test_durations_are_said_as_precisely_as_an_estimate_deserves():
    assert duration(0.2) == "1 s"
    assert duration(45) == "45 s"
    assert duration(14 * 60 + 42) == "15 min"
    assert duration(100 * 60) == "1 h 40 min"
    assert duration(3.5 * 86400) == "3.5 days"


def test_reproduce_dry_run_prints_the_plan_with_an_estimate_per_study(tmp_path, monkeypatch, capsys):
    from dlrepro.cli import main

    monkeypatch.setenv("DLREPRO_CALIBRATION", "off")
    monkeypatch.delenv("DLREPRO_CIFAR10", raising=False)
    estimate.calibrate.cache_clear()
    try:
        assert main(["reproduce", "--dry-run", "--out", str(tmp_path)]) == 0
    finally:
        estimate.calibrate.cache_clear()
    out = capsys.readouterr().out.splitlines()
    toy, pal = (len(load_study(name).all_trials("quick")) for name in ("toy", "palindrome"))
    assert out[0].startswith("plan (quick profile, per-kind costs")
    assert re.match(rf"  toy +{toy} trial\(s\), {toy} to run, about \d+ min$", out[1]), out[1]
    assert "not run: needs CIFAR-10" in out[2] and "not run: needs CIFAR-10" in out[3]
    assert re.match(rf"  palindrome +{pal} trial\(s\), {pal} to run, about \d+ min$", out[4]), out[4]
    assert re.match(rf"  all +{toy + pal} to run, about \d+ min in all - an estimate", out[5]), out[5]
    assert not (tmp_path / "runs").exists()  # nothing run or written


def test_a_progress_pickles_for_ray_tunes_callbacks_without_its_screen(tmp_path, capsys):
    import pickle

    with Progress(_trials(tmp_path), "study", live=True, refresh_s=0.01) as progress:
        copy = pickle.loads(pickle.dumps(progress.log))  # Tune pickles the callback holding it
    copy("[1/2] completed t0")
    assert capsys.readouterr().out.endswith("[1/2] completed t0\n")


def test_reproduce_says_when_it_decodes_cifar10_and_prints_its_plan_first(tmp_path, monkeypatch, capsys,
                                                                          one_torch_thread):
    from dlrepro.cli import main
    from helpers import make_folder

    make_folder(tmp_path / "cifar", per_class={"train": 4, "test": 2})
    monkeypatch.setenv("DLREPRO_CALIBRATION", "off")
    estimate.calibrate.cache_clear()
    try:
        assert main(["reproduce", "--profile", "smoke", "--only", "cifar_mlp", "--data-root", str(tmp_path / "cifar"),
                     "--no-verify", "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    finally:
        estimate.calibrate.cache_clear()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "CIFAR-10: checking the copy (its first decode, into a cache, takes a while)"
    assert re.match(r"CIFAR-10: imagefolder copy ready in \d+\.\d s$", out[1]), out[1]
    assert out[2].startswith("plan (smoke profile") and re.match(r"  cifar_mlp +1 trial\(s\), 1 to run, about", out[3])
    assert any(line.startswith("[1/1] completed") for line in out)
