"""Property-based fuzzing (Hypothesis) of the CLI's flags and the TOML study schema: whatever the value,
the command either runs (the budgets stay tiny) or says one line `dlrepro...: error: ...` and exits 2.
Never a traceback, never another exit code.

Generated values are either tiny and valid, or out of range (negative, zero, beyond the bounds, not a
number, garbage text), so an accepted value never starts a long run. The default profile keeps CI to
under a minute; HYPOTHESIS_PROFILE=slow runs many more examples locally.
"""

import math
import os
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dlrepro.cli import main  # noqa: E402
from dlrepro.train.config import MAX_COUNT, MAX_EPOCHS, MAX_INPUT_LENGTH, MAX_SEED  # noqa: E402

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TRIED = {"inputs": 0, "ran": 0, "refused": 0}

garbage = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                  max_size=12)
huge = st.integers(min_value=MAX_COUNT + 1, max_value=2**80)
not_positive = st.integers(min_value=-(2**80), max_value=0)
any_float = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e-300, 1e300, -0.0])


def count(lo: int, hi: int, bound: int = MAX_COUNT):
    """A tiny valid count in lo..hi, or one out of range (<= 0, > bound)."""
    return st.integers(lo, hi) | not_positive | st.integers(min_value=bound + 1, max_value=2**80)


seed = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([0, MAX_SEED, MAX_SEED + 1, -1])
seeds_text = (st.tuples(st.integers(-3, MAX_SEED + 3), st.integers(0, 3)).map(lambda t: f"{t[0]}-{t[0] + t[1]}")
              | st.lists(st.integers(-2, 6), min_size=1, max_size=4).map(lambda xs: ",".join(map(str, xs)))
              | st.sampled_from(["0-100000", "3-1", "0-4294967296", "", ",", "0--1"]))
hidden_list = st.lists(count(1, 8, MAX_COUNT), min_size=1, max_size=3).map(lambda xs: ",".join(map(str, xs)))


def _text(strategy):
    return strategy.map(lambda v: repr(v) if isinstance(v, float) and not math.isfinite(v) else str(v)) | garbage


MLP_FLAGS = {
    "--dataset": st.sampled_from(["moons", "circles", "classification", "cifar10"]) | garbage,
    "--hidden": hidden_list | st.just("1," * 70 + "1") | garbage,
    "--lr": _text(any_float),
    "--batch-size": _text(count(1, 64)),
    "--epochs": _text(count(1, 2, MAX_EPOCHS)),
    "--eval-every": _text(count(1, 3)),
    "--n-samples": _text(count(1, 60)),
    "--data-seed": _text(seed),
    "--dtype": st.sampled_from(["float32", "float64"]) | garbage,
    "--seed": _text(seed),
    "--seeds": seeds_text | garbage,
    "--checkpoint-every": _text(any_float),
}
RNN_FLAGS = {
    "--cell": st.sampled_from(["rnn", "lstm"]) | garbage,
    "--input-length": _text(count(1, 4, MAX_INPUT_LENGTH)),
    "--hidden": _text(count(1, 8)),
    "--batch-size": _text(count(1, 16)),
    "--optimizer": st.sampled_from(["rmsprop", "adam", "sgd"]) | garbage,
    "--lr": _text(any_float),
    "--steps": _text(count(1, 4)),
    "--clip": _text(any_float),
    "--eval-every": _text(count(1, 3)),
    "--seed": _text(seed),
    "--seeds": seeds_text | garbage,
    "--checkpoint-every": _text(any_float),
}
TINY = {"mlp-numpy": ["--dataset", "moons", "--epochs", "1", "--n-samples", "40", "--batch-size", "8"],
        "mlp-torch": ["--dataset", "moons", "--epochs", "1", "--n-samples", "40", "--batch-size", "8"],
        "rnn": ["--input-length", "3", "--hidden", "8", "--batch-size", "8", "--steps", "3"]}


def _assert_runs_or_one_line(argv: list[str], capsys) -> None:
    TRIED["inputs"] += 1
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors (a bad choice, an unparsable number)
        code = exc.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, (argv, captured.err)
    TRIED["ran" if code == 0 else "refused"] += 1
    if code != 0:
        assert code == 2, (argv, code, captured.err)
        assert captured.err.count("\n") == 1, (argv, captured.err)
        assert captured.err.startswith("dlrepro") and ": error: " in captured.err, (argv, captured.err)


def _flags(table):
    return st.dictionaries(st.sampled_from(sorted(table)), st.none(), min_size=1, max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: table[k] for k in keys}))


def _argv(model: str, flags: dict, out: str) -> list[str]:
    argv = ["train", model, *TINY[model]]
    for flag, value in flags.items():
        argv += [f"{flag}={value}"]  # '=' so that values starting with '-' stay values
    return [*argv, "--quiet", "--out", out]


@given(model=st.sampled_from(["mlp-numpy", "mlp-torch"]), flags=_flags(MLP_FLAGS))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_mlp_flag_value_runs_or_is_one_line_exit_2(model, flags, capsys):
    if model == "mlp-torch" and flags.get("--dataset") == "cifar10":
        flags["--dataset"] = "moons"  # CIFAR-10 would be a long run (when the data is there at all)
    with tempfile.TemporaryDirectory() as tmp:
        _assert_runs_or_one_line(_argv(model, flags, str(Path(tmp) / "r")), capsys)


@given(flags=_flags(RNN_FLAGS))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_rnn_flag_value_runs_or_is_one_line_exit_2(flags, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        _assert_runs_or_one_line(_argv("rnn", flags, str(Path(tmp) / "r")), capsys)


# --- TOML studies ----------------------------------------------------------------------------------------
def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    raise TypeError(value)


scalar = (st.integers(-(2**63), 2**63 - 1) | any_float | st.booleans() | garbage
          | st.sampled_from(["mlp-numpy", "rnn", "moons", "lstm", "float32", "adam"]))
value = scalar | st.lists(scalar, max_size=3)
STUDY_KEYS = ["model", "dataset", "hidden", "lr", "batch_size", "epochs", "eval_every", "n_samples", "data_seed",
              "dtype", "seed", "cell", "input_length", "one_hot", "optimizer", "steps", "clip", "test_size",
              "device", "subset", "bogus", "optimizer_lr"]
TINY_STUDY = {"mlp-numpy": {"model": "mlp-numpy", "dataset": "moons", "epochs": 1, "n_samples": 40, "batch_size": 8},
              "rnn": {"model": "rnn", "input_length": 3, "hidden": 8, "batch_size": 8, "steps": 3, "test_size": 16}}
BUDGET = {"epochs": MAX_EPOCHS, "steps": MAX_COUNT, "n_samples": MAX_COUNT, "batch_size": MAX_COUNT,
          "hidden": MAX_COUNT, "input_length": MAX_INPUT_LENGTH, "test_size": MAX_COUNT, "subset": 50_000}


def _bounded(key, v):
    """Budget keys keep tiny values, or go out of range: an accepted value never means a long run."""
    if key in BUDGET and isinstance(v, int) and not isinstance(v, bool) and 64 < v <= BUDGET[key]:
        return BUDGET[key] + 1
    if key in BUDGET and isinstance(v, float) and math.isfinite(v) and 64 < v <= BUDGET[key]:
        return float(BUDGET[key] + 1)
    if isinstance(v, list):
        return [_bounded(key, x) for x in v]
    return v


@st.composite
def studies(draw):
    model = draw(st.sampled_from(["mlp-numpy", "rnn"]))
    fixed = dict(TINY_STUDY[model])
    for key in draw(st.lists(st.sampled_from(STUDY_KEYS), max_size=3, unique=True)):
        fixed[key] = _bounded(key, draw(value))
    grid = {}
    for key in draw(st.lists(st.sampled_from(STUDY_KEYS), max_size=2, unique=True)):
        values = draw(st.lists(value, max_size=2) | scalar)
        grid[key] = _bounded(key, values)
        fixed.pop(key, None)
    tables = draw(st.sampled_from([["study", "fixed", "grid"], ["study", "fixed", "grid", "profiles"],
                                   ["fixed", "grid", "extra"]]))
    lines = []
    for table in tables:
        if table == "study":
            name = draw(st.sampled_from(["fuzz", "../up", ".hidden", "ok-name"]) | garbage)
            lines += ["[study]", f"name = {_toml(name)}"]
        elif table in ("fixed", "grid"):
            lines.append(f"[{table}]")
            lines += [f"{k} = {_toml(v)}" for k, v in (fixed if table == "fixed" else grid).items()]
        elif table == "profiles":
            over = draw(st.dictionaries(st.sampled_from(STUDY_KEYS), value, max_size=1))
            lines += ["[profiles.smoke]", f"fixed = {_toml({k: _bounded(k, v) for k, v in over.items()})}"]
        else:
            lines += ["[extra]", "x = 1"]
    if draw(st.booleans()) and len(lines) > 1:
        lines[-1] = lines[-1][: len(lines[-1]) // 2]  # a torn file: maybe invalid TOML
    text = "\n".join(lines) + "\n"
    return text


@given(text=studies())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_study_file_runs_or_is_one_line_exit_2(text, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.toml"
        path.write_text(text)
        _assert_runs_or_one_line(["sweep", str(path), "--profile", "smoke", "--workers", "1",
                                  "--out", str(Path(tmp) / "out")], capsys)


@pytest.mark.parametrize("argv, needle", [
    (["--hidden", "1000000000"], "--hidden 1000000000 needs about "),
    (["--n-samples", "10000000000"], "--n-samples must be <= 1,000,000,000, got 10000000000"),
    (["--data-seed", "-1"], "--data-seed must be an integer in 0..4294967295, got -1"),
    (["--data-seed", "4294967296"], "--data-seed must be an integer in 0..4294967295, got 4294967296"),
    (["--seed", "4294967296"], "--seed must be an integer in 0..4294967295"),
    (["--seeds", "0-99999"], "--seeds lists more than 4096 seeds"),
])
def test_out_of_range_values_are_one_line_exit_2(argv, needle, capsys, tmp_path):
    from helpers import assert_usage_error

    assert_usage_error(["train", "mlp-numpy", "--dataset", "moons", *argv, "--out", str(tmp_path / "r")],
                       needle, capsys)
    assert not (tmp_path / "r").exists()


def test_a_size_beyond_this_machines_memory_is_refused_with_the_estimate(monkeypatch):
    from dlrepro.errors import ConfigError
    from dlrepro.train import config, memory

    monkeypatch.setattr(memory, "available_memory", lambda: 23 * 2**30)
    with pytest.raises(ConfigError, match=r"^--hidden 1000000000 needs about \d+ GiB for its weights and "
                                          r"gradients; this machine has 23 GiB available$"):
        config.MLPConfig(hidden=(10**9,)).validate()
    config.MLPConfig(hidden=(10**6,)).validate()  # 64 MB: fine
    with pytest.raises(ConfigError, match="--batch-size 100000000 needs about"):
        config.RNNConfig(batch_size=10**8).validate()


def _fake_files(files: dict[str, str]):
    """An `open` that serves `files` (path -> text) and has no other file."""
    import io

    def fake_open(path, *args, **kwargs):
        if str(path) not in files:
            raise FileNotFoundError(path)
        return io.StringIO(files[str(path)])
    return fake_open


MEMINFO = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n"


@pytest.mark.parametrize("files, want", [
    ({"/proc/meminfo": MEMINFO}, 8_000_000 * 1024),  # MemAvailable, in bytes
    ({"/proc/meminfo": MEMINFO, "/sys/fs/cgroup/memory.max": "max\n", "/sys/fs/cgroup/memory.current": "5\n"},
     8_000_000 * 1024),  # a cgroup without a limit
    ({"/proc/meminfo": MEMINFO, "/sys/fs/cgroup/memory.max": "3000000000\n",
      "/sys/fs/cgroup/memory.current": "1000000000\n"}, 2_000_000_000),  # the container's limit minus its use
])
def test_available_memory_reads_meminfo_capped_by_the_cgroup_limit(monkeypatch, files, want):
    from dlrepro.train import memory

    monkeypatch.setattr(memory, "open", _fake_files(files), raising=False)
    assert memory.available_memory() == want


def test_available_memory_falls_back_to_sysconf_then_unknown(monkeypatch):
    from dlrepro.train import memory

    monkeypatch.setattr(memory, "open", _fake_files({}), raising=False)
    pages = {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(memory.os, "sysconf", lambda name: pages[name])
    assert memory.available_memory() == 4_096_000
    monkeypatch.setattr(memory.os, "sysconf", lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert memory.available_memory() is None


def test_available_memory_on_this_machine_is_at_most_its_memory():
    from dlrepro.train import memory

    avail = memory.available_memory()
    with open("/proc/meminfo") as f:
        total = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    assert isinstance(avail, int) and 0 < avail <= total


# --- study-file types: a value of any TOML type at any place of a study file ------------------------------
toml_any = st.recursive(
    st.integers(-(2**70), 2**70) | any_float | st.booleans() | garbage
    | st.sampled_from(["1979-05-27T07:32:00Z", "07:32:00", "1979-05-27", "{}", "[]", "[[]]", "[{}]",
                       "9" * 4400, "[" * 40 + "]" * 40, "{a = {b = {c = 1}}}"]).map(lambda raw: _Raw(raw)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "seed", "fixed"]),
                                                                inner, max_size=2),
    max_leaves=6)


class _Raw(str):
    """TOML text written as it is (a datetime, an over-long integer, a nesting 40 deep)."""


def _toml_any(value) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_any(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_any(v)}' for k, v in value.items()) + " }"
    return _toml(value)


STUDY_PLACES = [("study", k) for k in ("name", "title", "description")] + [
    ("fixed", k) for k in STUDY_KEYS] + [("grid", k) for k in STUDY_KEYS] + [
    ("profiles.smoke", "fixed"), ("profiles.smoke", "grid"), ("profiles", "smoke"), ("", "study"), ("", "fixed"),
    ("", "grid"), ("", "profiles")]


@given(place=st.sampled_from(STUDY_PLACES), value=toml_any)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_a_value_of_any_type_anywhere_in_a_study_file_runs_or_is_one_line_exit_2(place, value, capsys):
    """A tiny valid study with one value replaced (or added) by one of any TOML type: the sweep's --dry-run
    lists it or says one line; the types are checked before anything runs, so no trial fails on them later."""
    table, key = place
    tables = {"study": {"name": '"fuzz-types"'}, "fixed": {k: _toml(v) for k, v in TINY_STUDY["rnn"].items()},
              "grid": {"seed": "[0]"}}
    line = f"{key} = {_toml_any(value)}"
    lines = [line] if not table else []
    for name, entries in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {v}" for k, v in entries.items() if (name, k) != place]
        if name == table:
            lines.append(line)
    if table.startswith("profiles"):
        lines += [f"[{table}]", line]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.toml"
        path.write_text("\n".join(lines) + "\n")
        _assert_runs_or_one_line(["sweep", str(path), "--profile", "smoke", "--dry-run", "--out", str(Path(tmp) / "o")],
                                 capsys)


def test_tally(capsys):
    """The fuzz tests above (run before this one) tried inputs of both kinds, and every input either ran or
    was refused in one line; prints the counts (run with -s to see them)."""
    with capsys.disabled():
        print(f"\nfuzz suite: {TRIED['inputs']} inputs tried, {TRIED['ran']} ran, {TRIED['refused']} refused "
              "in one line")
    if TRIED["inputs"] == 0:
        pytest.skip("no fuzz test ran in this session (run the module to get the tally)")
    assert TRIED["ran"] + TRIED["refused"] == TRIED["inputs"], TRIED
    assert TRIED["ran"] > 0 and TRIED["refused"] > 0, f"the generators produce only one kind of input: {TRIED}"
