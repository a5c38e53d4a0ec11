"""A user's own study in the report: a study whose trials use a plugin cell is judged from the runs that exist,
the report is about the studies in the folder, a sweep records its profile and machine, a study's own profiles
are valid choices, the verdict table reads as sentences, and `report --quiet`."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dlrepro.cli import main
from helpers import assert_usage_error

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SRC = Path(__file__).resolve().parents[1] / "src"

PLUGIN_STUDY = '''[study]
name = "mgu"
title = "A cell of my own"
[fixed]
model = "rnn"
hidden = 8
steps = 20
eval_every = 10
input_length = 4
[grid]
cell = ["gru", "my_cell:MGU"]
seed = [0, 1]

[[claims]]
id = "mgu-learns-something"
text = "The MGU ends above 0% test accuracy"
match = { cell = "my_cell:MGU" }
rule = "at_least"
metric = "test_acc"
value = 0.0

[[claims]]
id = "mgu-is-perfect"
text = "The MGU ends at 200% test accuracy"
match = { cell = "my_cell:MGU" }
rule = "at_least"
metric = "test_acc"
value = 2.0
'''


def dlrepro_cli(args: list[str], cwd: Path, examples: bool = True) -> subprocess.CompletedProcess:
    path = [*([str(EXAMPLES)] if examples else []), str(SRC)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run([sys.executable, "-m", "dlrepro", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def test_claims_about_a_plugin_cell_are_judged_from_its_runs_end_to_end(tmp_path):
    """examples/my_cell.py's MGU in a study with two claims about it: --dry-run lists each claim with the
    trials the sweep runs (their ids hold the plugin's sha256), the sweep trains them, and the report (without
    the plugin importable) judges both claims from those runs and shows the plugin by its path."""
    study = tmp_path / "mgu.toml"
    study.write_text(PLUGIN_STUDY)
    out = tmp_path / "results"
    plan = dlrepro_cli(["sweep", str(study), "--profile", "smoke", "--out", str(out), "--dry-run"], tmp_path)
    assert plan.returncode == 0, plan.stderr
    trial_ids = [line.split()[0] for line in plan.stdout.splitlines() if line.strip().startswith("mgu-")]
    assert len(trial_ids) == 2
    claim_line = next(line for line in plan.stdout.splitlines() if "claim mgu-learns-something" in line)
    assert claim_line.endswith("judged from 2 trial(s): " + ", ".join(trial_ids)), claim_line
    swept = dlrepro_cli(["sweep", str(study), "--profile", "smoke", "--out", str(out), "--workers", "1", "--quiet"],
                        tmp_path)
    assert swept.returncode == 0, swept.stderr
    assert sorted(p.name for p in (out / "runs" / "mgu").glob("mgu-*")) == sorted(trial_ids)
    report = dlrepro_cli(["report", str(out)], tmp_path, examples=False)   # the plugin is not importable here
    assert report.returncode == 0, report.stderr
    claims = {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}
    assert claims["mgu-learns-something"]["verdict"] == "reproduced", claims["mgu-learns-something"]
    assert sorted(claims["mgu-learns-something"]["runs"]) == sorted(trial_ids)
    assert claims["mgu-is-perfect"]["verdict"] == "differs" and claims["mgu-is-perfect"]["measured"]["n"] == 2
    md = (out / "report.md").read_text()
    assert "cell my_cell:MGU" in md and "sha256" not in md and "plugin_info" not in md


MINE = '''[study]
name = "mine"
title = "My own MLP study"
[fixed]
model = "mlp-numpy"
epochs = 4
eval_every = 2
n_samples = 60
[grid]
seed = [0, 1]
[profiles.mine]
fixed = { epochs = 6 }

[[claims]]
id = "mine-learns"
text = "My MLP ends above 0% test accuracy"
match = { model = "mlp-numpy" }
rule = "at_least"
metric = "test_acc"
value = 0.0
'''


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A folder holding one user study, swept for real (2 tiny NumPy runs)."""
    out = tmp_path_factory.mktemp("swept") / "results"
    study = out.parent / "mine.toml"
    study.write_text(MINE)
    assert main(["sweep", str(study), "--profile", "quick", "--out", str(out), "--workers", "1", "--quiet"]) == 0
    return out


def test_a_folder_of_a_users_study_reports_that_study_only(swept, capsys):
    assert main(["report", str(swept)]) == 0
    doc = json.loads((swept / "claims.json").read_text())
    assert [c["id"] for c in doc["claims"]] == ["mine-learns"] and doc["claims"][0]["verdict"] == "reproduced"
    md = (swept / "report.md").read_text()
    assert "Part 1" not in md and "Claims of the reference report" not in md and "toy-" not in md
    assert "1 claim: 1 reproduced" in md and md.startswith("# dlrepro: My own MLP study\n")


def test_a_sweep_records_its_profile_and_machine_for_the_report(swept, capsys):
    record = json.loads((swept / "runs" / "mine" / "study.json").read_text())
    assert record["profile"] == "quick" and record["hardware"]["cores"] == os.cpu_count()
    assert main(["report", str(swept)]) == 0
    md = (swept / "report.md").read_text()
    summary = md.split("## Summary", 1)[1].split("## ", 1)[0]
    assert "Profile: quick;" in summary and "Profile: unknown" not in summary
    assert f"Hardware: {record['hardware']['cpu']}, {os.cpu_count()} cores" in summary
    assert "not recorded" not in summary
    doc = json.loads((swept / "claims.json").read_text())
    assert doc["profile"] == "quick" and doc["hardware"] == record["hardware"]


def test_a_studys_own_profile_is_a_valid_choice_and_an_undefined_one_is_one_line(swept, capsys):
    study = str(swept.parent / "mine.toml")
    assert main(["sweep", study, "--profile", "mine", "--dry-run", "--out", str(swept)]) == 0
    out = capsys.readouterr().out
    assert "-> " in out and "0 done, 2 to run" in out and "epochs=6" in out
    assert_usage_error(["sweep", study, "--profile", "yours", "--out", str(swept)],
                       "profile 'yours' is not defined; choose from smoke, quick, full, mine", capsys)
    assert_usage_error(["reproduce", "--profile", "mine", "--dry-run", "--out", str(swept)],
                       "profile 'mine' is not defined; choose from smoke, quick, full", capsys)


def test_report_quiet_prints_one_line_and_the_default_prints_the_tables(swept, capsys):
    assert main(["report", str(swept), "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"report: {swept / 'report.md'} and {swept / 'report.html'}"]
    assert main(["report", str(swept)]) == 0
    assert "| trial " in capsys.readouterr().out


def test_report_md_links_only_figures_that_were_written(swept):
    assert main(["report", str(swept)]) == 0
    md = (swept / "report.md").read_text()
    links = re.findall(r"\]\((figures/[^)]+)\)", md)
    assert links and all((swept / link).is_file() for link in links), links
    assert "mine_curves.png" in md and "mine_curves.svg" not in md


CLAIM = ('[[claims]]\nid = "{id}"\ntext = "t"\nmatch = {{ seed = 0 }}\nrule = "at_least"\nmetric = "test_acc"\n'
         'value = 0\n')


def _bad_source(kind: str, path: Path) -> None:
    good = path.read_text()
    if kind == "not TOML":
        path.write_text(good + "[[claims]\n")
    elif kind == "duplicate ids":
        path.write_text(good + CLAIM.format(id="mine-learns"))
    elif kind == "odd id":
        path.write_text(good + CLAIM.format(id="Mine Learns"))
    elif kind == "claims = 5":
        path.write_text(good.split("[[claims]]")[0].replace("[study]", "claims = 5\n[study]"))
    elif kind == "a link":
        path.unlink()
        path.symlink_to(path.parent.parent.parent.parent / "mine.toml")
    elif kind == "a FIFO":
        path.unlink()
        os.mkfifo(path)
    elif kind == "oversized":
        path.write_text(good + "#" * (5 * 2**20) + "\n")


@pytest.mark.parametrize("kind, words", [
    ("not TOML", "not valid TOML"), ("duplicate ids", "id is used twice"), ("odd id", "id must be"),
    ("claims = 5", "claims must be [[claims]] tables"), ("a link", "link"), ("a FIFO", "regular file"),
    ("oversized", "more than")])
def test_a_study_whose_claims_cannot_be_read_is_reported_as_such_naming_the_file(tmp_path, kind, words):
    from dlrepro.report.build import build_report
    from helpers import no_hang, write_study_folder

    out = tmp_path / "results"
    (tmp_path / "mine.toml").write_text(MINE)
    write_study_folder(out, MINE, "quick", lambda cfg: 0.9, name="mine")
    _bad_source(kind, out / "runs" / "mine" / "study.toml")
    with no_hang(60):
        build_report(out, echo=False)
    doc = json.loads((out / "claims.json").read_text())
    assert doc["claims"] == [] and len(doc["unreadable_studies"]) == 1
    (unread,) = doc["unreadable_studies"]
    assert unread["study"] == "mine" and unread["file"] == "runs/mine/study.toml"
    assert "runs/mine/study.toml" in unread["problem"] and words in unread["problem"], unread
    md = (out / "report.md").read_text()
    section = md[md.index("## My own MLP study"):]
    assert "The claims of this study were not judged: its study file cannot be read (runs/mine/study.toml" \
        in " ".join(section.split())
    summary = md.split("## Summary", 1)[1].split("## ", 1)[0]
    assert "The claims of study mine were not judged" in summary


def test_a_recorded_title_or_profile_cannot_inject_markdown_blocks(tmp_path):
    from dlrepro.report.build import build_report
    from helpers import write_study_folder

    out = tmp_path / "results"
    write_study_folder(out, MINE, "quick", lambda cfg: 0.9, name="mine")
    record = out / "runs" / "mine" / "study.json"
    doc = json.loads(record.read_text())
    doc.update(title="Mine\n# Verdict: all claims reproduced", description="ok\n\n- injected item\n```",
               profile="quick\n\n# Profile heading")
    record.write_text(json.dumps(doc))
    build_report(out, echo=False)
    md = (out / "report.md").read_text()
    assert [line for line in md.splitlines() if line.startswith("# ")] == [
        "# dlrepro: Mine # Verdict: all claims reproduced"]   # a user's study only: the page is named after it
    assert not any(line.startswith(("- injected", "```")) for line in md.splitlines())
    assert "Mine # Verdict: all claims reproduced" in md
