"""Atomic file writes, the one helper every writer uses (run files, the CIFAR-10 cache and download,
figures, the report): bytes go to a temp file beside the destination, are synced, and only then replace it.
On any failure (a full disk, an exception while writing) the temp file is removed and the destination keeps
its previous content. The temp file is named per process, so two processes writing one file never write
into each other's temp file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def naming(path: Path):
    """Re-raise an OSError of the block with `path` as its filename (a failed write() names no file)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
        raise


def temp_path(path: Path) -> Path:
    """The temp file beside `path` that an atomic write goes through: `.<name>.<pid>.tmp`."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def is_temp_of(name: str, files) -> bool:
    """Whether the file `name` is an atomic write's temp file of one of `files` (see `temp_path`)."""
    return name.startswith(".") and name.endswith(".tmp") and name[1:].rsplit(".", 2)[0] in files


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary file to write that appears at `path` only once the block ends without an error, fully
    written and synced. An OSError names `path`."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with naming(path), open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())
