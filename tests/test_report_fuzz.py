"""Property-based fuzzing (Hypothesis) of `dlrepro report` on a results folder: random corruptions of a real
(small) folder — bytes flipped, files cut short, replaced by other JSON, a garbage line, NaN, bad UTF-8, deep
nesting, a FIFO, a folder, a link out of the folder, a huge sparse file, a file removed — each give a report
(exit 0) or one line `dlrepro: error: ...` (exit 2). Never a traceback, never a hang, never a file outside the
folder read, changed or deleted (a sentinel folder beside it is compared entry by entry, mtimes included).

The default profile runs a few examples (CI stays fast); HYPOTHESIS_PROFILE=slow runs many more.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from dlrepro.cli import main  # noqa: E402
from helpers import no_hang, snapshot  # noqa: E402

SLOW = os.environ.get("HYPOTHESIS_PROFILE") == "slow"
SECRET = "0.0424242"  # only the sentinel's files hold it


def _json_values():
    scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
               | st.text(max_size=8))
    return st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                        | st.dictionaries(st.sampled_from(["config", "final", "status", "step", "epoch", "test_acc",
                                                           "trials", "title", "not_run", "hardware", "model"]),
                                          kids, max_size=4), max_leaves=12)


KINDS = ["truncate", "flip", "json", "garbage line", "nan", "not utf-8", "nested", "fifo", "folder", "link out",
         "huge", "delete", "empty", "field"]


def corrupt(path: Path, kind: str, data, sentinel: Path) -> None:
    """Corrupt the file at `path` in the way `kind` names, drawing details from `data`."""
    raw = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
    if path.is_dir() and not path.is_symlink():  # an earlier corruption made it a folder
        shutil.rmtree(path)
    if kind in ("fifo", "folder", "link out", "delete", "huge", "empty"):
        path.unlink(missing_ok=True)
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
        elif kind == "link out":
            target = data.draw(st.sampled_from(sorted(p for p in sentinel.rglob("*")) + [Path("/dev/zero")]))
            path.symlink_to(target)
        elif kind == "huge":
            with open(path, "wb") as f:
                f.truncate(data.draw(st.sampled_from([5 * 2**20, 70 * 2**20, 600 * 2**20])))
        elif kind == "empty":
            path.write_bytes(b"")
        return
    if kind == "truncate":
        new = raw[:data.draw(st.integers(0, max(len(raw) - 1, 0)))]
    elif kind == "flip":
        new = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 4))):
            if new:
                new[data.draw(st.integers(0, len(new) - 1))] = data.draw(st.integers(0, 255))
        new = bytes(new)
    elif kind == "json":
        new = json.dumps(data.draw(_json_values())).encode()
    elif kind == "garbage line":
        lines = raw.split(b"\n")
        at = data.draw(st.integers(0, len(lines)))
        lines.insert(at, data.draw(st.text(max_size=10)).encode("utf-8", "surrogatepass"))
        new = b"\n".join(lines)
    elif kind == "nan":
        new = raw.replace(b"0.5", data.draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999"])), 1)
    elif kind == "not utf-8":
        at = data.draw(st.integers(0, len(raw)))
        new = raw[:at] + b"\xff\xfe" + raw[at:]
    elif kind == "nested":
        depth = data.draw(st.sampled_from([50, 5000, 200_000]))
        new = (b"[" * depth + b"]" * depth) if data.draw(st.booleans()) else b'{"config": ' * depth + b"1" \
            + b"}" * depth
    else:  # "field": one key of a JSON object set to another value
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc:
            key = data.draw(st.sampled_from(sorted(doc)))
            doc[key] = data.draw(_json_values())
        new = json.dumps(doc).encode()
    path.unlink(missing_ok=True)
    path.write_bytes(new)


def targets(out: Path) -> list[str]:
    """Every file of the folder the report reads or writes over, relative to it."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


@settings(max_examples=150 if SLOW else 8, deadline=None, derandomize=not SLOW,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_randomly_corrupted_results_folder_gives_a_report_or_one_line_and_touches_nothing_outside(
        base_results, data):
    with tempfile.TemporaryDirectory() as tmp:
        out, sentinel = Path(tmp) / "results", Path(tmp) / "sentinel"
        shutil.copytree(base_results, out, symlinks=True)
        (sentinel / "pictures").mkdir(parents=True)
        (sentinel / "pictures" / "holiday.png").write_bytes(b"\x89PNG not ours")
        (sentinel / "config.json").write_text(json.dumps({"config": {"model": "mlp-numpy", "lr": float(SECRET)}}))
        (sentinel / "study.json").write_text(json.dumps({"title": SECRET, "trials": []}))
        files = targets(out)
        for _ in range(data.draw(st.integers(1, 3), label="corruptions")):
            rel = data.draw(st.sampled_from(files), label="file")
            kind = data.draw(st.sampled_from(KINDS), label="kind")
            if (out / rel).parent.is_dir() and not (out / rel).parent.is_symlink():
                corrupt(out / rel, kind, data, sentinel)
        if data.draw(st.booleans(), label="a folder a link out"):
            folder = data.draw(st.sampled_from(["figures", "runs", "runs/toy", "runs/mine", "figures/mine"]))
            if os.path.lexists(out / folder) and (out / folder).parent.exists():
                shutil.rmtree(out / folder) if (out / folder).is_dir() and not (out / folder).is_symlink() \
                    else (out / folder).unlink()
                (out / folder).symlink_to(sentinel / "pictures")
        before = snapshot(sentinel)
        err, std = io.StringIO(), io.StringIO()
        with no_hang(60), contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
            code = main(["report", str(out)])  # an exception here is the traceback a user would see
        assert snapshot(sentinel) == before, "a file outside the results folder was touched"
        text = err.getvalue()
        if code == 2:
            assert text.startswith("dlrepro: error: ") and text.count("\n") == 1, text
            return
        assert code == 0, text
        report = (out / "report.md").read_text() + (out / "report.html").read_text()
        assert SECRET not in report, "a file outside the results folder was read"
        assert json.loads((out / "claims.json").read_text())["claims"]

