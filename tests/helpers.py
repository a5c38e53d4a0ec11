"""What tests (and benchmarks) share besides fixtures: `from helpers import ...`. pytest finds this module
through `pythonpath = ["tests"]` (pyproject.toml); a benchmark puts tests/ on sys.path first. Fixtures stay
in conftest.py, which nothing imports."""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dlrepro.data.cifar10 import CLASSES, SPLITS, TEST_BATCH, TRAIN_BATCHES, Cifar10
from dlrepro.runs.rundir import RunDir
from dlrepro.train.config import config_from_dict

# --- the CLI in a subprocess, and its usage errors ---------------------------------------------------------


def dlrepro(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m dlrepro ARGS` in a subprocess (one torch thread) and capture its output."""
    return subprocess.run([sys.executable, "-m", "dlrepro", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def kill_dlrepro_when(args: list[str], ready: Callable[[], bool], timeout: float = 120) -> None:
    """Start `python -m dlrepro ARGS` and SIGKILL it as soon as `ready()` holds (it must not finish first)."""
    proc = subprocess.Popen([sys.executable, "-m", "dlrepro", *args], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, f"finished before it could be killed: {proc.stderr.read()}"
        assert time.time() < deadline, "timed out waiting to kill"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def assert_usage_error(argv: list[str], needle: str, capsys) -> None:
    """`dlrepro ARGV` in-process exits with code 2 and prints exactly one line, containing `needle`."""
    from dlrepro.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err


# --- engine sinks ------------------------------------------------------------------------------------------


class MemorySink:
    """The engine `Sink` (`dlrepro.train.engine.Sink`) that keeps the metrics rows and the latest checkpoint
    in memory: for tests, and for benchmarks that time the engine without files."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float | None]] = []
        self.checkpoint: dict[str, Any] | None = None

    def load_checkpoint(self) -> dict[str, Any] | None:
        return self.checkpoint

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.checkpoint = checkpoint

    def restart_metrics(self, up_to_step: int) -> None:
        self.rows = [r for r in self.rows if r["step"] <= up_to_step]

    def log_metrics(self, row: dict[str, float | None]) -> None:
        self.rows.append(row)


# --- synthetic CIFAR-10 ---------------------------------------------------------------------------------
# Tiny random copies in each layout the loader reads (official batches, class folders, archives of either),
# in-memory datasets for code that takes a `Cifar10` directly, and a learnable copy (each class its own
# colour) on which a short run must reach high test accuracy. Nothing here imports torch.

PER_BATCH = 20  # images per official batch in make_official's copy


def random_images(n: int, seed: int) -> np.ndarray:
    """``n`` random uint8 NHWC 32x32 RGB images."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def synthetic_cifar10(n_train: int, n_test: int, seed: int = 0) -> Cifar10:
    """An in-memory `Cifar10` of random images and labels (nothing on disk)."""
    rng = np.random.default_rng(seed)
    return Cifar10(train_images=random_images(n_train, seed), train_labels=rng.integers(0, 10, n_train),
                   test_images=random_images(n_test, seed + 1), test_labels=rng.integers(0, 10, n_test),
                   source="synthetic", format="synthetic")


def write_pickle(path: Path, obj: object) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def write_batch(path: Path, images: np.ndarray | None, labels, data: np.ndarray | None = None) -> None:
    """A batch as the official files hold it: channel-major rows, bytes keys, a list of int labels (the rows
    are ``data`` when given, else ``images``')."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1) if data is None else data
    write_pickle(path, {b"batch_label": path.name.encode(), b"labels": [int(x) for x in labels],
                        b"data": rows, b"filenames": [f"{i}.png".encode() for i in range(len(rows))]})


def write_official(parent: Path, data: Cifar10) -> Path:
    """parent/cifar-10-batches-py holding `data` as the official files do: its training split cut into five
    train batches, its test split as the test batch, and batches.meta. Returns the batches folder."""
    batches = parent / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name, part in zip(TRAIN_BATCHES, np.array_split(np.arange(len(data.train_labels)), len(TRAIN_BATCHES)),
                          strict=True):
        write_batch(batches / name, data.train_images[part], data.train_labels[part])
    write_batch(batches / TEST_BATCH, data.test_images, data.test_labels)
    write_pickle(batches / "batches.meta", {b"label_names": [c.encode() for c in CLASSES],
                                            b"num_cases_per_batch": len(data.test_labels), b"num_vis": 3072})
    return batches


def make_official(parent: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """parent/cifar-10-batches-py with five 20-image train batches and a 20-image test batch; returns the
    arrays a load should give."""
    rng = np.random.default_rng(seed)
    images = random_images(6 * PER_BATCH, seed)
    labels = rng.integers(0, 10, size=6 * PER_BATCH)
    n_train = 5 * PER_BATCH
    expected = {"train_images": images[:n_train], "train_labels": labels[:n_train],
                "test_images": images[n_train:], "test_labels": labels[n_train:]}
    write_official(parent, Cifar10(**expected))
    return expected


# Learnable synthetic CIFAR-10: class k is a flat colour plus noise, so a model learns it in a few steps and
# a pipeline fault shows in the test accuracy. The classes come in pairs whose colours are each other's
# channels reversed (class 2i in BGR looks exactly like class 2i+1): a split fed in the wrong channel order
# scores near 0, not near chance. Every colour has red != blue, so no class is its own reversal.
_PAIRS = [(220, 30, 30), (220, 220, 30), (220, 130, 30), (220, 30, 130), (130, 220, 30)]
CLASS_COLOURS = np.array([c for rgb in _PAIRS for c in (rgb, rgb[::-1])], dtype=np.int64)  # (10, 3) RGB


def colour_images(labels: np.ndarray, seed: int, noise: int = 25) -> np.ndarray:
    """uint8 NHWC images: each image its class's colour, every pixel moved by uniform noise in +-noise."""
    rng = np.random.default_rng(seed)
    jitter = rng.integers(-noise, noise + 1, size=(len(labels), 32, 32, 3))
    return np.clip(CLASS_COLOURS[labels][:, None, None, :] + jitter, 0, 255).astype(np.uint8)


def learnable_cifar10(per_class_train: int = 20, per_class_test: int = 10, seed: int = 0) -> Cifar10:
    """An in-memory learnable `Cifar10` (classes interleaved: labels 0..9, 0..9, ...); train and test draw
    their noise from different streams, so no test image is a training image."""
    train_labels = np.tile(np.arange(10), per_class_train)
    test_labels = np.tile(np.arange(10), per_class_test)
    return Cifar10(train_images=colour_images(train_labels, seed), train_labels=train_labels,
                   test_images=colour_images(test_labels, seed + 1), test_labels=test_labels,
                   source="synthetic", format="learnable synthetic")


def write_image_folder(root: Path, data: Cifar10, suffix: str = ".png") -> dict[str, np.ndarray]:
    """root/train/<class>/NNNN.png and root/test/<class>/NNNN.png holding `data`; returns the arrays a load
    gives (the images grouped by class, in their order within each class)."""
    expected = {}
    for split in SPLITS:
        images, labels = getattr(data, f"{split}_images"), getattr(data, f"{split}_labels")
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for k, i in enumerate(np.flatnonzero(labels == label)):
                Image.fromarray(images[i]).save(root / split / name / f"{k:04d}{suffix}")
        order = np.argsort(labels, kind="stable")
        expected[f"{split}_images"], expected[f"{split}_labels"] = images[order], labels[order]
    return expected


def make_folder(root: Path, per_class: dict[str, int] | None = None, suffix: str = ".png",
                seed: int = 1) -> dict[str, np.ndarray]:
    """root/train/<class>/NNNN.png and root/test/<class>/NNNN.png; returns the arrays in load order."""
    per_class = per_class or {"train": 3, "test": 2}
    expected = {}
    for offset, split in enumerate(SPLITS):
        n = per_class[split]
        images = random_images(10 * n, seed + offset)
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for k in range(n):
                # Names written in reverse, so a test sees that loading sorts them.
                Image.fromarray(images[label * n + k]).save(folder / f"{n - 1 - k:04d}{suffix}")
        order = np.arange(10 * n).reshape(10, n)[:, ::-1].reshape(-1)  # sorted names = reversed writes
        expected[f"{split}_images"] = images[order]
        expected[f"{split}_labels"] = np.repeat(np.arange(10), n)
    return expected


def make_tar(source_dir: Path, archive: Path, arcname: str = "") -> Path:
    """An archive of source_dir's contents (compression from the suffix), under arcname if given."""
    mode = {".gz": "w:gz", ".xz": "w:xz"}.get(archive.suffix, "w")
    with tarfile.open(archive, mode) as tar:
        for child in sorted(source_dir.iterdir()):
            tar.add(child, arcname=f"{arcname}/{child.name}" if arcname else child.name)
    return archive


# --- end of synthetic CIFAR-10 ---------------------------------------------------------------------------


# --- run folders written with the run format, for the report's tests -------------------------------------

# The reference settings of one run per study (the claims' settings); tests override single keys.
TOY = dict(model="mlp-numpy", dataset="moons", hidden=[20], lr=0.01, batch_size=1, epochs=200, eval_every=10,
           n_samples=1000, seed=0)
CNN = dict(model="cnn", optimizer="adam", lr=1e-4, batch_size=32, epochs=200, eval_every=10, augment="none", seed=0)
RNN = dict(model="rnn", cell="rnn", lr=1e-3, input_length=5, hidden=128, batch_size=128, steps=10_000,
           eval_every=10, seed=0)


def write_run(root, cfg: dict, test, train=None, status="completed", upto=None, loss=0.1):
    """A run folder: config.json, one metrics row per evaluation (test/train accuracy and train loss from
    functions of x, the epoch or step, or constants), summary.json. `upto` stops the rows early (an interrupted
    run)."""
    config = config_from_dict(cfg)
    rd = RunDir(root / config.default_name())
    rd.set_up(config)
    by_epoch = "epochs" in cfg
    total = cfg["epochs"] if by_epoch else cfg["steps"]
    for x in range(0, (upto if upto is not None else total) + 1, cfg["eval_every"]):
        acc = test(x) if callable(test) else test
        tr = train(x) if callable(train) else (train if train is not None else acc)
        rd.log_metrics({"step": x, "epoch": x if by_epoch else None,
                        "train_loss": loss(x) if callable(loss) else loss, "train_acc": tr,
                        "test_loss": 0.1, "test_acc": acc, "elapsed_s": 0.0})
    rd.write_summary(status, upto if upto is not None else total, 1.0)
    return config


def curve(at: int, low=0.5, high=1.0):
    """Accuracy `low` before x = at, `high` from then on."""
    return lambda x: high if x >= at else low


def write_study_folder(out: Path, study_text: str, profile: str, test, train=None, name: str = "") -> list:
    """OUT/runs/<study>/: study.toml and study.json as a sweep of `profile` writes them, and one completed run
    per trial whose accuracies come from `test(cfg)` / `train(cfg)` (each returning a value or a function of the
    epoch or step, as `write_run` takes). Returns the trials' configs."""
    from dlrepro.studies.record import write_study_record
    from dlrepro.studies.spec import parse_study

    study = parse_study(study_text, Path(f"{name or 'study'}.toml"), builtin=not name)
    study_dir = Path(out) / "runs" / study.name
    trials = study.trials(profile)
    write_study_record(study, profile, study_dir, [c.default_name() for c in trials])
    for cfg in trials:
        d = cfg.to_dict()
        write_run(study_dir, d, test(d), train(d) if train is not None else None)
    return trials


MINE_TOML = ('[study]\nname = "mine"\ntitle = "My own MLP study"\ndescription = "Two seeds."\n'
             '[fixed]\nmodel = "mlp-numpy"\nepochs = 20\neval_every = 5\nn_samples = 60\n[grid]\nseed = [0, 1]\n')


def make_results(out: Path) -> Path:
    """A small results folder as `dlrepro reproduce` and `dlrepro sweep` leave it, without training: three toy
    runs (both MLPs, data.npz beside them), a study of the user's own with its record (study.json, study.toml)
    and reproduce.json. Every kind of file the report reads is in it."""
    import json

    from dlrepro.data.toy import make_toy, save_toy
    from dlrepro.studies.record import write_study_record
    from dlrepro.studies.spec import parse_study

    toy = out / "runs" / "toy"
    for model, seed in (("mlp-numpy", 0), ("mlp-torch", 0), ("mlp-numpy", 1)):
        cfg = write_run(toy, {**TOY, "model": model, "seed": seed, "epochs": 30}, curve(10 + 10 * seed))
        (toy / cfg.default_name() / "data.npz").write_bytes(save_toy(make_toy("moons", n_samples=200, seed=0)))
    study = parse_study(MINE_TOML, out.parent / "mine.toml")
    mine = out / "runs" / "mine"
    ids = [write_run(mine, c.to_dict(), curve(10)).default_name() for c in study.trials("quick")]
    write_study_record(study, "quick", mine, ids)
    (out / "reproduce.json").write_text(json.dumps({"not_run": {"cifar_mlp": "CIFAR-10 unavailable (a test)"},
                                                    "hardware": {"cpu": "test CPU", "cores": 2, "gpu": None}}))
    return out


@contextlib.contextmanager
def no_hang(seconds: int = 30):
    """Fail (TimeoutError) instead of blocking the suite when the block takes longer than `seconds`."""
    def alarm(*_):
        raise TimeoutError(f"hung for {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder` (links not followed): its kind, size, mtime and content, to compare."""
    import stat

    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        content = p.read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(p) if p.is_symlink() else None
        out[str(p.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, content)
    return out
