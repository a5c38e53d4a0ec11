"""Protocols in a study file: each trial runs under every protocol its profile asks for, the stated protocol is
the study as before, equal trials run once, and a bad protocol table is one line, exit code 2."""

import json
from importlib import resources

import pytest

from dlrepro.studies.record import read_study_record, write_study_record
from dlrepro.studies.spec import load_study, parse_set
from helpers import assert_usage_error

HEAD = """
[study]
name = "two"
[fixed]
model = "mlp-numpy"
dataset = "moons"
n_samples = 200
epochs = 10
eval_every = 2
"""
BASE = HEAD + """[grid]
seed = [0, 1]
lr = [0.01, 0.1]
"""
FAST = """
[protocols.fast]
description = "as the code ran"
fixed = { lr = 0.1 }
only = { lr = 0.01 }
[[protocols.fast.when]]
match = { seed = 1 }
fixed = { epochs = 12 }
"""


def _study(tmp_path, text: str):
    path = tmp_path / "two.toml"
    path.write_text(text)
    return load_study(path)


def test_a_study_without_protocols_runs_its_stated_trials_only(tmp_path):
    for study in (_study(tmp_path, BASE), *(load_study(n) for n in ("toy", "cifar_mlp", "optimizers", "palindrome"))):
        for profile in ("smoke", "quick") if not study.protocols.keys() - {"stated"} else ():
            assert study.profile_protocols(profile) == ("stated",)
            assert study.all_trials(profile) == study.trials(profile)


def test_a_protocol_applies_its_fixed_settings_its_when_parts_and_only(tmp_path):
    study = _study(tmp_path, BASE + FAST)
    assert study.profile_protocols("quick") == ("stated", "fast")
    stated, fast = study.trials("quick"), study.trials("quick", "fast")
    assert [(c.seed, c.lr, c.epochs) for c in stated] == [(0, 0.01, 10), (0, 0.1, 10), (1, 0.01, 10), (1, 0.1, 10)]
    # only the lr 0.01 points; lr set to 0.1; seed 1 also gets epochs 12
    assert [(c.seed, c.lr, c.epochs) for c in fast] == [(0, 0.1, 10), (1, 0.1, 12)]
    # seed 0 under fast equals the stated lr 0.1 point: it runs once and belongs to both protocols
    assert fast[0].default_name() == stated[1].default_name()
    every = study.all_trials("quick")
    assert [c.default_name() for c in every] == [c.default_name() for c in stated] + [fast[1].default_name()]


def test_a_profile_names_the_protocols_it_runs(tmp_path):
    study = _study(tmp_path, BASE + FAST + '[profiles.smoke]\nprotocols = ["stated"]\n')
    assert study.profile_protocols("smoke") == ("stated",)
    assert study.all_trials("smoke") == study.trials("smoke")
    assert study.profile_protocols("full") == ("stated", "fast")


def test_set_wins_over_a_protocol_and_reaches_every_protocol(tmp_path):
    study = _study(tmp_path, BASE + FAST)
    changed = study.with_sets(dict([parse_set("epochs=3")]), "quick")
    assert {c.epochs for c in changed.all_trials("quick")} == {3}   # the when part's epochs 12 gives way
    assert {c.lr for c in changed.trials("quick", "fast")} == {0.1}


def test_study_record_lists_the_trials_of_each_protocol(tmp_path):
    study = _study(tmp_path, BASE + FAST)
    ids = [c.default_name() for c in study.all_trials("quick")]
    write_study_record(study, "quick", tmp_path / "out" / "runs" / "two", ids)
    record = read_study_record(tmp_path / "out" / "runs" / "two")
    assert record["version"] == 2 and record["trials"] == ids
    assert record["protocols"] == {name: [c.default_name() for c in study.trials("quick", name)]
                                   for name in ("stated", "fast")}


def test_dry_run_shows_the_protocols_of_each_trial(tmp_path, capsys):
    from dlrepro.cli import main

    path = tmp_path / "two.toml"
    path.write_text(BASE + FAST)
    assert main(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "protocols: stated 4 trial(s); fast 2 trial(s)" in out
    assert sum("stated,fast" in line for line in out.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_dry_run_lists_the_trials_each_claim_is_judged_from_under_each_protocol(tmp_path, capsys):
    from dlrepro.cli import main

    path = tmp_path / "two.toml"
    path.write_text(TWO.replace("fixed = { lr = 0.1 }", "fixed = { lr = 0.1 }\nonly = { seed = 1 }"))
    assert main(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    study = load_study(path)
    fast = study.trials("quick", "fast")
    at = next(i for i, line in enumerate(lines) if line.startswith("   claim moons-97"))
    assert "judged from 2 trial(s)" in lines[at]
    assert lines[at + 1] == f"     under fast: judged from 1 trial(s): {fast[0].default_name()}"


@pytest.mark.parametrize("extra, needle", [
    ('[protocols.x]\nfixed = { foo = 1 }\n', "protocol x): unknown setting(s) for mlp-numpy: foo"),
    ('[protocols.x]\nfixed = { lr = "a" }\n', "[protocols.x] fixed.lr must be a number"),
    ('[protocols.x]\nbogus = 1\n', "[protocols.x] has unknown key(s) bogus"),
    ('[protocols.stated]\nfixed = { lr = 0.1 }\n', "the stated protocol is the study's own settings"),
    ('[protocols.x]\ndescription = "none"\n', "[protocols.x]: sets no setting"),
    ('[protocols.x]\nfixed = { lr = -1.0 }\n', "protocol x): --lr must be > 0"),
    ('[protocols.x]\nfixed = { lr = 0.2 }\n[[protocols.x.when]]\nmatch = { nope = 1 }\n',
     "'nope' is not a run setting"),
    ('[protocols.x]\nfixed = { lr = 0.2 }\nonly = { seed = [] }\n', "seed = [] matches nothing"),
    ('[profiles.quick]\nprotocols = ["as-run"]\n', "unknown protocol 'as-run'"),
    ('[protocols.x]\nfixed = { lr = 0.2 }\n[profiles.quick]\nprotocols = ["x"]\n', 'must include "stated"'),
    ('[protocols."a b"]\nfixed = { lr = 0.2 }\n', "a protocol's name must be"),
    ('[protocols]\nx = 3\n', "[protocols.x] must be a table"),
])
def test_a_bad_protocol_table_is_one_line_exit_2(tmp_path, capsys, extra, needle):
    path = tmp_path / "bad.toml"
    path.write_text(BASE + extra)
    assert_usage_error(["sweep", str(path), "--dry-run", "--out", str(tmp_path / "out")], needle, capsys)
    assert not (tmp_path / "out").exists()



TWO = HEAD + """lr = 0.01
[grid]
seed = [0, 1]

[protocols.fast]
description = "as the code ran: lr 0.1"
fixed = { lr = 0.1 }

[[claims]]
id = "moons-97"
text = "The NumPy MLP reaches 97% test accuracy on moons in 10 epochs at lr 0.01"
match = { model = "mlp-numpy", dataset = "moons" }
settings = { epochs = 10, lr = 0.01 }
rule = "at_least"
metric = "test_acc"
statistic = "final"
value = 0.97
"""


def test_a_user_study_with_two_protocols_gets_both_verdicts(tmp_path, capsys):
    """lr 0.01 for 10 epochs leaves moons below 97 %; the protocol's lr 0.1 reaches it: the claim differs as
    stated, reproduces under `fast`, and the summary names lr as the setting that explains it."""
    import jsonschema

    from dlrepro.cli import main

    path, out = tmp_path / "two.toml", tmp_path / "out"
    path.write_text(TWO)
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    assert main(["report", str(out)]) == 0
    capsys.readouterr()
    doc = json.loads((out / "claims.json").read_text())
    jsonschema.validate(doc, json.loads((resources.files("dlrepro.claims") / "claims.schema.json").read_text()))
    claim = next(c for c in doc["claims"] if c["id"] == "moons-97")
    assert doc["schema_version"] == 3 and claim["verdict"] == "differs"   # the old fields: the stated verdict
    stated, fast = claim["protocols"]["stated"], claim["protocols"]["fast"]
    assert stated["verdict"] == "differs" and fast["verdict"] == "reproduced"
    assert stated["runs"] == claim["runs"] and not set(fast["runs"]) & set(stated["runs"])
    assert fast["settings"] == {"epochs": 10, "lr": 0.1} and fast["changed"] == {"lr": [0.1]}
    assert fast["measured"]["mean"] >= 0.97 > stated["measured"]["mean"]
    assert doc["protocols"]["fast"]["reproduced"] >= 1
    report = (out / "report.md").read_text()
    assert "verdict (stated)" in report
    assert "verdict (fast)" in report
    assert "Of the 1 claims that differ as stated, 1 reproduce under fast: moons-97 (lr 0.1)." in report
    assert "Protocols: stated (2 trial(s)); fast (2 trial(s): as the code ran: lr 0.1)." in report
    assert "verdict (fast)" in (out / "report.html").read_text()


def test_a_claim_the_protocol_does_not_run_is_not_run_under_it(tmp_path):
    from dlrepro.report.build import build_report
    from helpers import curve, write_study_folder

    text = TWO.replace('fixed = { lr = 0.1 }', 'fixed = { lr = 0.1 }\nonly = { seed = 5 }')
    out = tmp_path / "out"
    write_study_folder(out, text, "quick", lambda cfg: curve(2, 0.5, 0.99), name="two")
    build_report(out, echo=False)
    claim = next(c for c in json.loads((out / "claims.json").read_text())["claims"] if c["id"] == "moons-97")
    assert claim["verdict"] == "reproduced"
    assert claim["protocols"]["fast"]["verdict"] == "not run"
    assert "protocol fast does not run this claim's trials" in claim["protocols"]["fast"]["reason"]


def test_a_folder_of_the_stated_protocol_alone_writes_claims_json_as_before(tmp_path):
    from dlrepro.report.build import build_report
    from helpers import curve, write_study_folder

    out = tmp_path / "out"
    write_study_folder(out, TWO.split("[protocols.fast]")[0] + TWO.split('fixed = { lr = 0.1 }')[1], "quick",
                       lambda cfg: curve(2, 0.5, 0.99), name="two")
    build_report(out, echo=False)
    doc = json.loads((out / "claims.json").read_text())
    assert doc["schema_version"] == 2 and "protocols" not in doc
    assert all("protocols" not in c for c in doc["claims"])
    assert "verdict (" not in (out / "report.md").read_text()


def test_built_in_claims_are_judged_as_run_at_the_settings_the_reference_code_ran(tmp_path):
    """A quick folder of the toy and palindrome studies under both protocols (curves written, nothing trained):
    a claim about the classification set is judged as run from the 1,000-point blobs runs, a claim stated for
    lr 1e-2 from the lr 1e-3 runs (three seeds), and no lr 1e-2 run belongs to the as-run protocol."""
    from dlrepro.report.build import build_report
    from dlrepro.studies.record import write_study_record
    from helpers import curve, write_run

    for name in ("toy", "palindrome"):
        study = load_study(name)
        trials = study.all_trials("quick")
        write_study_record(study, "quick", tmp_path / "runs" / name, [c.default_name() for c in trials])
        for c in trials:
            cfg = c.to_dict()
            as_run = "outputs" in cfg or "split" in cfg   # a setting away from its default: an as-run trial
            step = {5: 900 if as_run else 400, 10: 3000 if as_run else 1200, 15: 5600 if as_run else 2000}
            write_run(tmp_path / "runs" / name, cfg, curve(40, 0.8) if name == "toy" else
                      curve(step.get(cfg["input_length"], 7000), 0.1, 1.0 if cfg["input_length"] < 20 else 0.3))
    (tmp_path / "reproduce.json").write_text(json.dumps({"profile": "quick"}))
    build_report(tmp_path, echo=False)
    claims = {c["id"]: c for c in json.loads((tmp_path / "claims.json").read_text())["claims"]}
    blobs = claims["toy-mlp-numpy-classification-train"]["protocols"]["as-run"]
    assert blobs["settings"]["n_samples"] == 1000 and all("-blobs-" in r for r in blobs["runs"])
    assert blobs["changed"]["dataset"] == ["blobs"] and "n_samples" not in blobs["changed"]   # 1,000 as stated
    stated_lr = claims["rnn-lr0.01-len5-steps"]
    assert stated_lr["verdict"] == "differs" and len(stated_lr["runs"]) == 1
    as_run = stated_lr["protocols"]["as-run"]
    assert as_run["verdict"] == "reproduced" and len(as_run["runs"]) == 3
    assert as_run["changed"] == {"lr": [0.001], "outputs": ["softmax"], "train_metrics": ["batch"],
                                 "biases": ["two"]}
    assert not any("lr0.01" in r for c in claims.values() for r in c.get("protocols", {}).get("as-run", {})
                   .get("runs", []))
    assert all("as-run" not in c.get("protocols", {}) for c in claims.values() if c["part"] == "2")
    summary = (tmp_path / "report.md").read_text().split("## Verdicts at a glance")[0]
    assert "reproduce under as-run (explained by the reference's code): " in summary
    assert "rnn-lr0.01-len5-steps (lr 0.001, outputs softmax, train_metrics batch, biases two)" in summary


def test_a_record_without_protocols_is_judged_under_the_stated_protocol_alone(tmp_path):
    """A study.json written before protocols existed: its study.toml may name protocols, the folder may even
    hold such runs, yet the report gives the stated verdicts only, as before (claims.json version 2)."""
    from dlrepro.report.build import build_report
    from helpers import curve, write_study_folder

    out = tmp_path / "out"
    write_study_folder(out, TWO, "quick", lambda cfg: curve(2, 0.5, 0.99 if cfg["lr"] == 0.1 else 0.8), name="two")
    record = out / "runs" / "two" / "study.json"
    old = {k: v for k, v in json.loads(record.read_text()).items() if k not in ("protocols", "version")}
    record.write_text(json.dumps(old))
    build_report(out, echo=False)
    doc = json.loads((out / "claims.json").read_text())
    assert doc["schema_version"] == 2 and all("protocols" not in c for c in doc["claims"])
    assert next(c for c in doc["claims"] if c["id"] == "moons-97")["verdict"] == "differs"
    assert "Protocols:" not in (out / "report.md").read_text()


def test_a_claim_is_judged_at_a_protocol_value_only_where_all_its_runs_share_it():
    """lr moves to 0.1 on every run of the claim: the claim is judged at lr 0.1; epochs moves on one run only
    (10 and 12 under the protocol): it stays as the claim states it, and both are named as changed."""
    from dlrepro.claims.protocols import under
    from dlrepro.claims.spec import ClaimSpec

    spec = ClaimSpec("c", "text", "at_least", {"model": "mlp-numpy", "lr": 0.01}, {"epochs": 10, "lr": 0.01})
    points = [{"stated": {"model": "mlp-numpy", "lr": 0.01, "epochs": 10, "seed": s},
               "fast": {"model": "mlp-numpy", "lr": 0.1, "epochs": 10 + 2 * s, "seed": s}} for s in (0, 1)]
    points.append({"stated": {"model": "mlp-torch", "lr": 0.01, "epochs": 10, "seed": 0}})   # not the claim's
    judged_at, changed, runs = under(spec, points, "fast")
    assert judged_at.match == {"model": "mlp-numpy", "lr": 0.1} and judged_at.settings == {"epochs": 10, "lr": 0.1}
    assert changed == {"lr": [0.1], "epochs": [12]} and runs
    only_torch = ClaimSpec("t", "text", "at_least", {"model": "mlp-torch"})
    assert under(only_torch, points, "fast")[2] is False          # the protocol runs none of its trials
    none = ClaimSpec("n", "text", "at_least", {"model": "rnn"})
    assert under(none, points, "fast") == (none, {}, True)         # no trial at all: judged (and 'not run') as stated


def test_a_protocols_single_setting_protocols_each_switch_one_of_its_settings_alone(tmp_path):
    study = _study(tmp_path, BASE + FAST)
    fast = study.protocols["fast"]
    singles = {p.name: p for p in fast.singles()}
    assert list(singles) == ["fast:lr", "fast:epochs"]
    assert singles["fast:lr"].fixed == {"lr": 0.1} and singles["fast:lr"].when == ()
    assert singles["fast:epochs"].fixed == {} and singles["fast:epochs"].when == (({"seed": 1}, {"epochs": 12}),)
    assert all(p.only == fast.only for p in singles.values())
    explaining = study.explaining()
    assert explaining.profile_protocols("quick") == ("stated", "fast", "fast:lr", "fast:epochs")
    assert explaining.explaining().profile_protocols("quick") == explaining.profile_protocols("quick")
    # fast:epochs runs the lr 0.01 trial of seed 1 for 12 epochs, at the stated lr
    assert [(c.seed, c.lr, c.epochs) for c in explaining.trials("quick", "fast:epochs")] == [(0, 0.01, 10),
                                                                                           (1, 0.01, 12)]
    assert study.profile_protocols("quick") == ("stated", "fast")   # the study itself is unchanged


def test_a_single_setting_that_changes_no_trial_is_not_run(tmp_path):
    study = _study(tmp_path, BASE + FAST.replace("fixed = { lr = 0.1 }", "fixed = { lr = 0.1, n_samples = 200 }"))
    assert "fast:n_samples" in study.explaining().protocols
    assert "fast:n_samples" not in study.explaining().profile_protocols("quick")


def test_explain_names_the_setting_that_alone_changes_a_claims_verdict(tmp_path, capsys):
    """Under `fast` (lr 0.1 and the sample order fixed once), moons reaches 97 % in 10 epochs; lr 0.1 alone
    does too, the order alone does not: the report names lr as the setting that explains the claim."""
    import jsonschema

    from dlrepro.cli import main

    path, out = tmp_path / "two.toml", tmp_path / "out"
    path.write_text(TWO.replace('fixed = { lr = 0.1 }', 'fixed = { lr = 0.1, order = "once" }'))
    assert main(["sweep", str(path), "--out", str(out), "--quiet", "--explain"]) == 0
    assert main(["report", str(out)]) == 0
    capsys.readouterr()
    doc = json.loads((out / "claims.json").read_text())
    jsonschema.validate(doc, json.loads((resources.files("dlrepro.claims") / "claims.schema.json").read_text()))
    claim = next(c for c in doc["claims"] if c["id"] == "moons-97")
    verdicts = {n: p["verdict"] for n, p in claim["protocols"].items()}
    assert verdicts == {"stated": "differs", "fast": "reproduced", "fast:lr": "reproduced", "fast:order": "differs"}
    assert json.loads((out / "runs" / "two" / "study.json").read_text())["protocols"].keys() == verdicts.keys()
    report = (out / "report.md").read_text()
    assert "alone (fast)" in report and "fast:lr" not in report.split("## ")[1].split("\n| ")[0]
    assert "moons-97 (lr 0.1, order once; alone: lr)" in report
    assert ("Each setting of fast switched alone (protocols fast:SETTING, --explain): of the 1 claims whose "
            "verdict changes from stated to fast, 1 get the fast verdict from one setting alone: moons-97 (lr)."
            ) in report
    # the same folder swept again without --explain reports the two declared protocols only
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 0
    assert main(["report", str(out)]) == 0
    claim = next(c for c in json.loads((out / "claims.json").read_text())["claims"] if c["id"] == "moons-97")
    assert list(claim["protocols"]) == ["stated", "fast"]
    assert "alone (fast)" not in (out / "report.md").read_text()


def test_claims_json_counts_every_claim_under_the_stated_protocol_a_study_of_it_alone_included(tmp_path):
    from dlrepro.report.build import build_report
    from helpers import curve, write_study_folder

    out = tmp_path / "out"
    write_study_folder(out, TWO, "quick", lambda cfg: curve(2, 0.5, 0.99), name="two")
    alone = TWO.split("[protocols.fast]")[0] + TWO.split('fixed = { lr = 0.1 }')[1]
    write_study_folder(out, alone.replace('name = "two"', 'name = "one"').replace("moons-97", "one-97"), "quick",
                       lambda cfg: curve(2, 0.5, 0.5), name="one")
    build_report(out, echo=False)
    doc = json.loads((out / "claims.json").read_text())
    assert doc["counts"]["reproduced"] == 1 and doc["counts"]["differs"] == 1
    assert doc["protocols"]["stated"] == doc["counts"]                # both claims, as the top-level counts
    assert sum(doc["protocols"]["fast"].values()) == 1                # only study two ran fast


def test_explaining_a_study_whose_set_overrides_fit_one_of_its_profiles_only(tmp_path):
    """--set outputs=sigmoid fits the PyTorch profile it ran under, not the NumPy MLP's other profiles: the
    single-setting protocols of the profile that ran are still derived (the report calls this on such a record)."""
    study = _study(tmp_path, BASE + FAST + '[profiles.torch]\nfixed = { model = "mlp-torch" }\n')
    study = study.with_sets({"outputs": "sigmoid"}, "torch")
    assert study.explaining().profile_protocols("torch") == ("stated", "fast", "fast:lr", "fast:epochs")
