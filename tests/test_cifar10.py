"""Tests for dlrepro.data.cifar10: every layout, the safety and integrity checks, the cache, the helpers.

All datasets are tiny and built in tmp_path; nothing touches the network.  The one real-data test reads
../shared/data/cifar10-jpeg.tar.xz (beside the checkout) when it exists and skips otherwise; the learnable
synthetic stand-in that always runs is tests/test_cifar_pipeline.py.
"""

import codecs
import hashlib
import io
import os
import pickle
import stat
import tarfile
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlrepro.data import cifar10
from dlrepro.data.cifar10 import CLASSES, cache, download, imagefolder, load, load_cifar10, prepare
from dlrepro.data.cifar10 import official as official_batches
from dlrepro.data.cifar10.tensors import (
    channel_stats,
    crop_flip_at,
    flip_crop,
    normalize,
    stratified_subset,
    to_device_tensor,
)
from dlrepro.errors import ConfigError, DatasetError
from helpers import PER_BATCH, make_folder, make_official, make_tar, random_images, write_batch, write_pickle

REAL_ARCHIVE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10-jpeg.tar.xz"


# ------------------------------------------------------------------------------------------ builders


def add_member(archive: Path, info: tarfile.TarInfo, data: bytes = b"") -> None:
    with tarfile.open(archive, "a") as tar:
        info.size = len(data) if info.isfile() else 0
        tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def assert_matches(ds: cifar10.Cifar10, expected: dict[str, np.ndarray]) -> None:
    for name, array in expected.items():
        got = getattr(ds, name)
        assert got.shape == array.shape, name
        np.testing.assert_array_equal(got, array, err_msg=name)
    assert ds.train_images.dtype == np.uint8 and ds.test_images.dtype == np.uint8
    assert ds.train_labels.dtype == np.int64 and ds.test_labels.dtype == np.int64
    assert ds.classes == CLASSES


def raises_one_line(*fragments: str):
    """pytest.raises(DatasetError) that also checks the message is one line and names all fragments."""

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(DatasetError)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self._ctx.__exit__(*exc)
            message = str(self.info.value)
            assert "\n" not in message, message
            for fragment in fragments:
                assert fragment in message, (fragment, message)
            return handled

    return _Check()


@pytest.fixture
def official(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path / "data"
    return root, make_official(root)


@pytest.fixture(autouse=True)
def private_user_cache(tmp_path, monkeypatch):
    """Keep the per-user fallback cache inside tmp_path, and no dataset location from the environment."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DLREPRO_CIFAR10", raising=False)


# ------------------------------------------------------------------------------------------- layouts


def test_official_classes_in_official_order():
    assert CLASSES == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                       "truck")


@pytest.mark.parametrize("point_at", ["parent", "batches_dir"])
def test_official_directory_round_trips_pixels(official, point_at):
    root, expected = official
    target = root if point_at == "parent" else root / "cifar-10-batches-py"
    ds = load_cifar10(target, verify=False)
    assert_matches(ds, expected)
    assert ds.format == "official python batches"
    assert Path(ds.cache_dir).parent == root / ".dlrepro-cache"  # beside cifar-10-batches-py/


def test_channel_major_rows_become_hwc(tmp_path):
    """Row layout is R plane, G plane, B plane: check one pixel by hand, not just a round trip."""
    root = tmp_path / "data"
    make_official(root)
    data = np.zeros((PER_BATCH, 3072), dtype=np.uint8)
    data[0, 0], data[0, 1024], data[0, 2048] = 10, 20, 30  # pixel (0, 0): R, G, B
    data[0, 1023 + 2048] = 99  # pixel (31, 31), blue
    write_batch(root / "cifar-10-batches-py" / "data_batch_1", None, [0] * PER_BATCH, data=data)
    ds = load_cifar10(root, verify=False)
    assert ds.train_images[0, 0, 0].tolist() == [10, 20, 30]
    assert ds.train_images[0, 31, 31].tolist() == [0, 0, 99]


@pytest.mark.parametrize("wrapped", [False, True])
def test_png_folder_round_trips_pixels_in_sorted_order(tmp_path, wrapped):
    root = tmp_path / "copy"
    expected = make_folder(root / "cifar10-png" if wrapped else root)
    ds = load_cifar10(root, verify=False)
    assert_matches(ds, expected)
    assert ds.format == "PNG/JPEG class folders"
    assert np.bincount(ds.train_labels).tolist() == [3] * 10


def test_jpeg_folder_decodes_close_to_the_original(tmp_path):
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (32, 1, 3))
    for split in cifar10.SPLITS:
        for name in CLASSES:
            (tmp_path / split / name).mkdir(parents=True)
            Image.fromarray(smooth).save(tmp_path / split / name / "a.jpg", quality=95)
    ds = load_cifar10(tmp_path, verify=False)
    assert ds.train_images.shape == (10, 32, 32, 3) and ds.test_images.shape == (10, 32, 32, 3)
    assert np.abs(ds.train_images.astype(int) - smooth).mean() < 3


def test_grayscale_and_rgba_images_are_converted_to_rgb(tmp_path):
    make_folder(tmp_path)
    gray = tmp_path / "train" / "cat" / "0000.png"
    Image.fromarray(np.full((32, 32), 77, dtype=np.uint8)).save(gray)
    ds = load_cifar10(tmp_path, verify=False)
    cat = CLASSES.index("cat")
    assert ds.train_images[cat * 3].tolist() == np.full((32, 32, 3), 77).tolist()


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.xz"])
@pytest.mark.parametrize("layout", ["official", "folder", "wrapped-folder"])
def test_archives_of_each_layout(tmp_path, suffix, layout):
    src = tmp_path / "src"
    if layout == "official":
        expected = make_official(src)
    else:
        expected = make_folder(src)
    archive = make_tar(src, tmp_path / f"copy{suffix}", arcname="wrapper" if layout == "wrapped-folder" else "")
    ds = load_cifar10(archive, verify=False)
    assert_matches(ds, expected)
    assert ds.source == str(archive)
    assert ds.format.endswith(f"(from archive copy{suffix})")
    assert Path(ds.cache_dir).parent == tmp_path / ".dlrepro-cache"


def test_directory_holding_one_archive(tmp_path):
    expected = make_official(tmp_path / "src")
    root = tmp_path / "root"
    root.mkdir()
    archive = make_tar(tmp_path / "src", root / "cifar-10-python.tar.gz")
    (root / "notes.txt").write_text("not an archive")
    ds = load_cifar10(root, verify=False)
    assert_matches(ds, expected)
    assert ds.source == str(archive)


def test_directory_with_several_archives_is_ambiguous(tmp_path):
    make_folder(tmp_path / "src")
    root = tmp_path / "root"
    root.mkdir()
    make_tar(tmp_path / "src", root / "a.tar")
    make_tar(tmp_path / "src", root / "b.tar.xz")
    with raises_one_line("several archives", "a.tar", "b.tar.xz"):
        load_cifar10(root, verify=False)


def test_decoding_in_worker_processes(tmp_path, monkeypatch):
    expected = make_folder(tmp_path)
    monkeypatch.setattr(imagefolder, "_POOL_MIN_IMAGES", 0)
    monkeypatch.setattr(imagefolder, "_CHUNK", 7)  # several chunks per split, to check they are reassembled
    assert_matches(load_cifar10(tmp_path, verify=False), expected)


def test_worker_errors_name_the_file(tmp_path, monkeypatch):
    make_folder(tmp_path)
    bad = tmp_path / "test" / "ship" / "0001.png"
    Image.fromarray(np.zeros((32, 30, 3), dtype=np.uint8)).save(bad)
    monkeypatch.setattr(imagefolder, "_POOL_MIN_IMAGES", 0)
    with raises_one_line(str(bad), "30x32", "32x32"):
        load_cifar10(tmp_path, verify=False)


# ------------------------------------------------------------------------- pickle safety and integrity


class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _RunsEval:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


class _Call:
    """Pickles as `f(*args)`: unpickling calls `f` (itself a `_Call` when it is a result of an earlier call)."""

    def __init__(self, f, *args):
        self.f, self.args = f, args

    def __call__(self, *args):  # pickle only saves callables as the function of a reduce
        raise AssertionError("never called here")

    def __reduce__(self):
        return self.f, self.args


class _RunsEvalThroughCodecsGlobals:
    """Reaches `eval` from the one function the allowlist names, `_codecs.encode` (the unpickler's own Python
    function): getattr(encode, '__globals__').get('__builtins__').get('eval')(code). Refused because
    builtins.getattr is not allowed; with it allowed, it runs (test below)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        module_globals = _Call(getattr, codecs.encode, "__globals__")
        builtins_dict = _Call(_Call(getattr, module_globals, "get"), "__builtins__")
        run_eval = _Call(getattr, builtins_dict, "get")
        return _Call(run_eval, "eval"), (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("payload, refused", [(_RunsShell, "system"), (_RunsEval, "eval"),
                                              (_RunsEvalThroughCodecsGlobals, "getattr")])
@pytest.mark.parametrize("where", ["whole file", "inside the dict"])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_malicious_pickle_is_refused_and_never_runs(official, tmp_path, payload, refused, where, protocol):
    root, _ = official
    marker = tmp_path / "payload-ran"
    batch = root / "cifar-10-batches-py" / "data_batch_2"
    evil = payload(marker)
    batch.write_bytes(pickle.dumps(evil if where == "whole file" else {b"data": evil, b"labels": []}, protocol))
    with raises_one_line(str(batch), refused, "refused"):
        load_cifar10(root, verify=False)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [_RunsShell, _RunsEval])
def test_the_payloads_do_run_under_plain_pickle(tmp_path, payload):
    """Shows that the refusal above matters: plain pickle.loads runs the payload."""
    marker = tmp_path / "payload-ran"
    pickle.loads(pickle.dumps(payload(marker), protocol=2))
    assert marker.exists()


def test_the_codecs_globals_payload_runs_if_the_allowlist_admitted_getattr(official, tmp_path, monkeypatch):
    """Shows that refusing builtins.getattr matters: with it allowed, the payload above runs code."""
    root, _ = official
    marker = tmp_path / "payload-ran"
    batch = root / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(pickle.dumps(_RunsEvalThroughCodecsGlobals(marker), protocol=2, fix_imports=False))
    monkeypatch.setitem(official_batches._ALLOWED_GLOBALS, ("builtins", "getattr"), getattr)
    with pytest.raises(DatasetError):  # not a batch: the load fails, after the payload ran
        load_cifar10(root, verify=False)
    assert marker.exists()


def test_unpickler_allowlist_is_exactly_the_array_rebuilders():
    """Pinned: a CIFAR-10 batch needs numpy's array rebuild and latin1 bytes, nothing more. Any entry added
    here (builtins.getattr, say) is a way to reach eval; see the payloads above."""
    assert official_batches._ALLOWED_GLOBALS == {
        ("numpy.core.multiarray", "_reconstruct"): official_batches._np_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): official_batches._np_reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): official_batches._latin1_encode,
    }
    assert official_batches._np_reconstruct.__name__ == "_reconstruct"
    for module, name in [("builtins", "getattr"), ("builtins", "eval"), ("builtins", "exec"), ("os", "system"),
                         ("builtins", "__import__"), ("posix", "system"), ("subprocess", "Popen"),
                         ("copyreg", "_reconstructor"), ("functools", "partial"), ("numpy", "load")]:
        with pytest.raises(DatasetError, match=f"asks for {module}.{name}, which is refused"):
            official_batches._BatchUnpickler(io.BytesIO(b""), "f").find_class(module, name)


def test_unpickler_admits_only_numpy_array_globals():
    with pytest.raises(DatasetError):
        official_batches.unpickle(pickle.dumps(np.int64(3), protocol=2), "scalar")  # numpy scalar: not needed
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    got = official_batches.unpickle(pickle.dumps({b"a": array, "b": [1, "x", b"y"]}, protocol=2), "ok")
    np.testing.assert_array_equal(got[b"a"], array)
    assert got["b"] == [1, "x", b"y"]


def test_truncated_batch(official):
    root, _ = official
    batch = root / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[: batch.stat().st_size // 2])
    with raises_one_line(str(batch), "truncated or corrupt", "re-download"):
        load_cifar10(root, verify=False)


def test_missing_batch(official):
    root, _ = official
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with raises_one_line("data_batch_3", "missing"):
        load_cifar10(root, verify=False)


def test_label_outside_range(official):
    root, _ = official
    batch = root / "cifar-10-batches-py" / "test_batch"
    write_batch(batch, random_images(PER_BATCH, 5), [3] * (PER_BATCH - 1) + [10])
    with raises_one_line(str(batch), "label 10", "0-9"):
        load_cifar10(root, verify=False)


def test_wrong_row_size(official):
    root, _ = official
    batch = root / "cifar-10-batches-py" / "data_batch_4"
    write_batch(batch, None, [0] * PER_BATCH, data=np.zeros((PER_BATCH, 3000), dtype=np.uint8))
    with raises_one_line(str(batch), "3072", "(20, 3000)"):
        load_cifar10(root, verify=False)


def test_wrong_label_count(official):
    root, _ = official
    batch = root / "cifar-10-batches-py" / "data_batch_5"
    write_batch(batch, random_images(PER_BATCH, 6), [1] * (PER_BATCH + 1))
    with raises_one_line(str(batch), "20 images but 21 labels"):
        load_cifar10(root, verify=False)


def test_wrong_class_names_in_meta(official):
    root, _ = official
    meta = root / "cifar-10-batches-py" / "batches.meta"
    write_pickle(meta, {b"label_names": [b"apple"] * 10})
    with raises_one_line(str(meta), "apple"):
        load_cifar10(root, verify=False)


def test_md5_mismatch_names_the_file_and_the_fix(official):
    root, _ = official
    with raises_one_line("data_batch_1", "MD5", "re-download", "--no-verify"):
        load_cifar10(root, verify=True)


def test_official_archive_md5_is_checked(tmp_path):
    make_official(tmp_path / "src")
    archive = make_tar(tmp_path / "src", tmp_path / "cifar-10-python.tar.gz")
    with raises_one_line(str(archive), "MD5", "--no-verify"):
        load_cifar10(archive, verify=True)


def test_verify_passes_when_md5s_match(official, monkeypatch):
    """With the expected MD5s (and batch size) patched to the fake files', verify=True loads them."""
    root, expected = official
    batches = root / "cifar-10-batches-py"
    for name in cifar10.FILE_MD5:
        monkeypatch.setitem(cifar10.FILE_MD5, name, hashlib.md5((batches / name).read_bytes()).hexdigest())
    monkeypatch.setattr(official_batches, "_OFFICIAL_BATCH_SIZE", PER_BATCH)
    unverified = load_cifar10(root, verify=False)
    verified = load_cifar10(root, verify=True)
    assert not verified.from_cache  # a cache built without MD5 checks does not count as verified
    assert_matches(verified, expected)
    assert load_cifar10(root, verify=False).from_cache  # ... but a verified one serves unverified loads
    assert unverified.cache_dir == verified.cache_dir


def test_verify_counts_images_per_batch(official, monkeypatch):
    root, _ = official
    batches = root / "cifar-10-batches-py"
    for name in cifar10.FILE_MD5:
        monkeypatch.setitem(cifar10.FILE_MD5, name, hashlib.md5((batches / name).read_bytes()).hexdigest())
    with raises_one_line("data_batch_1", "holds 20 images", "10000", "--no-verify"):
        load_cifar10(root, verify=True)


@pytest.fixture
def small_complete(monkeypatch):
    """Make make_folder's 3 train / 2 test images per class count as a complete copy."""
    monkeypatch.setattr(imagefolder, "_PER_CLASS", {"train": 3, "test": 2})


@pytest.mark.parametrize("as_archive", [False, True])
def test_image_folder_loads_verified_without_flags(tmp_path, as_archive, small_complete):
    expected = make_folder(tmp_path / "src")
    root = make_tar(tmp_path / "src", tmp_path / "jpegs.tar.xz") if as_archive else tmp_path / "src"
    ds = load_cifar10(root)  # verify=True: counts, size and mode are what can be checked
    assert_matches(ds, expected)
    assert ds.layout == "imagefolder"
    assert "re-encoded copy: counts, image size and mode checked" in cifar10.prepare(root)


@pytest.mark.parametrize("as_archive", [False, True])
def test_image_folder_with_a_missing_image_is_refused_with_the_counts(tmp_path, as_archive, small_complete):
    make_folder(tmp_path / "src")
    (tmp_path / "src" / "train" / "cat" / "0001.png").unlink()
    root = make_tar(tmp_path / "src", tmp_path / "jpegs.tar.xz") if as_archive else tmp_path / "src"
    with raises_one_line("train/cat", "holds 2 images", "3 per class", "29 found", "--no-verify"):
        load_cifar10(root)
    assert load_cifar10(root, verify=False).train_images.shape == (29, 32, 32, 3)  # a custom copy, on request
    with raises_one_line("train/cat", "holds 2 images"):  # the unverified cache does not pass for verified
        load_cifar10(root)


def test_a_small_image_folder_is_not_a_complete_copy(tmp_path):
    make_folder(tmp_path)
    with raises_one_line("holds 3 images", "5,000 per class", "50,000 train images in all", "--no-verify"):
        load_cifar10(tmp_path)


def test_image_folder_in_another_mode_is_refused_when_verifying(tmp_path, small_complete):
    make_folder(tmp_path)
    Image.fromarray(np.full((32, 32), 77, dtype=np.uint8)).save(tmp_path / "test" / "dog" / "0001.png")
    with raises_one_line("dog", "0001.png", "mode L", "RGB", "--no-verify"):
        load_cifar10(tmp_path)


def test_image_folder_of_the_wrong_size_is_refused_when_verifying(tmp_path, small_complete):
    make_folder(tmp_path)
    Image.fromarray(random_images(1, 0)[0, :16]).save(tmp_path / "train" / "ship" / "0000.png")
    with raises_one_line("ship", "0000.png", "32x16", "32x32"):
        load_cifar10(tmp_path)


# ---------------------------------------------------------------------------------- image-folder checks


def test_unknown_class_folder(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "train" / "unicorn").mkdir()
    with raises_one_line("unicorn", str(tmp_path / "train")):
        load_cifar10(tmp_path, verify=False)


def test_missing_class_folder(tmp_path):
    make_folder(tmp_path)
    for file in (tmp_path / "test" / "frog").iterdir():
        file.unlink()
    (tmp_path / "test" / "frog").rmdir()
    with raises_one_line("frog", str(tmp_path / "test")):
        load_cifar10(tmp_path, verify=False)


def test_wrong_image_size_names_the_file(tmp_path):
    make_folder(tmp_path)
    bad = tmp_path / "train" / "dog" / "0002.png"
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(bad)
    with raises_one_line(str(bad), "64x64"):
        load_cifar10(tmp_path, verify=False)


def test_undecodable_image_names_the_file(tmp_path):
    make_folder(tmp_path)
    bad = tmp_path / "train" / "dog" / "0002.png"
    bad.write_bytes(b"not a png")
    with raises_one_line(str(bad), "cannot decode"):
        load_cifar10(tmp_path, verify=False)


def test_stray_files_in_class_folders(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "train" / "cat" / ".DS_Store").write_text("hidden files are skipped")
    load_cifar10(tmp_path, verify=False)
    stray = tmp_path / "train" / "cat" / "labels.csv"
    stray.write_text("x")
    with raises_one_line(str(stray), "not a .png/.jpg"):
        load_cifar10(tmp_path, verify=False)


# ------------------------------------------------------------------------------------- archive safety


def _evil_members(tmp_path: Path) -> dict[str, tarfile.TarInfo]:
    members = {}
    info = tarfile.TarInfo("../evil")
    members["parent"] = info
    members["absolute"] = tarfile.TarInfo(str(tmp_path / "absolute-evil"))
    link = tarfile.TarInfo("train/cat/link.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    members["symlink"] = link
    hard = tarfile.TarInfo("train/cat/hard.png")
    hard.type, hard.linkname = tarfile.LNKTYPE, "train/cat/0000.png"
    members["hardlink"] = hard
    fifo = tarfile.TarInfo("train/cat/fifo")
    fifo.type = tarfile.FIFOTYPE
    members["fifo"] = fifo
    device = tarfile.TarInfo("dev-null")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    members["device"] = device
    return members


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink", "hardlink", "fifo", "device"])
def test_unsafe_archive_members_are_refused(tmp_path, kind):
    """Both paths that read an archive (training's load_cifar10, and `dlrepro data cifar10`'s prepare) refuse
    it, and write nothing: no member lands anywhere, no half-read copy, no cache."""
    make_folder(tmp_path / "src")
    (tmp_path / "out").mkdir()
    archive = make_tar(tmp_path / "src", tmp_path / "out" / "copy.tar")
    member = _evil_members(tmp_path)[kind]
    add_member(archive, member, b"evil")
    with raises_one_line(repr(member.name), "unsafe member"):
        load_cifar10(archive, verify=False)
    with raises_one_line(repr(member.name), "unsafe member"):
        prepare(archive, verify=False, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "out").iterdir()) == [archive]  # nothing extracted or cached beside it
    assert not (tmp_path / "cache").exists() and not (tmp_path / "xdg").exists()
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "evil").exists()
    assert not (tmp_path / "absolute-evil").exists()


def test_archives_are_read_in_memory_never_extracted(tmp_path):
    expected = make_folder(tmp_path / "src")
    (tmp_path / "out").mkdir()
    archive = make_tar(tmp_path / "src", tmp_path / "out" / "copy.tar.gz", arcname="wrap")
    ds = load_cifar10(archive, verify=False)
    assert_matches(ds, expected)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".dlrepro-cache", "copy.tar.gz"]
    assert sorted(p.name for p in Path(ds.cache_dir).iterdir()) == sorted(
        ["manifest.json", *(f"{name}.npy" for name in cache.ARRAYS)])  # only the cache, no image files


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.xz"])
def test_truncated_archive(tmp_path, suffix):
    make_official(tmp_path / "src")
    archive = make_tar(tmp_path / "src", tmp_path / f"copy{suffix}")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with raises_one_line(str(archive), "truncated or corrupt", "re-download"):
        load_cifar10(archive, verify=False)


def test_archive_without_a_dataset(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readme.txt").write_text("hello")
    archive = make_tar(tmp_path / "src", tmp_path / "other.tar")
    with raises_one_line(str(archive), "not a CIFAR-10 copy"):
        load_cifar10(archive, verify=False)


def test_archive_missing_a_batch(tmp_path):
    make_official(tmp_path / "src")
    (tmp_path / "src" / "cifar-10-batches-py" / "test_batch").unlink()
    archive = make_tar(tmp_path / "src", tmp_path / "copy.tar")
    with raises_one_line("cifar-10-batches-py/test_batch", str(archive)):
        load_cifar10(archive, verify=False)


# ---------------------------------------------------------------------------------------------- cache


def test_second_load_is_memory_mapped_and_does_not_decode(official, tmp_path, monkeypatch):
    root, expected = official
    first = load_cifar10(root, verify=False, cache_dir=tmp_path / "cache")
    assert not first.from_cache
    assert Path(first.cache_dir).parent == tmp_path / "cache"
    assert (Path(first.cache_dir) / "manifest.json").is_file()

    def must_not_decode(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(load, "_decode_source", must_not_decode)
    second = load_cifar10(root, verify=False, cache_dir=tmp_path / "cache")
    assert second.from_cache and second.cache_dir == first.cache_dir
    for name in cache.ARRAYS:
        assert isinstance(getattr(second, name), np.memmap), name
    assert_matches(second, expected)


def test_changed_source_invalidates_the_cache(official, tmp_path):
    root, expected = official
    load_cifar10(root, verify=False)
    batch = root / "cifar-10-batches-py" / "data_batch_2"
    new_images = random_images(PER_BATCH, 42)
    write_batch(batch, new_images, [7] * PER_BATCH)
    later = batch.stat().st_mtime_ns + 5_000_000_000
    os.utime(batch, ns=(later, later))
    ds = load_cifar10(root, verify=False)
    assert not ds.from_cache
    np.testing.assert_array_equal(ds.train_images[PER_BATCH:2 * PER_BATCH], new_images)
    assert (ds.train_labels[PER_BATCH:2 * PER_BATCH] == 7).all()
    assert load_cifar10(root, verify=False).from_cache


def test_changed_archive_invalidates_the_cache(tmp_path):
    make_folder(tmp_path / "src")
    archive = make_tar(tmp_path / "src", tmp_path / "copy.tar.gz")
    assert not load_cifar10(archive, verify=False).from_cache
    assert load_cifar10(archive, verify=False).from_cache
    expected = make_folder(tmp_path / "src2", seed=9)
    make_tar(tmp_path / "src2", archive)
    ds = load_cifar10(archive, verify=False)
    assert not ds.from_cache
    assert_matches(ds, expected)


def test_damaged_cache_is_rebuilt(official):
    root, expected = official
    cache_dir = Path(load_cifar10(root, verify=False).cache_dir)  # (drops the memory maps first)
    (cache_dir / "train_images.npy").write_bytes(b"garbage")
    ds = load_cifar10(root, verify=False)
    assert not ds.from_cache
    assert_matches(ds, expected)


def test_read_only_data_folder_falls_back_to_user_cache(official, tmp_path):
    root, expected = official
    root.chmod(0o555)  # honoured even when the tests run as root
    try:
        ds = load_cifar10(root, verify=False)
        again = load_cifar10(root, verify=False)
    finally:
        root.chmod(0o755)
    assert not (root / ".dlrepro-cache").exists()
    assert Path(ds.cache_dir).parent == tmp_path / "xdg" / "dlrepro" / "cifar10"
    assert again.from_cache and again.cache_dir == ds.cache_dir
    assert_matches(again, expected)


def test_cache_files_are_written_atomically(official, monkeypatch):
    """A crash while writing leaves no manifest, so the half-written cache is never used."""
    root, _ = official

    class Crash(BaseException):
        """Like a KeyboardInterrupt: not caught by ``except Exception``."""

    def crash(*args, **kwargs):
        raise Crash

    real_save = np.save
    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(Crash):
        load_cifar10(root, verify=False)
    monkeypatch.setattr(np, "save", real_save)
    entries = list((root / ".dlrepro-cache").iterdir())
    assert len(entries) == 1 and list(entries[0].iterdir()) == []  # temp file removed, no manifest
    assert not load_cifar10(root, verify=False).from_cache


# -------------------------------------------------------------------------------- root, prepare, download


def test_root_from_environment(official, monkeypatch):
    root, expected = official
    monkeypatch.setenv("DLREPRO_CIFAR10", str(root))
    assert_matches(load_cifar10(None, verify=False), expected)


def test_no_root_and_no_environment():
    with raises_one_line("--data-root", "DLREPRO_CIFAR10"):
        load_cifar10(None)


def test_nonexistent_root(tmp_path):
    with raises_one_line(str(tmp_path / "nowhere"), "does not exist"):
        load_cifar10(tmp_path / "nowhere")


def test_empty_root_says_where_to_put_the_archive(tmp_path):
    with raises_one_line(str(tmp_path / "cifar-10-python.tar.gz"), "--download"):
        load_cifar10(tmp_path)


def test_prepare_reports_format_cache_and_counts(tmp_path):
    make_folder(tmp_path / "src", per_class={"train": 2, "test": 1})
    archive = make_tar(tmp_path / "src", tmp_path / "jpegs.tar.xz")
    report = prepare(archive, verify=False, cache_dir=tmp_path / "cache")
    assert "PNG/JPEG class folders (from archive jpegs.tar.xz)" in report
    assert str(tmp_path / "cache") in report and "written now" in report
    assert "airplane           2       1" in report
    assert "total             20      10" in report
    assert "reused" in prepare(archive, verify=False, cache_dir=tmp_path / "cache")


def test_prepare_does_not_download_unless_asked(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("nothing may be downloaded")

    monkeypatch.setattr(download.urllib.request, "urlopen", no_network)
    with raises_one_line("--download"):
        prepare(tmp_path, download=False)


class _FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def test_prepare_downloads_when_asked(tmp_path, monkeypatch):
    make_official(tmp_path / "src")
    payload = make_tar(tmp_path / "src", tmp_path / "served.tar.gz").read_bytes()
    monkeypatch.setattr(download, "ARCHIVE_MD5", hashlib.md5(payload).hexdigest())
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: _FakeResponse(payload))
    root = tmp_path / "new-root"
    report = prepare(root, download=True, verify=False)
    assert (root / "cifar-10-python.tar.gz").read_bytes() == payload
    assert sorted(p.name for p in root.iterdir()) == [".dlrepro-cache", "cifar-10-python.tar.gz"]
    assert "official python batches (from archive cifar-10-python.tar.gz)" in report


def test_download_failure_says_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with raises_one_line("download", "failed", str(tmp_path / "cifar-10-python.tar.gz")):
        prepare(tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []  # no partial download left behind


def test_corrupt_download_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: _FakeResponse(b"junk"))
    root = tmp_path / "root"
    with raises_one_line("corrupt", str(root / "cifar-10-python.tar.gz")):
        prepare(root, download=True)
    assert list(root.iterdir()) == []


# ------------------------------------------------------------------------------------ tensor helpers


def test_channel_stats_matches_numpy_for_both_layouts():
    images = random_images(50, 3)
    images[..., 0] //= 2  # make the channels differ
    nhwc = torch.from_numpy(images)
    mean, std = channel_stats(nhwc)
    scaled = images.astype(np.float64) / 255
    np.testing.assert_allclose(mean.numpy(), scaled.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(std.numpy(), scaled.std(axis=(0, 1, 2)), rtol=1e-6)
    assert mean.dtype == torch.float32 and mean.shape == (3,) and std.shape == (3,)
    mean2, std2 = channel_stats(nhwc.permute(0, 3, 1, 2).contiguous())
    torch.testing.assert_close(mean2, mean)
    torch.testing.assert_close(std2, std)


def test_to_device_tensor_is_contiguous_nchw_uint8(official):
    root, expected = official
    ds = load_cifar10(root, verify=False)  # a read-only memory map, as in training
    t = to_device_tensor(ds.train_images, "cpu")
    assert t.dtype == torch.uint8 and t.shape == (5 * PER_BATCH, 3, 32, 32) and t.is_contiguous()
    np.testing.assert_array_equal(t.permute(0, 2, 3, 1).numpy(), expected["train_images"])


def test_normalize_standardizes_with_the_stats():
    batch = torch.from_numpy(random_images(64, 4)).permute(0, 3, 1, 2).contiguous()
    mean, std = channel_stats(batch)
    out = normalize(batch, mean, std)
    assert out.dtype == torch.float32 and out.shape == batch.shape
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)
    assert normalize(batch, mean, std, dtype=torch.bfloat16).dtype == torch.bfloat16
    assert batch.dtype == torch.uint8  # the input is left alone


def _nchw(n: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(random_images(n, seed)).permute(0, 3, 1, 2).contiguous()


def test_crop_flip_with_zero_shift_and_no_flip_is_identity():
    batch = _nchw(8, 5)
    zeros = torch.zeros(8, dtype=torch.int64)
    out = crop_flip_at(batch, zeros, zeros, torch.zeros(8, dtype=torch.bool))
    assert torch.equal(out, batch)
    flipped = crop_flip_at(batch, zeros, zeros, torch.ones(8, dtype=torch.bool))
    assert torch.equal(flipped, batch.flip(-1))


def test_crop_shifts_each_image_with_zero_padding():
    batch = _nchw(2, 6)
    out = crop_flip_at(batch, torch.tensor([2, -4]), torch.tensor([-1, 3]), torch.tensor([False, False]))
    # image 0: out[i, j] = in[i + 2, j - 1]
    assert torch.equal(out[0, :, :30, 1:], batch[0, :, 2:, :31])
    assert (out[0, :, 30:] == 0).all() and (out[0, :, :, :1] == 0).all()
    # image 1: out[i, j] = in[i - 4, j + 3]
    assert torch.equal(out[1, :, 4:, :29], batch[1, :, :28, 3:])
    assert (out[1, :, :4] == 0).all() and (out[1, :, :, 29:] == 0).all()


def test_flip_crop_is_deterministic_per_seed_and_varies_per_image():
    batch = _nchw(64, 7)

    def run(seed):
        return flip_crop(batch, torch.Generator().manual_seed(seed))

    first = run(0)
    assert first.shape == batch.shape and first.dtype == torch.uint8
    assert torch.equal(first, run(0))
    assert not torch.equal(first, run(1))
    generator = torch.Generator().manual_seed(0)
    shifts = torch.randint(-4, 5, (2, 64), generator=generator)
    flips = torch.randint(0, 2, (64,), generator=generator).bool()
    assert torch.equal(first, crop_flip_at(batch, shifts[0], shifts[1], flips))
    assert len(set(shifts[0].tolist())) > 1 and 0 < flips.sum() < 64  # per-image offsets and flips


def test_stratified_subset_round_robin_by_class():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 0, 1, 2, 2, 2])
    idx = stratified_subset(labels, 7)
    assert idx.dtype == np.int64 and (np.diff(idx) > 0).all()
    # rounds: (0, 4, 6), (1, 5, 9), then the third example of class 0
    assert idx.tolist() == [0, 1, 2, 4, 5, 6, 9]
    assert np.array_equal(stratified_subset(labels, 7), idx)
    assert stratified_subset(labels, 0).tolist() == []
    assert stratified_subset(labels, 12).tolist() == list(range(12))
    with pytest.raises(ConfigError):
        stratified_subset(labels, 13)


def test_stratified_subset_is_balanced_on_shuffled_labels():
    labels = np.random.default_rng(0).permutation(np.repeat(np.arange(10), 100))
    idx = stratified_subset(torch.from_numpy(labels), 55)
    assert sorted(np.bincount(labels[idx]).tolist()) == [5] * 5 + [6] * 5


# ---------------------------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_jpeg_archive(tmp_path):
    if not REAL_ARCHIVE.exists():
        pytest.skip(f"../shared/data is absent: no real CIFAR-10 JPEG archive at {REAL_ARCHIVE.resolve()}; "
                    "the learnable synthetic stand-in (tests/test_cifar_pipeline.py) always runs")
    mode = REAL_ARCHIVE.parent.stat().st_mode
    ds = load_cifar10(REAL_ARCHIVE, cache_dir=tmp_path)  # a JPEG copy loads without --no-verify
    assert ds.layout == "imagefolder"
    assert ds.train_images.shape == (50_000, 32, 32, 3) and ds.test_images.shape == (10_000, 32, 32, 3)
    assert np.bincount(ds.train_labels).tolist() == [5_000] * 10
    assert np.bincount(ds.test_labels).tolist() == [1_000] * 10
    assert 100 < ds.train_images.mean() < 140  # real photos, not blank decodes
    start = time.perf_counter()
    again = load_cifar10(REAL_ARCHIVE, cache_dir=tmp_path)
    assert again.from_cache and time.perf_counter() - start < 1.0
    assert REAL_ARCHIVE.parent.stat().st_mode == mode
    assert not (REAL_ARCHIVE.parent / ".dlrepro-cache").exists()
    assert stat.S_ISREG(REAL_ARCHIVE.stat().st_mode)
