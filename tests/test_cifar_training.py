"""The ConvNet, the CIFAR-10 input pipeline and training through the CLI, on tiny synthetic CIFAR-10."""

import contextlib
import shutil

import numpy as np
import pytest
import torch

from dlrepro import registry
from dlrepro.cli import main
from dlrepro.data.cifar10 import Cifar10, load_cifar10
from dlrepro.models.convnet import ConvNet, n_parameters
from dlrepro.runs.execute import execute
from dlrepro.runs.rundir import RunDir, read_metrics
from dlrepro.train.build import build_task
from dlrepro.train.cifar_task import CifarTask
from dlrepro.train.config import CNNConfig, MLPConfig
from dlrepro.train.engine import fit
from helpers import assert_usage_error, dlrepro, kill_dlrepro_when, make_official


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("DLREPRO_CIFAR10", raising=False)
    make_official(tmp_path / "data")
    return str(tmp_path / "data")


def test_convnet_has_the_reference_architecture():
    model = ConvNet(n_channels=3, n_classes=10)
    assert n_parameters(model) == 9_231_114
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) and c.padding == (1, 1) for c in convs)
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 5 and all((p.kernel_size, p.stride, p.padding) == (3, 2, 1) for p in pools)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 8
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 1
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_cifar_mlp_trains_and_writes_the_run_format(cifar_root, tmp_path):
    cfg = MLPConfig(model="mlp-torch", dataset="cifar10", batch_size=10, epochs=30, eval_every=10, dtype="float32",
                    data_root=cifar_root, verify_data=False)
    run, summary = execute(cfg, tmp_path / "mlp", progress=False)
    rows = run.metrics()
    assert summary["status"] == "completed" and [r["epoch"] for r in rows] == [0, 10, 20, 30]
    assert rows[-1]["train_acc"] > rows[0]["train_acc"] + 0.3  # 100 random images: it memorises them


def test_data_root_is_not_part_of_the_run_identity(cifar_root):
    a = MLPConfig(model="mlp-torch", dataset="cifar10", data_root=cifar_root)
    b = MLPConfig(model="mlp-torch", dataset="cifar10", data_root="/elsewhere")
    assert a.config_hash() == b.config_hash() and a.to_dict()["data_root"] == cifar_root


def test_cnn_epoch_on_synthetic_data(cifar_root, tmp_path):
    cfg = CNNConfig(epochs=1, eval_every=1, batch_size=16, subset=40, test_subset=10, augment="flipcrop",
                    data_root=cifar_root, verify_data=False, device="cpu")
    run, summary = execute(cfg, tmp_path / "cnn", progress=False)
    assert summary["status"] == "completed" and summary["steps"] == 3  # ceil(40 / 16)
    assert [r["epoch"] for r in run.metrics()] == [0, 1]


@pytest.mark.parametrize("precision, channels_last, tol", [("fp32", True, 1e-4), ("bf16", False, 5e-2),
                                                            ("bf16", True, 5e-2)])
def test_fast_configurations_compute_the_same_loss(cifar_root, precision, channels_last, tol):
    losses = {}
    for key, kw in (("ref", {}), ("fast", {"precision": precision, "channels_last": channels_last})):
        task = build_task(CNNConfig(epochs=1, batch_size=20, data_root=cifar_root, verify_data=False,
                                    device="cpu", **kw))
        task.model.eval()
        x, y = task.batches.get(0)
        with torch.no_grad(), task._autocast() if key == "fast" else contextlib.nullcontext():
            logits = task.forward(task._inputs(x)).float()
        losses[key] = torch.nn.functional.cross_entropy(logits, y).item()
    assert abs(losses["fast"] - losses["ref"]) <= tol * max(1.0, abs(losses["ref"]))


def test_same_seed_same_initial_weights(cifar_root):
    a = build_task(CNNConfig(data_root=cifar_root, verify_data=False, device="cpu", seed=3))
    b = build_task(CNNConfig(data_root=cifar_root, verify_data=False, device="cpu", seed=3))
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True))
    assert load_cifar10(cifar_root, verify=False).train_images.shape == (100, 32, 32, 3)


@pytest.mark.parametrize("argv, needle", [
    (["train", "cnn", "--data-root", "/nonexistent/cifar"], "/nonexistent/cifar"),
    (["train", "cnn", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["train", "cnn", "--lr", "0"], "--lr must be > 0"),
    (["train", "cnn", "--subset", "-5"], "--subset must be >= 0"),
    (["train", "mlp-numpy", "--dataset", "cifar10"], "invalid choice: 'cifar10'"),
    (["data", "cifar10", "--root", "/nonexistent/cifar"], "/nonexistent/cifar"),
])
def test_cifar_bad_input_exits_2_with_one_line(argv, needle, capsys, monkeypatch):
    monkeypatch.delenv("DLREPRO_CIFAR10", raising=False)
    assert_usage_error(argv, needle, capsys)


def test_cuda_requested_without_cuda_exits_2(cifar_root, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["train", "cnn", "--data-root", cifar_root, "--no-verify", "--device", "cuda", "--quiet"])
    assert code == 2 and "no CUDA device" in capsys.readouterr().err


def test_official_md5_mismatch_exits_2_and_suggests_no_verify(cifar_root, tmp_path, capsys):
    code = main(["train", "mlp-torch", "--dataset", "cifar10", "--data-root", cifar_root, "--epochs", "1",
                 "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--no-verify" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()  # nothing written for a run that could not start


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS["cnn"]))
def test_fused_optimizers_update_as_the_plain_loop_does(name):
    from dlrepro.models.convnet import ConvNet
    from dlrepro.train.cifar_task import make_optimizer

    torch.manual_seed(0)
    fast, plain = ConvNet(3, 10), ConvNet(3, 10)
    plain.load_state_dict(fast.state_dict())
    opt_fast = make_optimizer(name, fast.parameters(), 1e-3)
    opt_plain = registry.load(registry.OPTIMIZERS["cnn"][name].target)(plain.parameters(), lr=1e-3, foreach=False)
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        for p, q in zip(fast.parameters(), plain.parameters(), strict=True):
            p.grad = torch.randn(p.shape, generator=gen)
            q.grad = p.grad.clone()
        opt_fast.step()
        opt_plain.step()
    for p, q in zip(fast.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile's CPU backend needs a C++ compiler")
def test_compile_and_eager_compute_the_same_loss(cifar_root):
    """--compile (TorchInductor, about 15 s to compile on 2 cores) agrees with eager on a fixed batch."""
    losses = {}
    for compiled in (False, True):
        task = build_task(CNNConfig(epochs=1, batch_size=20, data_root=cifar_root, verify_data=False,
                                    device="cpu", compile=compiled))
        task.model.eval()
        x, y = task.batches.get(0)
        with torch.no_grad():
            losses[compiled] = torch.nn.functional.cross_entropy(task.forward(task._inputs(x)), y).item()
    assert abs(losses[True] - losses[False]) <= 1e-4 * max(1.0, abs(losses[False]))


# The architecture table of Part 2, written out: every layer in the order the forward pass applies it.
CONV_TABLE = [(3, 64), "pool", (64, 128), "pool", (128, 256), (256, 256), "pool", (256, 512), (512, 512), "pool",
              (512, 512), (512, 512), "pool"]


def _expected_layers() -> list[tuple]:
    layers = []
    for item in CONV_TABLE:
        if item == "pool":
            layers.append(("MaxPool2d", 3, 2, 1))
        else:
            c_in, c_out = item
            layers += [("Conv2d", c_in, c_out, 3, 1, 1), ("BatchNorm2d", c_out), ("ReLU",)]
    return layers


def _describe(m: torch.nn.Module) -> tuple:
    if isinstance(m, torch.nn.Conv2d):
        return ("Conv2d", m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
    if isinstance(m, torch.nn.BatchNorm2d):
        return ("BatchNorm2d", m.num_features)
    if isinstance(m, torch.nn.MaxPool2d):
        return ("MaxPool2d", m.kernel_size, m.stride, m.padding)
    return (type(m).__name__,)


def test_convnet_layer_sequence_is_the_table():
    """conv -> BN -> ReLU per block, pools where the table puts them, one linear layer; the forward pass is
    exactly these layers in this order (a missing ReLU or a moved pool fails here)."""
    model = ConvNet(3, 10).eval()
    leaves = [m for m in model.features.modules() if not list(m.children())]
    assert [_describe(m) for m in leaves] == _expected_layers()
    assert isinstance(model.linear, torch.nn.Linear) and (model.linear.in_features, model.linear.out_features) == (
        512, 10)
    assert n_parameters(model) == 9_231_114
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = x
    with torch.no_grad():
        for m in leaves:
            out = m(out)
        assert out.shape == (2, 512, 1, 1)
        torch.testing.assert_close(model(x), model.linear(out.flatten(1)))


def test_normalisation_statistics_come_from_the_training_split():
    """Train images near 40, test images near 200: the mean and std must be the training split's."""
    rng = np.random.default_rng(0)
    train = rng.integers(20, 61, size=(30, 32, 32, 3), dtype=np.uint8)
    test = rng.integers(180, 221, size=(10, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(40) % 10
    data = Cifar10(train, labels[:30], test, labels[30:])
    model = ConvNet(3, 10)
    task = CifarTask(model, torch.optim.SGD(model.parameters(), lr=0.1), data, device=torch.device("cpu"),
                     batch_size=10, epochs=1, eval_every=1, seed=0)
    as_float = torch.from_numpy(train).double() / 255
    torch.testing.assert_close(task.mean.double(), as_float.mean(dim=(0, 1, 2)), atol=1e-6, rtol=0)
    torch.testing.assert_close(task.std.double(), as_float.std(dim=(0, 1, 2), correction=0), atol=1e-6, rtol=1e-5)
    normalised = task._inputs(task.train_xy[0])
    assert normalised.mean().abs() < 1e-3 and (normalised.std() - 1).abs() < 1e-2


def _cnn_args(root: str, out) -> list[str]:
    return ["train", "cnn", "--data-root", root, "--no-verify", "--device", "cpu", "--subset", "20",
            "--test-subset", "10", "--batch-size", "10", "--augment", "flipcrop", "--lr", "1e-3", "--epochs", "4",
            "--eval-every", "1", "--checkpoint-every", "0", "--seed", "2", "--quiet", "--out", str(out)]


def _cnn_cfg(root: str, epochs: int) -> CNNConfig:
    return CNNConfig(data_root=root, verify_data=False, device="cpu", subset=20, test_subset=10, batch_size=10,
                     augment="flipcrop", lr=1e-3, eval_every=1, seed=2, epochs=epochs)


def _no_elapsed(rows):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


def test_cnn_resume_is_exact_after_a_stop_and_after_sigkill(cifar_root, tmp_path, one_torch_thread):
    """4 epochs with flipcrop straight == 2 epochs, then --resume to 4; and a real `dlrepro train cnn`
    SIGKILLed after a checkpoint, then resumed, == the same 4 epochs. The model, Adam's moments and the
    augmentation stream all come back from the checkpoint. (One torch thread, as the subprocesses use:
    the convolutions' sums depend on the thread count.)"""
    ref, _ = execute(_cnn_cfg(cifar_root, 4), tmp_path / "ref", progress=False)
    stopped = RunDir(tmp_path / "stopped")
    stopped.set_up(_cnn_cfg(cifar_root, 4))
    fit(build_task(_cnn_cfg(cifar_root, 2)), stopped, progress=False, checkpoint_every_s=0)
    assert [r["epoch"] for r in stopped.metrics()] == [0, 1, 2]
    _, summary = execute(_cnn_cfg(cifar_root, 4), stopped.path, resume=True, progress=False)
    assert summary["status"] == "completed" and summary["steps"] == 8
    assert _no_elapsed(stopped.metrics()) == _no_elapsed(ref.metrics())

    out = tmp_path / "killed"
    kill_dlrepro_when(_cnn_args(cifar_root, out),
                      ready=lambda: len(read_metrics(out / "metrics.jsonl")) >= 3)  # epoch 1 is checkpointed
    assert 3 <= len(read_metrics(out / "metrics.jsonl")) < 5 and not (out / "summary.json").exists()
    resumed = dlrepro(*_cnn_args(cifar_root, out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _no_elapsed(read_metrics(out / "metrics.jsonl")) == _no_elapsed(ref.metrics())


def test_augmentation_stream_is_not_the_weights_stream(cifar_root):
    """The ConvNet's weights draw from torch.manual_seed(seed); its crops and flips from their own stream."""
    task = build_task(CNNConfig(data_root=cifar_root, verify_data=False, device="cpu", seed=3, augment="flipcrop"))
    assert not torch.equal(task.augment_stream.get_state(), torch.Generator().manual_seed(3).get_state())
