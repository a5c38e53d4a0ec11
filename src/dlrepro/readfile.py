"""Reading a file that may be hostile: only a regular file is opened, and only up to a size limit.

A FIFO blocks whoever opens it for reading until a writer comes, and /dev/zero never ends; both are
refused here without blocking (the file is opened non-blocking and checked with fstat, so it cannot be
swapped between a check and the read). Used for the inputs a user hands over: study files, CIFAR-10 files,
the files of a run being resumed. `read_tail` reads only the end of such a file (a running trial's
metrics.jsonl, for the live progress).
"""

from __future__ import annotations

import os
import stat

from dlrepro.errors import DlreproError

MiB = 2**20


class FileRefused(DlreproError):
    """A file that is not read: not a regular file, or larger than such a file can be. `reason` is the
    message without the file's name ("is a FIFO, not a regular file; not read")."""

    def __init__(self, path: str | os.PathLike, reason: str, what: str = "file"):
        super().__init__(f"{what} {os.fspath(path)} {reason}")
        self.reason = reason


def file_kind(mode: int) -> str:
    """'a folder', 'a FIFO', 'a device' or 'a socket' for a non-regular file's st_mode."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket"


def read_regular(path: str | os.PathLike, limit: int, what: str = "file", follow: bool = True) -> bytes:
    """The bytes of the regular file at `path` (a last link followed unless `follow` is false), at most
    `limit` of them: FileRefused naming `path` for anything else. OSError (missing, unreadable) passes
    through."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(path, f"is {file_kind(st.st_mode)}, not a regular file; not read", what)
        if st.st_size > limit:
            raise FileRefused(path, f"is {st.st_size:,} bytes, more than the {limit:,} a {what} can be; not read",
                              what)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(MiB, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(path, f"grew past the {limit:,} bytes a {what} can be; not read", what)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_tail(path: str | os.PathLike, tail: int) -> tuple[bytes, bool]:
    """The last `tail` bytes of the regular file at `path` (no link followed, nothing blocks), and whether
    that is less than the whole file. FileRefused for anything but a regular file; OSError passes through
    (a link is ELOOP)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(path, f"is {file_kind(st.st_mode)}, not a regular file; not read")
        start = max(0, st.st_size - tail)
        return os.pread(fd, min(tail, st.st_size), start), start > 0
    finally:
        os.close(fd)
