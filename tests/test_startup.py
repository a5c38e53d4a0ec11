"""Start-up that does not get in the way: which heavy modules each command imports (checked in a fresh
process through `sys.modules`), and a CIFAR-10 source that was given but cannot be used stops `reproduce`
before anything runs."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import assert_usage_error
from helpers import make_folder, make_official, make_tar

HEAVY = ("torch", "sklearn", "scipy", "matplotlib")


def imported_by(*argvs: list[str], env: dict | None = None) -> set[str]:
    """The HEAVY modules a fresh interpreter has imported after running `dlrepro.cli.main` on each argv."""
    code = textwrap.dedent(f"""
        import json, sys
        from dlrepro.cli import main
        for argv in {[list(a) for a in argvs]!r}:
            try:
                code = main(argv)
            except SystemExit as exc:  # --help
                code = exc.code
            assert code == 0, (argv, code)
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["train", "cnn", "--help"],
                                  ["train", "mlp-torch", "--help"], ["reproduce", "--help"], ["sweep", "--help"],
                                  ["report", "--help"], ["data", "cifar10", "--help"]])
def test_help_imports_nothing_heavy(argv):
    assert imported_by(argv) == set()


def test_numpy_mlp_run_and_resume_never_import_torch(tmp_path):
    out = tmp_path / "mlp"
    base = ["train", "mlp-numpy", "--dataset", "moons", "--epochs", "4", "--eval-every", "1", "--quiet"]
    assert "torch" not in imported_by([*base, "--out", str(out)])
    assert (out / "checkpoint.pt").exists() and (out / "summary.json").exists()
    # a run stopped after its step-2 checkpoint (summary removed) resumes without torch
    (out / "summary.json").unlink()
    assert "torch" not in imported_by([*base, "--out", str(out), "--resume"])
    seeds = tmp_path / "seeds"
    assert "torch" not in imported_by([*base, "--seeds", "0-2", "--out", str(seeds)])
    assert "torch" not in imported_by([*base, "--seeds", "0-1", "--no-vectorize", "--out", str(tmp_path / "s2")])
    assert sorted(p.name for p in seeds.iterdir()) == ["seed-0", "seed-1", "seed-2"]


def test_numpy_checkpoint_round_trips_without_torch(tmp_path):
    import numpy as np

    from dlrepro.runs import checkpoint

    state = {"step": 40, "elapsed_s": 0.125, "last": {"step": 40, "epoch": 2.0, "test_acc": None},
             "task": {"model": {"0.weight": np.random.default_rng(0).normal(size=(2, 5)),
                                "0.bias": np.arange(5, dtype=np.float32)}}}
    (tmp_path / "c.pt").write_bytes(checkpoint.dumps(state))
    back = checkpoint.load(tmp_path / "c.pt")
    assert back["step"] == 40 and back["elapsed_s"] == 0.125 and back["last"] == state["last"]
    for k, v in state["task"]["model"].items():
        assert back["task"]["model"][k].dtype == v.dtype and np.array_equal(back["task"]["model"][k], v)


def test_report_and_a_finished_reproduce_import_neither_torch_nor_sklearn(tmp_path):
    out = tmp_path / "results"
    env = {"DLREPRO_CIFAR10": ""}
    from dlrepro.cli import main

    assert main(["reproduce", "--profile", "smoke", "--only", "toy", "--out", str(out), "--workers", "1"]) == 0
    assert {"torch", "sklearn", "scipy"}.isdisjoint(imported_by(["report", str(out)], env=env))
    # the no-op rerun: every trial is already done, so no worker, no torch, no scikit-learn
    rerun = ["reproduce", "--profile", "smoke", "--only", "toy", "--out", str(out), "--workers", "1"]
    assert {"torch", "sklearn", "scipy"}.isdisjoint(imported_by(rerun, env=env))
    assert (out / "figures" / "toy_moons_data.png").exists()


def test_reproduce_stops_before_any_trial_when_a_given_cifar_source_is_unusable(tmp_path, capsys):
    bad = tmp_path / "not-cifar"
    bad.mkdir()
    (bad / "notes.txt").write_text("no dataset here")
    out = tmp_path / "results"
    assert_usage_error(["reproduce", "--profile", "smoke", "--only", "toy,cifar_mlp", "--out", str(out),
                        "--data-root", str(bad)], str(bad), capsys)
    assert not (out / "runs").exists()  # toy comes first, and did not run


def test_reproduce_without_a_cifar_source_runs_the_rest_and_marks_cifar_not_run(tmp_path, monkeypatch, capsys):
    from dlrepro.cli import main

    monkeypatch.delenv("DLREPRO_CIFAR10", raising=False)
    out = tmp_path / "results"
    assert main(["reproduce", "--profile", "smoke", "--only", "toy,cifar_mlp", "--out", str(out),
                 "--workers", "1"]) == 0
    status = json.loads((out / "reproduce.json").read_text())
    assert "cifar_mlp" in status["not_run"] and "toy" not in status["not_run"]
    assert len([p for p in (out / "runs" / "toy").iterdir() if p.is_dir()]) == 6


def test_a_figure_is_rendered_again_only_when_it_changed(tmp_path):
    from dlrepro import plotting

    def draw(ys, title="t"):
        fig, (ax,) = plotting.figure(1, 1)
        ax.plot([0, 1, 2], ys, label="a")
        ax.set_title(title)
        ax.legend()
        return plotting.save(fig, tmp_path / "f.png").path

    path = draw([1.0, 2.0, 3.0])
    first, first_bytes = path.stat(), path.read_bytes()
    key = plotting.png_text(path)[plotting.FINGERPRINT]
    draw([1.0, 2.0, 3.0])  # the same figure, drawn again in this process: the file is kept
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    for changed in (dict(ys=[1.0, 2.0, 3.5]), dict(ys=[1.0, 2.0, 3.0], title="u")):
        draw(**changed)
        assert plotting.png_text(path)[plotting.FINGERPRINT] != key and path.read_bytes() != first_bytes
    # in another process the same figure has the same fingerprint (transforms keyed by id() are normalised)
    code = ("from pathlib import Path; from dlrepro import plotting\n"
            "fig, (ax,) = plotting.figure(1, 1); ax.plot([0, 1, 2], [1.0, 2.0, 3.0], label='a'); ax.set_title('t')\n"
            "ax.legend(); print(plotting.fingerprint(fig, 'png'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == key, out.stderr


def test_preparing_cifar10_does_not_import_torch(tmp_path):
    make_folder(tmp_path / "copy", per_class={"train": 1, "test": 1})
    argv = ["data", "cifar10", "--root", str(tmp_path / "copy"), "--no-verify", "--cache-dir", str(tmp_path / "c")]
    assert "torch" not in imported_by(argv)


@pytest.mark.parametrize("layout", ["official", "imagefolder", "archive"])
def test_loading_cifar10_does_not_import_torch_until_a_tensor_helper_is_used(tmp_path, layout):
    """The loader modules never import torch (decoding, then memory-mapping the cache); the tensor helpers
    re-exported by `dlrepro.data.cifar10` bring it in on first use."""
    if layout == "official":
        make_official(tmp_path / "copy")
    else:
        make_folder(tmp_path / "copy")
    root = make_tar(tmp_path / "copy", tmp_path / "copy.tar.xz") if layout == "archive" else tmp_path / "copy"
    found = "official" if layout == "official" else "imagefolder"
    code = textwrap.dedent(f"""
        import json, sys
        from dlrepro.data import cifar10
        first = cifar10.load_cifar10({str(root)!r}, verify=False, cache_dir={str(tmp_path / "c")!r})
        again = cifar10.load_cifar10({str(root)!r}, verify=False, cache_dir={str(tmp_path / "c")!r})
        assert not first.from_cache and again.from_cache and first.layout == {found!r}
        before = [m for m in {HEAVY!r} if m in sys.modules]
        cifar10.flip_crop
        print(json.dumps([before, "torch" in sys.modules]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    before, after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before == [] and after
