"""Every `dlrepro ...` command in the README and docs/*.md runs, so the docs cannot drift from the CLI.

The commands are extracted from the fenced code blocks (a line's `# comment` dropped, `a && b` split) and
run in-process in a temporary folder, each made cheap the same way (SMOKE below, the one place that says
how): `train` gets a few steps or one epoch; `sweep` and `reproduce` get `--dry-run` (they parse every flag,
check the study and print the plan; the real smoke sweeps run in test_studies.py and test_progress.py);
a CIFAR-10 location is a tiny synthetic image folder from tests/helpers.py, with `--no-verify` since it
does not have the real counts; `--out` paths are moved into the temporary folder. A command must exit 0.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# per command (the words before the first flag): flags set to smoke values (replaced or added)
SMOKE: dict[str, dict[str, str]] = {
    "train mlp-numpy": {"--epochs": "1", "--eval-every": "1"},
    "train mlp-torch": {"--epochs": "1", "--eval-every": "1"},
    "train rnn": {"--steps": "20", "--eval-every": "10"},
    "train cnn": {"--epochs": "1", "--eval-every": "1", "--subset": "40", "--test-subset": "20"},
}
DRY_RUN = ("sweep", "reproduce")
CIFAR_FLAGS = ("--data-root", "--root")


def documented_commands() -> list[tuple[str, list[str]]]:
    """(where, argv after `dlrepro`) for every command in the docs' fenced blocks."""
    found = []
    for doc in DOCS:
        fenced = False
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
                continue
            if not fenced or "dlrepro" not in line:
                continue
            words = shlex.split(line, comments=True)
            segments: list[list[str]] = [[]]
            for w in words:
                segments.append([]) if w == "&&" else segments[-1].append(w)
            found += [(f"{doc.name}:{n}", seg[1:]) for seg in segments if seg[:1] == ["dlrepro"]]
    return found


def smoke(argv: list[str], tmp: Path, cifar: Path) -> list[str]:
    """The cheap form of a documented command (see the module docstring)."""
    argv = list(argv)
    name = " ".join(argv[:2]) if argv[0] in ("train", "data") else (argv[0] if argv else "")
    for flag, value in SMOKE.get(name, {}).items():
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    for flag in CIFAR_FLAGS:
        if flag in argv:
            argv[argv.index(flag) + 1] = str(cifar)
    reads_cifar = name in ("train cnn", "data cifar10") or "cifar10" in argv
    if reads_cifar and "--no-verify" not in argv:
        argv.append("--no-verify")
    if "--out" in argv:
        i = argv.index("--out") + 1
        argv[i] = str(tmp / argv[i].lstrip("/"))
    if argv[0] in DRY_RUN and "--dry-run" not in argv:
        argv.append("--dry-run")
    if argv[0] == "report":
        (tmp / argv[1]).mkdir(parents=True, exist_ok=True)
    return argv


COMMANDS = documented_commands()


def test_the_docs_show_the_commands_a_user_needs():
    names = {" ".join(argv[:2]) for _, argv in COMMANDS}
    assert len(COMMANDS) >= 15
    for needed in ("train rnn", "train cnn", "train mlp-numpy", "studies", "report results"):
        assert any(n.startswith(needed) for n in names), needed
    assert any(argv[0] == "reproduce" and "--dry-run" in argv for _, argv in COMMANDS)
    for where, argv in COMMANDS:
        assert not any(re.match(r"[\[{]|.*\|", w) for w in argv), f"{where}: a synopsis, not a command: {argv}"


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory) -> Path:
    from helpers import make_folder

    root = tmp_path_factory.mktemp("cifar") / "cifar10"
    make_folder(root, per_class={"train": 4, "test": 2})
    return root


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[f"{w} {' '.join(a)}"[:80] for w, a in COMMANDS])
def test_a_documented_command_runs(where, argv, tmp_path, monkeypatch, cifar_folder, capsys, one_torch_thread):
    from dlrepro.cli import main
    from dlrepro.sweep import estimate

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DLREPRO_CIFAR10", str(cifar_folder))
    monkeypatch.setenv("DLREPRO_CALIBRATION", "off")
    monkeypatch.setattr(estimate, "calibrate", lambda: estimate.Scale())
    if "ray" in argv:
        pytest.importorskip("ray")
    run = smoke(argv, tmp_path, cifar_folder)
    try:
        code = main(run)
    except SystemExit as exc:  # --help
        code = exc.code
    out = capsys.readouterr()
    assert code == 0, f"{where}: dlrepro {' '.join(run)}\n{out.out[-2000:]}\n{out.err[-2000:]}"
