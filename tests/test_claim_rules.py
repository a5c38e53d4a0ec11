"""Every rule kind both ways, on synthetic runs written with the run-format helpers: for each kind in
`RULES`, a claim that must be reproduced on one set of runs and must differ on another (a kind added without
a case here fails `test_every_rule_kind_has_a_case_both_ways`). Plus the claim checks of a study file."""

import tomllib

import pytest

from dlrepro.claims.evidence import evidence
from dlrepro.claims.judge import check_params, describe, judge_claims
from dlrepro.claims.rules import RULES
from dlrepro.claims.spec import parse_claims
from helpers import RNN, curve, write_run

SHORT = {**RNN, "steps": 200, "eval_every": 10}


def rnn(**over):
    return {**SHORT, **over}


def lengths(at: dict, lr=1e-3):
    """One run per input length, reaching 1.0 at the given step (never when None)."""
    return [(rnn(input_length=n, lr=lr), curve(s, 0.1) if s is not None else 0.5) for n, s in at.items()]


# rule -> (the claim's TOML lines after `rule`, runs where it holds, runs where it does not); a run is
# (config, test accuracy as a value or a function of the step[, train accuracy])
CASES = {
    "at_least": ('metric = "test_acc"\nstatistic = "final"\nvalue = 0.9',
                 [(rnn(), 0.95)], [(rnn(), 0.95), (rnn(seed=1), 0.8)]),      # the mean over seeds, 0.875
    "at_most": ('metric = "test_acc"\nstatistic = "reaching"\nthreshold = 0.99\nvalue = 100',
                [(rnn(), curve(100))], [(rnn(), curve(150))]),
    "within": ('metric = "train_acc"\nminus = "test_acc"\nvalue = 0.0\ntolerance = 0.03',
               [(rnn(), 0.5, 0.52)], [(rnn(), 0.5, 0.6)]),
    "around": ('metric = "test_acc"\nstatistic = "reaching"\nthreshold = 0.99\nvalue = 100\nwindow = 0.5',
               [(rnn(), curve(60)), (rnn(seed=1), curve(140))], [(rnn(), curve(40))]),
    "range": ('metric = "test_acc"\nlow = 0.2\nhigh = 0.3\ntolerance = 0.01',
              [(rnn(), lambda x: 0.1 if x == 0 else 0.25)], [(rnn(), lambda x: 0.1 if x == 0 else 0.32)]),
    "gain": ('metric = "test_acc"\nsince = 0.5\nat_least = 0.1\nbest_below = 0.9',
             [(rnn(), lambda x: x / 400)], [(rnn(), lambda x: min(x, 100) / 400)]),
    "dips": ('metric = "test_acc"\nthreshold = 0.99\nat_least = 1\nfraction_at_most = 0.2',
             [(rnn(), lambda x: 0.5 if x == 150 else curve(50)(x))], [(rnn(), curve(50))]),
    "increases": ('metric = "test_acc"\nstatistic = "reaching"\nthreshold = 0.99\naxis = "input_length"\n'
                  'values = [5, 10]', lengths({5: 50, 10: None}), lengths({5: 100, 10: 50})),
    "below": ('groups = { a = { lr = 1e-3 }, b = { lr = 1e-2 } }\nmetrics = ["test_acc"]',
              [(rnn(), 0.5), (rnn(lr=1e-2), 0.6)], [(rnn(), 0.6), (rnn(lr=1e-2), 0.6)]),
    "earlier": ('groups = { a = { lr = 1e-3 }, b = { lr = 1e-2 } }\nmetric = "test_acc"\nstatistic = "reaching"\n'
                'threshold = 0.99', [(rnn(), curve(50)), (rnn(lr=1e-2), curve(80))],
                [(rnn(), curve(80)), (rnn(lr=1e-2), curve(80))]),
    "best": ('groups = { a = { lr = 1e-3 }, b = { lr = 1e-2 } }\nbest = "a"\nmetric = "test_acc"',
             [(rnn(), 0.7), (rnn(lr=1e-2), 0.6)], [(rnn(), 0.5), (rnn(lr=1e-2), 0.6)]),
}


def claim_spec(rule: str, params: str, reason: str = ""):
    text = (f'[[claims]]\nid = "c"\ntext = "a claim"\nmatch = {{ model = "rnn" }}\nsettings = {{ steps = 200 }}\n'
            f'rule = "{rule}"\n{params}\n' + (f'reason = "{reason}"\n' if reason else ""))
    return parse_claims(tomllib.loads(text)["claims"], "study.toml", "mine")[0]


def verdict(tmp_path, spec, runs):
    cfgs = [write_run(tmp_path, cfg, *rest) for cfg, *rest in runs]
    trials = {c.default_name(): c.to_dict() for c in cfgs}
    return judge_claims((spec,), evidence(tmp_path, "quick", trials))[0]


def test_every_rule_kind_has_a_case_both_ways():
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_kind_reproduces_and_differs(tmp_path, rule):
    params, holds, fails = CASES[rule]
    spec = claim_spec(rule, params)
    assert check_params(spec) is None
    text, reference = describe(spec)
    assert text and text != rule and reference
    ok = verdict(tmp_path / "ok", spec, holds)
    assert ok.verdict == "reproduced", (rule, ok.reason)
    assert ok.measured["n"] >= 1 and ok.runs
    bad = verdict(tmp_path / "bad", spec, fails)
    assert bad.verdict == "differs", (rule, bad.reason)
    assert bad.reason and bad.runs


def test_a_verdict_on_one_seed_says_so_and_several_seeds_do_not(tmp_path):
    spec = claim_spec("at_least", CASES["at_least"][0])
    one = verdict(tmp_path / "one", spec, [(rnn(seed=3), 0.95)])
    assert one.verdict == "reproduced" and one.reason == "judged from one seed only (seed 3)"
    two = verdict(tmp_path / "two", spec, [(rnn(), 0.95), (rnn(seed=1), 0.8)])
    assert two.verdict == "differs" and "seed" not in two.reason


def test_a_claims_own_wording_of_differs(tmp_path):
    spec = claim_spec("around", CASES["around"][0], reason="off the mark: outside {lo}-{hi}")
    c = verdict(tmp_path, spec, [(rnn(), curve(40)), (rnn(seed=1), curve(40))])
    assert c.verdict == "differs" and c.reason == "off the mark: outside 50-150"


def test_never_reaching_counts_as_infinite(tmp_path):
    spec = claim_spec("at_most", CASES["at_most"][0])
    c = verdict(tmp_path, spec, [(rnn(), 0.5), (rnn(seed=1), curve(50))])
    assert c.verdict == "differs" and c.measured["never"] == 1 and c.measured["values"] == [50.0]
    assert "mean never is above the accepted maximum 100" in c.reason


@pytest.mark.parametrize("params, needle", [
    ('metric = "test_acc"\nvalue = 0.9\nfudge = 1', "rule at_least has no parameter 'fudge'"),
    ('metric = "test_acc"', "rule at_least needs 'value'"),
    ('metric = "val_acc"\nvalue = 0.9', "metric 'val_acc' is not one of train_loss, train_acc"),
    ('metric = "test_acc"\nvalue = "high"', "value must be a number"),
    ('metric = "test_acc"\nvalue = 0.9\nstatistic = "median"', "statistic 'median' is not one of"),
    ('metric = "test_acc"\nvalue = 0.9\nstatistic = "reaching"', "statistic reaching needs a threshold"),
])
def test_a_claim_with_a_bad_parameter_is_named(params, needle):
    problem = check_params(claim_spec("at_least", params))
    assert problem and needle in problem


def test_an_unknown_rule_is_named_with_the_choices():
    problem = check_params(claim_spec("roughly", 'metric = "test_acc"'))
    assert problem and "unknown rule 'roughly'; choose from at_least, at_most, within" in problem


def test_the_rule_may_be_one_inline_table():
    inline = tomllib.loads('[[claims]]\nid = "c"\ntext = "t"\nmatch = { model = "rnn" }\n'
                           'rule = { kind = "at_least", metric = "test_acc", value = 0.9 }\n')["claims"]
    (spec,) = parse_claims(inline, "study.toml", "mine")
    assert spec.rule == "at_least" and spec.params == {"metric": "test_acc", "value": 0.9} and spec.part == "mine"


@pytest.mark.parametrize("table, needle", [
    ('id = "Bad Id"\ntext = "t"\nmatch = { cell = "rnn" }\nrule = "at_least"', "id must be lower-case"),
    ('id = "c"\nmatch = { cell = "rnn" }\nrule = "at_least"', "claim 'c': text must be a non-empty string"),
    ('id = "c"\ntext = "t"\nrule = "at_least"', "claim 'c': match must be a table naming the trials"),
    ('id = "c"\ntext = "t"\nmatch = { cell = "rnn" }', "claim 'c': rule must be a non-empty string"),
])
def test_a_malformed_claims_table_is_refused_when_the_study_is_read(tmp_path, table, needle):
    from dlrepro.errors import ConfigError
    from dlrepro.studies.spec import parse_study

    text = f'[fixed]\nmodel = "rnn"\nsteps = 10\n[[claims]]\n{table}\n'
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        parse_study(text, tmp_path / "s.toml")


def test_a_claim_that_cannot_be_judged_in_a_results_folder_is_not_run_with_the_reason(tmp_path):
    """A study.toml edited by hand after its sweep: the report still builds, and says why."""
    import json

    from dlrepro.report.build import build_report
    from helpers import write_study_folder

    text = ('[study]\nname = "edited"\n[fixed]\nmodel = "rnn"\nsteps = 20\neval_every = 10\nhidden = 8\n'
            '[[claims]]\nid = "odd"\ntext = "t"\nmatch = { cell = "rnn" }\nrule = "at_least"\nmetric = "test_acc"\n'
            'values = 3\nvalue = 0.5\n')
    write_study_folder(tmp_path, text, "quick", lambda cfg: 0.6, name="edited")
    build_report(tmp_path, echo=False)
    (odd,) = [c for c in json.loads((tmp_path / "claims.json").read_text())["claims"] if c["id"] == "odd"]
    assert odd["verdict"] == "not run"
    assert odd["reason"] == ("the claim cannot be judged: rule at_least has no parameter 'values'; it takes metric, "
                             "value, statistic, threshold, tolerance, minus")


def test_a_list_parameter_that_is_not_a_list_is_named():
    problem = check_params(claim_spec("increases", 'metric = "test_acc"\nstatistic = "reaching"\nthreshold = 0.9\n'
                                                   'axis = "input_length"\nvalues = 5'))
    assert problem == "values must be a non-empty list, not 5"
