"""reproduce -> runs -> report: the report and claims are rebuilt from runs alone, and say what was not run."""

import json

import pytest

from dlrepro.cli import main
from dlrepro.report.claims import palindrome_claims, toy_claims
from dlrepro.report.load import Run


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    import os
    old = os.environ.pop("DLREPRO_CIFAR10", None)
    try:
        assert main(["reproduce", "--profile", "smoke", "--out", str(out), "--workers", "1"]) == 0
    finally:
        if old is not None:
            os.environ["DLREPRO_CIFAR10"] = old
    return out


def test_reproduce_writes_report_html_claims_and_figures(smoke_results):
    out = smoke_results
    md = (out / "report.md").read_text()
    for part in ("Part 1", "Part 1, task 3", "Part 2", "Part 3", "Claims of the reference report"):
        assert part in md
    assert "Not run: CIFAR-10 unavailable" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(list((out / "figures").glob("*.png"))) > 0
    claims = json.loads((out / "claims.json").read_text())
    assert {c["verdict"] for c in claims} <= {"reproduced", "differs", "not run"}
    cnn = [c for c in claims if c["part"] == "2"]
    assert cnn and all(c["verdict"] == "not run" and "CIFAR-10 unavailable" in c["reason"] for c in cnn)
    assert json.loads((out / "reproduce.json").read_text())["profile"] == "smoke"


def test_report_rebuilds_without_training_and_rerun_skips(smoke_results, capsys):
    out = smoke_results
    (out / "report.md").unlink()
    (out / "claims.json").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").exists() and (out / "claims.json").exists()
    capsys.readouterr()
    assert main(["reproduce", "--profile", "smoke", "--out", str(out), "--only", "toy", "--workers", "1"]) == 0
    assert capsys.readouterr().out.count("already done") == 6


def test_report_of_a_missing_dir_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def _run(cfg, test_acc, rows=None):
    return Run(path=None, cfg=cfg, summary={"status": "completed", "final": {"test_acc": test_acc}})


def test_claim_verdicts():
    runs = [_run({"model": m, "dataset": d}, acc) for m in ("mlp-numpy", "mlp-torch")
            for d, acc in (("moons", 1.0), ("circles", 0.97), ("classification", 0.99))]
    verdicts = {c.claim: c.verdict for c in toy_claims(runs, None)}
    assert verdicts["NumPy MLP test accuracy on moons"] == "reproduced"
    assert verdicts["NumPy MLP test accuracy on circles"] == "differs"
    assert verdicts["PyTorch MLP test accuracy on classification"] == "reproduced"  # 0.99 >= 0.995 - 0.01
    not_run = palindrome_claims([], "no runs")
    assert not_run and all(c.verdict == "not run" for c in not_run)


def test_report_rebuilds_from_a_copied_results_folder_alone(smoke_results, tmp_path, monkeypatch):
    """study.json in the folder, not the package's study files, gives the sections of the studies that ran."""
    import shutil

    import dlrepro.studies.record as record

    copy = tmp_path / "elsewhere" / "results"
    shutil.copytree(smoke_results, copy)
    for name in ("report.md", "report.html", "claims.json"):
        (copy / name).unlink()
    shutil.rmtree(copy / "figures")
    info = json.loads((copy / "runs" / "palindrome" / "study.json").read_text())
    assert info["profile"] == "smoke" and info["builtin"] and len(info["trials"]) == 4
    info["title"] = "Palindromes, as recorded in this folder"
    (copy / "runs" / "palindrome" / "study.json").write_text(json.dumps(info))
    real = record.load_study

    def only_not_run(name):  # the package is read only for built-in studies that never ran here
        assert name in ("cifar_mlp", "optimizers"), f"the report read the package's {name}.toml"
        return real(name)

    monkeypatch.setattr(record, "load_study", only_not_run)
    assert main(["report", str(copy)]) == 0
    md = (copy / "report.md").read_text()
    assert "## Palindromes, as recorded in this folder" in md and "Ran with profile smoke." in md
    assert "figures/palindrome_rnn_lr0.001.png" in md and (copy / "figures" / "palindrome_rnn_lr0.001.png").exists()
    assert json.loads((copy / "claims.json").read_text()) == json.loads((smoke_results / "claims.json").read_text())


def test_a_study_that_is_not_built_in_gets_its_own_section(smoke_results, tmp_path):
    import shutil

    out = tmp_path / "results"
    shutil.copytree(smoke_results, out)
    study = tmp_path / "mine.toml"
    study.write_text('[study]\nname = "mine"\ntitle = "My own MLP study"\ndescription = "Two learning rates."\n'
                     '[fixed]\nmodel = "mlp-numpy"\nepochs = 2\neval_every = 1\nn_samples = 60\n'
                     '[grid]\nlr = [0.01, 0.1]\nseed = [0, 1]\n')
    assert main(["sweep", str(study), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert main(["report", str(out)]) == 0
    md = (out / "report.md").read_text()
    section = md[md.index("## My own MLP study"):md.index("## Claims of the reference report")]
    assert "Two learning rates." in section and "Ran with profile quick." in section
    assert "figures/mine/mine_curves.png" in section and (out / "figures" / "mine" / "mine_curves.png").exists()
    assert "| lr   | seeds | final test acc (mean +- std over seeds)" in section
    for run in (out / "runs" / "mine").iterdir():
        if run.is_dir():
            acc = json.loads((run / "summary.json").read_text())["final"]["test_acc"]
            assert run.name in section and f"{acc:.4f}" in section
    assert md.index("## Part 3") < md.index("## My own MLP study")  # after the built-in studies
    html = (out / "report.html").read_text()
    assert "My own MLP study" in html and html.count("data:image/png;base64,") == len(
        list((out / "figures").rglob("*.png")))


def test_reproduce_exits_1_after_the_report_when_a_trial_failed(tmp_path, monkeypatch, capsys):
    import dlrepro.runs.execute as execute

    real = execute.build_task

    def flaky(cfg):
        if cfg.cell == "lstm":
            raise RuntimeError("boom")
        return real(cfg)

    monkeypatch.setattr(execute, "build_task", flaky)
    monkeypatch.delenv("DLREPRO_CIFAR10", raising=False)
    out = tmp_path / "out"
    code = main(["reproduce", "--profile", "smoke", "--only", "palindrome", "--set", "steps=10", "--workers", "1",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    assert (out / "report.md").exists() and (out / "claims.json").exists()
    assert "(2 trial(s) failed)" in printed and printed.count("] failed") == 2
    verdicts = [c["verdict"] for c in json.loads((out / "claims.json").read_text())]
    summary = next(line for line in printed.splitlines() if line.startswith("claims: "))
    for verdict in set(verdicts):
        assert f"{verdicts.count(verdict)} {verdict}" in summary
    assert "| cell" not in printed and "steps to 0.99" not in printed  # the report's tables are not echoed


def test_reproduce_quiet_prints_the_summary_only(smoke_results, capsys):
    capsys.readouterr()
    assert main(["reproduce", "--profile", "smoke", "--only", "toy", "--workers", "1", "--quiet",
                 "--out", str(smoke_results)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("6 trials in ") and lines[1].startswith("claims: ") and lines[2].startswith("report: ")
    assert len(lines) == 3
