"""The CIFAR-10 training pipeline on learnable synthetic data (tests/helpers.py: each class its own colour,
the classes in pairs whose colours are each other's channels reversed): what the models see is the source
images, in RGB, normalised with the training split's statistics; `evaluate()` measures each split on that
split; a short MLP and ConvNet run reach high test accuracy; the ConvNet trains in train mode and evaluates
in eval mode; each seed gives its own initial weights.

These stand in for the real-data test (tests/test_cifar10.py::test_real_jpeg_archive), which needs
../shared/data: they always run. On random images with random labels (the other CIFAR tests) test accuracy
is chance whatever the pipeline does; here a split read in the wrong channel order scores near 0.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlrepro.data.cifar10 import load_cifar10
from dlrepro.models.convnet import ConvNet
from dlrepro.train.build import build_task
from dlrepro.train.cifar_task import CifarTask
from dlrepro.train.config import CNNConfig, MLPConfig
from dlrepro.train.engine import BatchStats, fit
from dlrepro.train.mlp_task import seeded_mlp
from helpers import MemorySink, learnable_cifar10, make_tar, write_image_folder, write_official

SOURCE = learnable_cifar10(per_class_train=20, per_class_test=10)  # 200 training and 100 test images


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """The learnable data set on disk in each layout (official batches, PNG class folders, a .tar.gz of the
    official batches): layout -> (root, the arrays a load gives)."""
    root = tmp_path_factory.mktemp("learnable")
    official, folder = root / "official", root / "imagefolder"
    write_official(official, SOURCE)
    archive = make_tar(official, root / "cifar-10-python.tar.gz")
    arrays = {name: getattr(SOURCE, name) for name in ("train_images", "train_labels", "test_images", "test_labels")}
    return {"official": (str(official), arrays), "imagefolder": (str(folder), write_image_folder(folder, SOURCE)),
            "archive": (str(archive), arrays)}


@pytest.fixture(autouse=True)
def _no_cifar_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DLREPRO_CIFAR10", raising=False)


def _config(kind: str, root: str, **kw):
    if kind == "mlp":
        return MLPConfig(model="mlp-torch", dataset="cifar10", dtype="float32", data_root=root, verify_data=False,
                         **kw)
    return CNNConfig(data_root=root, verify_data=False, device="cpu", **kw)


def _nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def _train_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and population std of uint8 NHWC images in [0, 1] units, in float64 NumPy."""
    x = images.astype(np.float64) / 255
    return x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))


def _by_hand(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, mean, std) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` (in eval mode) on source images normalised by hand."""
    x = (images.astype(np.float64) / 255 - mean) / std
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2)).float().contiguous()).float()
    y = torch.from_numpy(labels)
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


# --- what the models see ---------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["official", "imagefolder", "archive"])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_both_splits_are_the_source_images_in_rgb_normalised_by_the_training_split(copies, layout, kind):
    root, want = copies[layout]
    task = build_task(_config(kind, root))
    for split in ("train", "test"):
        x, y = task.train_xy if split == "train" else task.test_xy
        assert x.dtype == torch.uint8 and tuple(x.shape[1:]) == (3, 32, 32), split
        assert torch.equal(x, _nchw(want[f"{split}_images"])), f"{split} images differ from the source (channels?)"
        assert torch.equal(y, torch.from_numpy(want[f"{split}_labels"])), split
    mean, std = _train_stats(want["train_images"])
    np.testing.assert_allclose(task.mean.numpy(), mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(task.std.numpy(), std, rtol=1e-5, atol=1e-6)
    # the test split is normalised with the same (training) statistics, channel by channel
    normalised = task._inputs(task.test_xy[0]).double().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(normalised, (want["test_images"] / 255 - mean) / std, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_evaluate_measures_each_split_on_that_split(kind, one_torch_thread):
    """evaluate()'s test metrics are those of the test images, its train metrics those of the training
    images (computed here by hand, after two steps so that the two differ; splits of different sizes)."""
    torch.manual_seed(0)
    model = seeded_mlp(3072, (20,), 10, 0, torch.float32) if kind == "mlp" else ConvNet(3, 10)
    data = SOURCE if kind == "mlp" else learnable_cifar10(per_class_train=2, per_class_test=1)
    task = CifarTask(model, torch.optim.Adam(model.parameters(), lr=1e-3), data, device=torch.device("cpu"),
                     batch_size=20, epochs=1, eval_every=1, seed=0, eval_batch=16)
    for step in range(2):
        task.train_step(step)
    if kind == "cnn":  # BatchNorm's running statistics := the training split's, so outputs depend on the input
        for bn in _batchnorms(model):
            bn.reset_running_stats()
            bn.momentum = None  # a cumulative average: after one pass, exactly that pass's statistics
        with torch.no_grad():
            model.train()(task._inputs(task.train_xy[0]))
    got = task.evaluate(BatchStats())
    mean, std = _train_stats(data.train_images)
    train = _by_hand(model, data.train_images, data.train_labels, mean, std)
    test = _by_hand(model, data.test_images, data.test_labels, mean, std)
    assert abs(train[0] - test[0]) > 1e-3 * test[0]  # the splits are told apart by their loss (10x the tolerance)
    assert got["test_loss"] == pytest.approx(test[0], rel=1e-4) and got["test_acc"] == pytest.approx(test[1])
    assert got["train_loss"] == pytest.approx(train[0], rel=1e-4) and got["train_acc"] == pytest.approx(train[1])


# --- short runs that must learn -----------------------------------------------------------------------------
def test_short_cifar_mlp_run_reaches_high_test_accuracy(copies, one_torch_thread):
    """The MLP 3072-20-10 at the reference lr (0.01): 4 epochs of 200 images, batch 10 (80 steps)."""
    sink = MemorySink()
    fit(build_task(_config("mlp", copies["official"][0], batch_size=10, epochs=4, eval_every=4)), sink,
        progress=False)
    first, last = sink.rows[0], sink.rows[-1]
    assert first["test_acc"] <= 0.3 and last["test_acc"] >= 0.9, sink.rows


def test_short_convnet_run_reaches_high_test_accuracy(copies, one_torch_thread):
    """The ConvNet, Adam 3e-4: 30 steps of batch 10 on a stratified 20-image subset, evaluated (in eval mode,
    with BatchNorm's running statistics) on 50 test images. About 0.94 on CPU; a test split in BGR scores
    near 0 (each class then looks like its partner)."""
    sink = MemorySink()
    cfg = _config("cnn", copies["official"][0], subset=20, test_subset=50, batch_size=10, epochs=15,
                  eval_every=15, lr=3e-4, seed=0)
    fit(build_task(cfg), sink, progress=False)
    assert [r["epoch"] for r in sink.rows] == [0, 15]
    assert sink.rows[0]["test_acc"] <= 0.3 and sink.rows[-1]["test_acc"] >= 0.8, sink.rows


# --- train and eval modes ----------------------------------------------------------------------------------
def _small_convnet_task(seed: int = 0) -> CifarTask:
    torch.manual_seed(seed)
    model = ConvNet(3, 10)
    data = learnable_cifar10(per_class_train=1, per_class_test=1, seed=seed)
    return CifarTask(model, torch.optim.Adam(model.parameters(), lr=1e-3), data, device=torch.device("cpu"),
                     batch_size=10, epochs=1, eval_every=1, seed=seed)


def _batchnorms(model: torch.nn.Module) -> list[torch.nn.BatchNorm2d]:
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def test_convnet_trains_in_train_mode_and_evaluates_in_eval_mode(one_torch_thread):
    """Every BatchNorm layer is in train mode while a step runs, also right after an evaluation, and in
    eval mode while evaluate() runs."""
    task = _small_convnet_task()
    seen: dict[str, set[bool]] = {"evaluate": set(), "train_step": set()}
    phase = {"now": ""}
    for bn in _batchnorms(task.model):
        bn.register_forward_pre_hook(lambda module, _inputs: seen[phase["now"]].add(module.training))
    for now in ("evaluate", "train_step", "evaluate", "train_step"):
        phase["now"] = now
        if now == "evaluate":
            task.evaluate(BatchStats())
        else:
            task.train_step(0)
    modes = seen
    assert modes == {"evaluate": {False}, "train_step": {True}}, modes


def test_evaluate_leaves_batchnorm_statistics_unchanged_and_a_step_changes_them(one_torch_thread):
    task = _small_convnet_task()

    def stats():
        return [t.clone() for bn in _batchnorms(task.model) for t in (bn.running_mean, bn.running_var)]

    before = stats()
    task.evaluate(BatchStats())
    assert all(torch.equal(a, b) for a, b in zip(before, stats(), strict=True)), "evaluate() updated BatchNorm"
    task.train_step(0)
    after_step = stats()
    assert all(not torch.equal(a, b) for a, b in zip(before, after_step, strict=True)), "a step left BatchNorm"
    task.evaluate(BatchStats())
    assert all(torch.equal(a, b) for a, b in zip(after_step, stats(), strict=True)), "evaluate() updated BatchNorm"


# --- seeds --------------------------------------------------------------------------------------------------
def _seeded(kind: str, seed: int) -> torch.nn.Module:
    if kind == "mlp":
        return seeded_mlp(3072, (20,), 10, seed, torch.float32)
    torch.manual_seed(seed)
    return ConvNet(3, 10)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_each_seed_starts_from_its_own_seeded_weights(copies, kind):
    """Seeds 0 and 1 (same data seed) start from different weights, each equal to the model its seed gives."""
    root = copies["official"][0]
    states = {}
    for seed in (0, 1):
        states[seed] = build_task(_config(kind, root, seed=seed)).model.state_dict()
        want = _seeded(kind, seed).state_dict()
        assert states[seed].keys() == want.keys()
        assert all(torch.equal(states[seed][k], want[k]) for k in want), f"seed {seed} is not its seeded model"
    weights = [k for k, v in states[0].items() if k.endswith("weight") and v.ndim > 1]  # not BatchNorm's ones
    assert weights
    assert all(not torch.equal(states[0][k], states[1][k]) for k in weights), "seeds 0 and 1 share weights"


def test_learnable_copies_load_as_written(copies):
    """The builders themselves: each layout loads back to the arrays it promises."""
    for root, want in copies.values():
        ds = load_cifar10(root, verify=False)
        for name, array in want.items():
            np.testing.assert_array_equal(getattr(ds, name), array, err_msg=name)
