"""Claims in a results folder are untrusted input: a reason is filled with the named values only (no format
spec, no conversion), every number of a claim is bounded, claims.json stays strict JSON, a claim's text and
reason are text in report.md (no heading, list or table cell of their own), and the pre-run check of `sweep`
refuses each such claim with one line before anything runs."""

import json
import math
from pathlib import Path

import pytest

from dlrepro.report.build import build_report
from helpers import assert_usage_error, write_study_folder

STUDY = ('[study]\nname = "mine"\ntitle = "Mine"\n[fixed]\nmodel = "mlp-numpy"\nepochs = 4\neval_every = 2\n'
         'n_samples = 60\n[grid]\nseed = [0, 1]\n')


def claim(extra: str = "", value: str = "0.5", text: str = "The MLP ends above 50%", reason: str = "") -> str:
    reason_line = f"reason = {json.dumps(reason)}\n" if reason else ""
    return (f'[[claims]]\nid = "c"\ntext = {json.dumps(text)}\nmatch = {{ model = "mlp-numpy" }}\n'
            f'rule = "at_least"\nmetric = "test_acc"\nvalue = {value}\n{extra}{reason_line}')


# (the claim's TOML, what the one line and the 'not run' reason say)
HOSTILE = {
    "value 1 and 400 zeros": (claim(value="1" + "0" * 400), "value an integer of 401 digits is not a finite number"),
    "value nan": (claim(value="nan"), "value nan is not a finite number of at most 1e12"),
    "value inf": (claim(value="inf"), "value inf is not a finite number"),
    "value -inf": (claim(value="-inf"), "value -inf is not a finite number"),
    "tolerance 1e300": (claim(extra="tolerance = 1e300\n"), "tolerance 1e+300 is not a finite number"),
    "settings epochs inf": (claim(extra="settings = { epochs = inf }\n"), "settings epochs inf is not a finite"),
    "match seed nan": (claim().replace('{ model = "mlp-numpy" }', '{ model = "mlp-numpy", seed = [0, nan] }'),
                       "match seed nan is not a finite number"),
}
# a reason's format spec, conversion or stray brace: (the reason, what the error quotes of it)
for reason, quoted in (("{mean:>100000000}", "{mean:>100000000}"), ("{mean!z}", "{mean!z}"), ("{lo:d}", "{lo:d}"),
                       ("{mean:{lo.__class__}}", "{mean:{lo.__class__}"), ("mean {mean} {", "{"),
                       ("{mean!r}", "{mean!r}"), ("{0}", "{0}")):
    HOSTILE[f"reason {reason}"] = (claim(value="0.99", reason=reason), f"reason: {quoted!r} is not a placeholder")
INCREASES = ('[[claims]]\nid = "c"\ntext = "t"\nmatch = { model = "mlp-numpy" }\nrule = "increases"\n'
             'metric = "test_acc"\nstatistic = "final"\naxis = "seed"\nvalues = {values}\n')
HOSTILE["increases values strings"] = (INCREASES.replace("{values}", '["a", "b"]'),
                                       "values must be numbers, not ['a', 'b']")
HOSTILE["increases values inf"] = (INCREASES.replace("{values}", "[0, inf]"), "values inf is not a finite number")


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_claim_is_one_line_before_a_sweep_runs(tmp_path, capsys, case):
    text, needle = HOSTILE[case]
    study = tmp_path / "mine.toml"
    study.write_text(STUDY + text)
    out = tmp_path / "out"
    for dry in ([], ["--dry-run"]):
        assert_usage_error(["sweep", str(study), "--profile", "quick", "--out", str(out), *dry],
                           f"claim c: {needle}", capsys)
    assert not out.exists()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_claim_in_a_results_folder_is_not_run_with_the_reason_in_strict_json(tmp_path, case):
    """The folder's study.toml edited after its sweep: the report builds, small, the claim 'not run' with the
    problem; claims.json parses as strict JSON (no NaN, no Infinity)."""
    text, needle = HOSTILE[case]
    out = tmp_path / "results"
    write_study_folder(out, STUDY, "quick", lambda cfg: 0.9, name="mine")
    (out / "runs" / "mine" / "study.toml").write_text(STUDY + text)
    build_report(out, echo=False)
    doc = strict_json((out / "claims.json").read_text())
    (c,) = doc["claims"]
    assert c["verdict"] == "not run" and c["reason"].startswith("the claim cannot be judged: ")
    assert needle in c["reason"], c["reason"]
    for name in ("report.md", "report.html", "claims.json"):
        assert (out / name).stat().st_size < 200_000, name
    assert "NaN" not in (out / "claims.json").read_text() and "Infinity" not in (out / "claims.json").read_text()


def test_a_reason_is_filled_with_the_named_values_and_braces_doubled_are_braces(tmp_path):
    out = tmp_path / "results"
    study = STUDY + claim(value="0.99", reason="{{not a field}}: mean {mean}, {lo}")
    write_study_folder(out, study, "quick", lambda cfg: 0.9, name="mine")
    build_report(out, echo=False)
    (c,) = strict_json((out / "claims.json").read_text())["claims"]
    assert c["verdict"] == "differs" and c["reason"] == "{not a field}: mean 0.9000, ?"


INJECTED = "fine\n\n# Verdict: all claims reproduced\n\n- and a list\n| a | table |"


def test_a_claims_text_and_reason_are_text_in_report_md(tmp_path):
    out = tmp_path / "results"
    study = STUDY + claim(value="0.99", text=INJECTED + " <script>x</script>", reason=INJECTED)
    write_study_folder(out, study, "quick", lambda cfg: 0.9, name="mine")
    build_report(out, echo=False)
    md = (out / "report.md").read_text()
    lines = md.splitlines()
    assert [line for line in lines if line.startswith("# ")] == ["# dlrepro: Mine"]
    assert not any(line.startswith(("- and a list", "| a | table", "#", "<script")) for line in lines
                   if not line.startswith(("# dlrepro", "## ", "### ")))
    assert "<script>" not in md and "&lt;script>" in md
    glance = md[md.index("## Verdicts at a glance"):md.index("Each claim links")]
    header, _, row = [line for line in glance.splitlines() if line.startswith("|")]
    assert row.replace("\\|", "").count("|") == header.count("|")   # the claim's '|' is escaped: one row, 5 cells
    html = (out / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    (c,) = strict_json((out / "claims.json").read_text())["claims"]
    assert c["text"].startswith("fine") and "\n" in c["reason"]   # claims.json keeps the text as written


def test_claims_json_holds_no_nan_even_when_a_statistic_is_undefined(tmp_path):
    """A measured number that is not finite (never minus never) is null in claims.json, not NaN."""
    from dlrepro.claims.verdict import Claim

    c = Claim("c", "p", "t", {}, {"value": math.nan, "big": 10 ** 400}, "r",
              measured={"mean": math.nan, "std": None, "values": [], "n": 0, "x": math.inf})
    d = c.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["measured"]["mean"] is None and d["measured"]["x"] is None and d["reference"]["value"] == "nan"
    assert d["reference"]["big"] == "a very long integer" and strict_json(text)


def test_the_kept_reproduce_folder_still_judges_the_same(tmp_path):
    """../shared/data/results-quick-a7585ba: a quick reproduce by main a7585ba; its claims keep their verdicts,
    reasons and numbers (a rule may add a measured extra)."""
    import tarfile

    kept = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    archive = kept / "results-quick-a7585ba.tar.xz"
    if not archive.exists():
        pytest.skip("the kept results folder is not here")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    out = next(p.parent for p in tmp_path.rglob("reproduce.json"))
    build_report(out, echo=False)
    ours = {c["id"]: c for c in strict_json((out / "claims.json").read_text())["claims"]}
    before = {c["id"]: c for c in json.loads((kept / "results-quick-a7585ba.claims.json").read_text())["claims"]}
    assert list(ours) == list(before)
    for cid, was in before.items():
        now = ours[cid]
        assert (now["verdict"], now["reason"], now["runs"], now["settings"]) == \
               (was["verdict"], was["reason"], was["runs"], was["settings"]), cid
        for key, number in was["measured"].items():
            assert now["measured"][key] == pytest.approx(number, rel=1e-9) if isinstance(number, float) \
                else now["measured"][key] == number, (cid, key)


@pytest.mark.parametrize("text, needle", [
    (claim(text="x" * 1001), "claim 'c': text must be at most 1,000 characters"),
    (claim(reason="r" * 1001), "claim 'c': reason must be at most 1,000 characters"),
    (claim().replace('id = "c"', 'id = "' + "c" * 81 + '"'), "id must be lower-case letters, digits, '.' or '-'"),
    (claim() + claim(), "claim 'c': id is used twice"),
    ("claims = 5\n", "claims must be [[claims]] tables"),
])
def test_a_claims_table_too_large_or_malformed_is_one_line_before_a_sweep_runs(tmp_path, capsys, text, needle):
    study = tmp_path / "mine.toml"
    study.write_text(text + STUDY if text.startswith("claims") else STUDY + text)
    assert_usage_error(["sweep", str(study), "--dry-run", "--out", str(tmp_path / "out")], needle, capsys)
