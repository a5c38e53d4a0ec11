"""reproduce -> runs -> report: the report and claims are rebuilt from runs alone, and say what was not run."""

import json
from importlib import resources
from pathlib import Path

import pytest

from dlrepro.cli import main


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
    pngs = list((out / "figures").glob("*.png"))
    assert html.count("data:image/png;base64,") == len(pngs) > 0
    assert all(p.with_suffix(".svg").exists() for p in pngs)
    claims = json.loads((out / "claims.json").read_text())["claims"]
    cnn = [c for c in claims if c["part"] == "2"]
    assert cnn and all(c["verdict"] == "not run" and "CIFAR-10 unavailable" in c["reason"] for c in cnn)
    assert json.loads((out / "reproduce.json").read_text())["profile"] == "smoke"


def test_smoke_report_judges_nothing_and_gives_every_reason(smoke_results):
    doc = json.loads((smoke_results / "claims.json").read_text())
    verdicts = [c["verdict"] for c in doc["claims"]]
    assert set(verdicts) <= {"not comparable", "not run"} and "not comparable" in verdicts
    assert all(c["reason"] for c in doc["claims"])
    toy = {c["id"]: c for c in doc["claims"] if c["part"] == "1" and c["id"].startswith("toy")}
    assert "ran 2 of 200 epochs" in toy["toy-mlp-numpy-moons-test"]["reason"]
    assert doc["profile"] == "smoke" and doc["counts"]["reproduced"] == doc["counts"]["differs"] == 0


def test_claims_json_validates_against_the_shipped_schema(smoke_results, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((resources.files("dlrepro.claims") / "claims.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads((smoke_results / "claims.json").read_text())
    jsonschema.validate(doc, schema)
    # a judged claim must carry numbers and its runs; anything else a reason
    bad = json.loads(json.dumps(doc))
    bad["claims"][0].update(verdict="reproduced", measured={}, runs=[])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(doc))
    bad["claims"][0].update(reason="")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_report_opens_with_a_summary_and_has_no_absolute_path(smoke_results):
    out = smoke_results
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    for text in (md, html):
        assert str(out) not in text and str(out.resolve()) not in text
        assert "/tmp" not in text and str(Path.home()) not in text
    summary = md.split("## Summary", 1)[1].split("## ", 1)[0]
    assert "49 claims: 0 reproduced, 0 differs" in summary and "Profile: smoke" in summary
    assert "Hardware:" in summary and "cores" in summary and "CIFAR-10 not used" in summary
    for part in ("Part 1", "Part 2", "Part 3"):
        assert part in summary
    assert md.index("## Summary") < md.index("## Part 1")
    # verdicts at a glance: a symbol and a colour class per verdict, with their legend
    assert "class='legend'" in html and "v-not-comparable" in html and "\u2248 not comparable" in html
    assert "class_sep=2.0" in md and "U(-1/sqrt(fan_in)" in md and "1,000 distinct palindromes" in md
    assert "Reproducibility:" in md
    # the study descriptions state the reference settings; the smoke profile's departures are stated beside them
    assert "profile smoke ran other settings" in md and "epochs 2 (reference 200)" in md
    assert "hidden 32 (reference 128)" in md


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


def _runs(tmp_path, seeds, model_epochs=200):
    from dlrepro.runs.load import load_runs
    from helpers import TOY, curve, write_run

    cfgs = [write_run(tmp_path, {**TOY, "model": m, "seed": s}, curve(20 + 10 * s)) for m in ("mlp-numpy", "mlp-torch")
            for s in seeds]
    return load_runs([tmp_path / c.default_name() for c in cfgs])


def test_report_rebuilds_from_a_copied_results_folder_alone(smoke_results, tmp_path, monkeypatch):
    """study.json in the folder, not the package's study files, gives the sections of the studies that ran."""
    import shutil

    import dlrepro.report.build as build
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
    monkeypatch.setattr(build, "load_study", only_not_run)
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
    verdicts = [c["verdict"] for c in json.loads((out / "claims.json").read_text())["claims"]]
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


def _legend_outside(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for other in fig.axes:
            legend = other.get_legend()
            if legend is not None:
                assert not legend.get_window_extent(renderer).overlaps(box), "a legend covers an axes"


@pytest.mark.parametrize("seeds", [[0], [0, 1, 2]])
def test_toy_curves_band_only_with_several_seeds(tmp_path, seeds):
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import MaxNLocator

    from dlrepro.report.toy import curves_figure

    saved = curves_figure("moons", _runs(tmp_path, seeds), tmp_path / "fig" / "toy.png")
    assert saved.path.exists() and saved.svg.exists()
    assert saved.caption.endswith(".") and saved.caption[0].isupper()
    ax_acc, ax_loss = saved.figure.axes
    bands = [c for c in ax_acc.collections if isinstance(c, PolyCollection)]
    labels = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    if len(seeds) == 1:
        assert not bands and "(1 seed)" in saved.figure.get_suptitle()
        assert not any("min-max" in label for label in labels)
    else:
        assert len(bands) == 2 and "3 seeds, mean and min-max band" in saved.figure.get_suptitle()
        assert sum("min-max over 3 seeds" in label for label in labels) == 2
    assert isinstance(ax_acc.xaxis.get_major_locator(), MaxNLocator)
    assert all(float(t).is_integer() for t in ax_acc.get_xticks())
    _legend_outside(saved.figure)


def test_palindrome_figure_rules(tmp_path):
    from dlrepro.report.palindrome import curves_figure, group
    from dlrepro.runs.load import load_runs
    from helpers import RNN, curve, write_run

    cfgs = [write_run(tmp_path, {**RNN, "steps": 200, "seed": s}, curve(100, 0.1)) for s in (0, 1)]
    cfgs.append(write_run(tmp_path, {**RNN, "steps": 200, "input_length": 10}, curve(150, 0.1)))
    by_length = group(load_runs([tmp_path / c.default_name() for c in cfgs]))[("rnn", 1e-3)]
    saved = curves_figure("rnn", 1e-3, by_length, tmp_path / "p.png")
    (ax,) = saved.figure.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "L = 5 (2 seeds)" in labels and "L = 5: min-max over 2 seeds" in labels
    assert "L = 10 (1 seed)" in labels and not any(label.startswith("L = 10: min-max") for label in labels)
    _legend_outside(saved.figure)


def test_early_trend_is_computed_from_the_runs(tmp_path):
    from dlrepro.report.cifar import early_trend
    from dlrepro.runs.load import load_runs
    from helpers import CNN, write_run

    finals = {("adam", 1e-4): 0.40, ("adagrad", 1e-4): 0.39, ("sgd", 1e-4): 0.25, ("adam", 1e-2): 0.11}
    cfgs = [write_run(tmp_path, {**CNN, "optimizer": o, "lr": lr, "epochs": 3, "eval_every": 1, "subset": 2000},
                      lambda e, f=f: 0.1 + (f - 0.1) * e / 3) for (o, lr), f in finals.items()]
    text = early_trend(load_runs([tmp_path / c.default_name() for c in cfgs]))
    assert text.startswith("Early trend after 3 epoch(s) on 2,000 training images (not a verdict)")
    assert "Adam 1e-4 and Adagrad 1e-4 lead" in text and "Adam 1e-2 stays near chance (0.110)" in text
    assert "SGD 1e-4 (0.250)" in text


def test_early_trend_says_when_everything_is_near_chance(tmp_path):
    from dlrepro.report.cifar import early_trend
    from dlrepro.runs.load import load_runs
    from helpers import CNN, write_run

    cfgs = [write_run(tmp_path, {**CNN, "optimizer": o, "epochs": 1, "eval_every": 1, "subset": 64}, 0.1 + d)
            for o, d in (("adam", 0.0), ("sgd", -0.02))]
    text = early_trend(load_runs([tmp_path / c.default_name() for c in cfgs]))
    assert "every setting is still near chance (Adam 1e-4 0.100, SGD 1e-4 0.080)" in text and "lead" not in text
