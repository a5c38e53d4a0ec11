"""dlrepro as an installed tool: the studies are package data (one copy), the wheel and the sdist ship them,
`dlrepro studies` lists them without importing torch, and the package's small contracts hold."""

import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from dlrepro.cli import main
from dlrepro.errors import ConfigError
from dlrepro.studies.spec import builtin_names, builtin_source, load_study

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = ["cifar_mlp", "optimizers", "palindrome", "toy"]


def test_importlib_resources_finds_every_study_and_each_loads():
    found = sorted(f.name for f in resources.files("dlrepro.studies").iterdir() if f.name.endswith(".toml"))
    assert found == [f"{n}.toml" for n in BUILTIN]
    assert builtin_names() == BUILTIN
    for name in BUILTIN:
        study = load_study(name)
        assert study.builtin and study.name == name and study.source == builtin_source(name)


def test_one_copy_of_each_study():
    """The built-in studies are package data only: no second copy (nor a folder pointing there) beside it
    (tests/data keeps an earlier version's, the baseline an earlier results folder is judged against)."""
    assert not (ROOT / "configs").exists()
    beside = [*ROOT.glob("*.toml"), *(p for d in ("benchmarks", "docs", "examples")
                                        for p in (ROOT / d).rglob("*.toml"))]
    assert not [p for p in beside if p.stem in BUILTIN]
    assert "src/dlrepro/studies" in (ROOT / "docs" / "studies.md").read_text()


def test_pyproject_declares_package_data_license_and_classifiers():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "*.toml" in meta["tool"]["setuptools"]["package-data"]["dlrepro.studies"]
    assert not any(c.startswith("License ::") for c in meta["project"]["classifiers"])  # SPDX string instead
    assert any("setuptools>=77" in r for r in meta["build-system"]["requires"])


def _setuptools_77() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.mark.skipif(not _setuptools_77(), reason="building needs setuptools>=77 in this environment (no network)")
def test_wheel_and_sdist_ship_the_studies_and_the_license(tmp_path):
    """Built offline from a copy of the project files (the checkout stays clean)."""
    src = tmp_path / "src"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(src)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                    "b.build_sdist(sys.argv[1])", str(dist)], check=True, capture_output=True, cwd=src)
    wheel = zipfile.ZipFile(next(dist.glob("*.whl"))).namelist()
    sdist = tarfile.open(next(dist.glob("*.tar.gz"))).getnames()
    for names in (wheel, sdist):
        assert {f"{n}.toml" for n in BUILTIN} <= {Path(n).name for n in names if "dlrepro/studies/" in n}
        assert any(Path(n).name == "LICENSE" for n in names)
        assert any(n.endswith("dlrepro/claims/claims.schema.json") for n in names)  # the claims.json schema
    meta = zipfile.ZipFile(next(dist.glob("*.whl"))).read("dlrepro-0.1.0.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta


def test_studies_lists_every_study_with_trials_per_profile_without_torch():
    code = ("import sys\nfrom dlrepro.cli import main\nassert main(['studies']) == 0\n"
            "heavy = [m for m in ('torch', 'sklearn', 'scipy') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = {line.split("|")[1].strip(): line for line in out.stdout.splitlines() if line.startswith("| ")}
    for name in BUILTIN:
        study = load_study(name)
        assert study.title in lines[name]
        for profile in ("smoke", "quick", "full"):
            assert f"{profile} {len(study.all_trials(profile))}" in lines[name]
    assert "full 60" in lines["palindrome"] and "smoke 6" in lines["toy"]


def test_studies_show_prints_a_copy_that_sweeps_like_the_original(tmp_path, capsys):
    assert main(["studies", "--show", "palindrome"]) == 0
    copy = tmp_path / "my.toml"
    copy.write_text(capsys.readouterr().out)
    mine, built_in = load_study(copy), load_study("palindrome")
    assert not mine.builtin and mine.name == "palindrome"
    assert [c.default_name() for c in mine.trials("full")] == [c.default_name() for c in built_in.trials("full")]
    copy.write_text(copy.read_text().replace('title = "', 'title = "Edited: ', 1))  # named like the built-in
    with pytest.raises(ConfigError, match="'palindrome' is a built-in study's name; give the study its own name"):
        load_study(copy)


def test_studies_show_unknown_name_exits_2(capsys):
    from helpers import assert_usage_error

    assert_usage_error(["studies", "--show", "nope"], "cifar_mlp, optimizers, palindrome, toy", capsys)


def test_convnet_is_exported_by_models():
    from dlrepro.models import ConvNet
    from dlrepro.models.convnet import ConvNet as Direct

    assert ConvNet is Direct
