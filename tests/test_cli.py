import pytest

from dlrepro.cli import build_parser, main
from helpers import assert_usage_error

MLP_FLAGS = ["--dataset", "--hidden", "--lr", "--batch-size", "--epochs", "--eval-every", "--n-samples",
             "--seed", "--dtype", "--out", "--resume"]


@pytest.mark.parametrize("model", ["mlp-numpy", "mlp-torch"])
def test_help_explains_every_flag(model, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", model, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in MLP_FLAGS:
        assert flag in text


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "train" in out and "reproduce" in out


@pytest.mark.parametrize("argv, needle", [
    (["--dataset", "spirals"], "invalid choice: 'spirals'"),
    (["--dataset", "moons", "--lr", "0"], "--lr must be > 0"),
    (["--dataset", "moons", "--lr", "-0.1"], "--lr must be > 0"),
    (["--dataset", "moons", "--epochs", "0"], "--epochs must be > 0"),
    (["--dataset", "moons", "--batch-size", "0"], "--batch-size must be > 0"),
    (["--dataset", "moons", "--hidden", "20,abc"], "--hidden must be a comma list"),
    (["--dataset", "moons", "--hidden", ""], "--hidden must be a comma list"),
    (["--dataset", "moons", "--lr", "fast"], "invalid float value: 'fast'"),
    (["--dataset", "moons", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["--dataset", "moons", "--eval-every", "0"], "--eval-every must be >= 1"),
])
def test_bad_values_exit_2_with_one_line(argv, needle, capsys):
    assert_usage_error(["train", "mlp-numpy", *argv], needle, capsys)


def test_out_holding_a_different_run_exits_2(tmp_path, capsys):
    base = ["train", "mlp-numpy", "--dataset", "moons", "--epochs", "1", "--n-samples", "50", "--quiet",
            "--out", str(tmp_path / "r")]
    assert main(base) == 0
    assert "completed" in capsys.readouterr().out
    assert main([*base, "--lr", "0.2"]) == 2
    err = capsys.readouterr().err
    assert "holds a different run" in err and err.count("\n") == 1


def test_parser_builds():
    assert build_parser().prog == "dlrepro"


def test_mlp_numpy_help_mentions_no_cifar10_defaults(capsys):
    texts = {}
    for model in ("mlp-numpy", "mlp-torch"):
        with pytest.raises(SystemExit):
            main(["train", model, "--help"])
        texts[model] = " ".join(capsys.readouterr().out.split())
    assert "cifar10" not in texts["mlp-numpy"].lower()
    assert "(default 1; 32 for cifar10)" in texts["mlp-torch"] and "float32 for cifar10" in texts["mlp-torch"]
    assert "(default 1)" in texts["mlp-numpy"] and "(default float64)" in texts["mlp-numpy"]


@pytest.mark.parametrize("command", ["sweep", "reproduce"])
def test_sweep_and_reproduce_explain_set_dry_run_and_quiet(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    for flag in ("--set KEY=VALUE", "--explain", "--dry-run", "--quiet"):
        assert flag in text


def test_top_level_help_lists_studies(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "studies" in capsys.readouterr().out
