"""Claims on a user's own study (examples/palindrome_claims.toml): checked before anything runs, listed by
--dry-run, judged both ways in its own report section and in claims.json, "not comparable" under a --set
that changes a claim's setting; and the report's verdicts at a glance."""

import json
from importlib import resources
from pathlib import Path

import pytest

from dlrepro.cli import main
from dlrepro.report.build import build_report
from helpers import assert_usage_error, curve, write_study_folder

EXAMPLE = Path(__file__).parent.parent / "examples" / "palindrome_claims.toml"


def test_studies_show_prints_the_claims(capsys):
    assert main(["studies", "--show", "palindrome"]) == 0
    out = capsys.readouterr().out
    assert out.count("[[claims]]") == 22 and 'id = "rnn-lr0.001-len15-steps"' in out and 'rule = "around"' in out


def test_the_claims_reference_values_are_data():
    from dlrepro.studies.claim_checks import study_claims

    claims = {c.id: c for name in ("toy", "cifar_mlp", "optimizers", "palindrome") for c in study_claims(name)}
    assert len(claims) == 49
    assert claims["rnn-lr0.001-len15-steps"].params["value"] == 5500
    assert claims["toy-mlp-torch-classification-train"].params["value"] == 0.9985
    assert claims["cnn-adam-1e-2-stuck"].params == {"metric": "test_acc", "low": 0.18, "high": 0.22, "tolerance": 0.02}
    assert {c.id for c in study_claims(str(EXAMPLE))} == {"lstm-len12-within-2000", "rnn-len25-within-2000"}


def _with_claim(tmp_path, claim: str) -> Path:
    text = EXAMPLE.read_text().split("[[claims]]")[0] + "[[claims]]\n" + claim
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


BASE = 'id = "bad"\ntext = "t"\nmatch = { cell = "lstm" }\n'


@pytest.mark.parametrize("claim, needle", [
    (BASE + 'rule = "approximately"\nmetric = "test_acc"\nvalue = 1', "claim bad: unknown rule 'approximately'"),
    (BASE + 'rule = "at_least"\nmetric = "test_acc"\nvalue = 1\nslack = 2', "claim bad: rule at_least has no "
                                                                             "parameter 'slack'"),
    (BASE + 'rule = "at_least"\nmetric = "val_acc"\nvalue = 1', "claim bad: metric 'val_acc' is not one of"),
    ('id = "bad"\ntext = "t"\nmatch = { cell = "gru" }\nrule = "at_least"\nmetric = "test_acc"\nvalue = 1',
     "claim bad: match {cell = gru} selects no trial of any profile"),
])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_claim_that_cannot_be_judged_stops_the_sweep_before_anything_runs(tmp_path, capsys, claim, needle,
                                                                            dry_run):
    study = _with_claim(tmp_path, claim)
    out = tmp_path / "out"
    assert_usage_error(["sweep", str(study), "--profile", "smoke", "--out", str(out)] + (["--dry-run"] * dry_run),
                       needle, capsys)
    assert not out.exists()


def test_dry_run_lists_each_claim_with_the_trials_it_is_judged_from(tmp_path, capsys):
    assert main(["sweep", str(EXAMPLE), "--dry-run", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "   2 claim(s):" in lines
    lstm = next(line for line in lines if "claim lstm-len12-within-2000" in line)
    assert "(at_most): judged from 1 trial(s): lstm-L12-lr0.001-0-" in lstm
    capsys.readouterr()
    assert main(["sweep", str(EXAMPLE), "--dry-run", "--profile", "smoke", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "claim rnn-len25-within-2000 (at_most): not comparable, profile smoke runs 40 of 2,000 steps, hidden 16 " \
           "(reference 128)" in out
    assert not (tmp_path / "runs").exists()


def example_test(cfg):
    """The LSTM at length 12 reaches 1.0 at step 1,500; the vanilla RNN at length 25 stays at 0.3."""
    return curve(1500, 0.1) if cfg["cell"] == "lstm" else 0.3


def test_a_user_studys_claims_are_judged_both_ways_in_its_section_and_in_claims_json(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "results"
    write_study_folder(out, EXAMPLE.read_text(), "full", example_test, name="palindrome_claims")
    build_report(out, echo=False)
    doc = json.loads((out / "claims.json").read_text())
    jsonschema.validate(doc, json.loads((resources.files("dlrepro.claims") / "claims.schema.json").read_text()))
    mine = {c["id"]: c for c in doc["claims"] if c["part"] == "palindrome_claims"}
    assert mine["lstm-len12-within-2000"]["verdict"] == "reproduced"
    assert mine["lstm-len12-within-2000"]["measured"]["values"] == [1500.0] * 3
    rnn = mine["rnn-len25-within-2000"]
    assert rnn["verdict"] == "differs" and rnn["measured"]["never"] == 3 and len(rnn["runs"]) == 3
    assert rnn["reason"] == "mean never is above the accepted maximum 2,000"
    # a folder of a user's study reports that study only: no built-in claims, no reference section
    assert len(doc["claims"]) == 2 and doc["counts"]["reproduced"] == 1 and doc["counts"]["differs"] == 1
    md = (out / "report.md").read_text()
    assert "## Claims of the reference" not in md and "Part 1" not in md
    section = md[md.index("## Claims of Example: an LSTM remembers 12 digits"):]
    assert "rnn-len25-within-2000: \u2718 differs" in section and "lstm-len12-within-2000: \u2714 reproduced" in section
    summary = md.split("## Summary", 1)[1].split("## ", 1)[0]
    assert "2 claims: 1 reproduced, 1 differs" in summary and "Study palindrome_claims: 1 reproduced, 1 differs" \
        in summary


def test_a_set_that_changes_a_claims_setting_makes_it_not_comparable(tmp_path, capsys):
    """A real tiny sweep of the example, end to end: sweep, report, claims.json."""
    out = tmp_path / "results"
    assert main(["sweep", str(EXAMPLE), "--profile", "smoke", "--set", "steps=20", "--out", str(out),
                 "--workers", "1", "--quiet"]) == 0
    assert main(["report", str(out)]) == 0
    claims = {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}
    for cid in ("lstm-len12-within-2000", "rnn-len25-within-2000"):
        assert claims[cid]["verdict"] == "not comparable"
        assert claims[cid]["reason"] == "profile smoke ran 20 of 2,000 steps, hidden 16 (reference 128)"
    md = (out / "report.md").read_text()
    assert "Ran with profile smoke and --set steps=20." in md


def test_the_report_opens_with_every_verdict_at_a_glance_linking_to_the_details(tmp_path):
    from html import escape as html_escape

    from dlrepro.studies.claim_checks import study_claims

    out = tmp_path / "results"
    write_study_folder(out, EXAMPLE.read_text(), "quick", example_test, name="palindrome_claims")
    (out / "runs" / "toy").mkdir()   # a built-in study's folder: the reference's claims are reported too
    build_report(out, echo=False)
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert md.index("## Summary") < md.index("## Verdicts at a glance") < md.index("## Part 1")
    glance = md[md.index("## Verdicts at a glance"):md.index("Every number below")]
    rows = [line for line in glance.splitlines() if line.startswith("| ")][1:]
    assert len(rows) == 51   # each claim by its sentence, linked to its details by its id
    texts = {c.id: c.text for c in study_claims(str(EXAMPLE)) + study_claims("toy")}
    lstm = next(r for r in rows if "[claim-lstm-len12-within-2000]" in r)
    assert [c.strip() for c in lstm.split("|")[1:-1]] == [
        "palindrome_claims", f"[{texts['lstm-len12-within-2000']}][claim-lstm-len12-within-2000]", "<= step 2,000",
        "1,500", "\u2714 reproduced"]
    assert "\u2714 reproduced" in glance and "\u2718 differs" in glance and "\u2013 not run" in glance
    for cid in ("lstm-len12-within-2000", "toy-faster-moons"):
        assert f"[claim-{cid}]: #claim-{cid}" in md and f'<a id="claim-{cid}"></a>{cid}' in md   # link and target
        assert f"<a href='#claim-{cid}'>{html_escape(texts[cid])}</a>" in html and f"<h3 id='claim-{cid}'>" in html
    top = html[:html.index("<h2>Part 1")]
    assert "Verdicts at a glance" in top and "v-reproduced" in top and "v-differs" in top


def test_a_set_that_leaves_a_claim_without_trials_is_no_error(tmp_path, capsys):
    """The claims are checked against the study as written: --set cell=lstm makes the vanilla RNN's claims
    'not run', it does not refuse the sweep."""
    assert main(["sweep", "palindrome", "--profile", "smoke", "--set", "cell=lstm", "--dry-run",
                 "--out", str(tmp_path)]) == 0
    assert "claim rnn-lr0.001-len5-steps (around): not run, profile smoke has no trial with {cell = rnn" in \
        capsys.readouterr().out


def test_the_claims_page_documents_every_rule_kind_with_a_working_example():
    import re
    import tomllib
    from collections import Counter

    from dlrepro.claims.judge import check_params
    from dlrepro.claims.rules import RULES
    from dlrepro.claims.spec import parse_claims
    from dlrepro.studies.claim_checks import study_claims

    page = (Path(__file__).parent.parent / "docs" / "claims.md").read_text()
    section = page[page.index("## Rule kinds"):]
    served = Counter(c.rule for name in ("toy", "cifar_mlp", "optimizers", "palindrome") for c in study_claims(name))
    rows = dict(re.findall(r"^\| `(\w+)` \| .* \| (\d+)[^|]*\|$", section, re.M))
    assert set(rows) == set(RULES) and {k: int(v) for k, v in rows.items()} == {k: served[k] for k in RULES}
    examples = re.findall(r"^rule = (\{ kind = .*\})$", section, re.M)
    assert {tomllib.loads(f"r = {e}")["r"]["kind"] for e in examples} == set(RULES)
    for e in examples:
        table = tomllib.loads(f'id = "x"\ntext = "t"\nmatch = {{ seed = 0 }}\nrule = {e}')
        (spec,) = parse_claims([table], "docs/claims.md", "docs")
        assert check_params(spec) is None, (e, check_params(spec))


def test_the_mlp_example_reproduces_one_claim_and_not_the_other_for_real(tmp_path):
    """examples/mlp_claims.toml at its claims' settings, trained here (4 NumPy runs of 20 epochs): 20 hidden
    units reach 95% on moons within 20 epochs, 2 hidden units do not reach 90% on circles."""
    example = EXAMPLE.parent / "mlp_claims.toml"
    out = tmp_path / "results"
    assert main(["sweep", str(example), "--out", str(out), "--workers", "2", "--quiet"]) == 0
    assert main(["report", str(out)]) == 0
    claims = {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}
    moons, circles = claims["moons-95-within-20"], claims["circles-90-two-units"]
    assert moons["verdict"] == "reproduced" and moons["measured"]["n"] == 2 and max(moons["measured"]["values"]) <= 20
    assert circles["verdict"] == "differs" and circles["measured"]["mean"] < 0.8 and len(circles["runs"]) == 2
    assert circles["reason"].startswith("mean 0.") and "below the accepted minimum 0.9000" in circles["reason"]


def test_studies_lists_the_claims_per_study(capsys):
    assert main(["studies"]) == 0
    rows = {line.split("|")[1].strip(): line.split("|")[4].strip() for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and not line.startswith("| study ")}
    assert rows == {"toy": "17", "cifar_mlp": "3", "optimizers": "7", "palindrome": "22"}
