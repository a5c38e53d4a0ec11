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
