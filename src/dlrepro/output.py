"""The command line's output streams, made safe to lose: printing never costs a result.

`dlrepro sweep ... | head -4` closes the pipe after four lines, and `dlrepro sweep ... >&-` starts with no
stdout at all. `guard_streams()` (called first by the CLI) makes both harmless:

- a standard stream whose file descriptor is closed gets /dev/null in its place, so no file the process
  opens later (a run's lock, runs.csv) takes descriptor 1 or 2 and receives what a worker prints;
- stdout and stderr are wrapped so that a write to a closed pipe (BrokenPipeError) points the descriptor at
  /dev/null and carries on quietly: the sweep goes on, and writes its results files, as if nobody read.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any, TextIO


class QuietPipe(io.TextIOBase):
    """A text stream that turns a broken pipe into silence (see the module docstring)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.broken = False

    def _lose(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())  # what is still buffered goes there too, without an error
            os.close(devnull)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._lose()

    def isatty(self) -> bool:
        try:
            return not self.broken and self.stream.isatty()
        except (ValueError, OSError):
            return False

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _reopen_closed(fd: int) -> bool:
    """Put /dev/null on standard descriptor `fd` if it is closed; whether it was."""
    try:
        os.fstat(fd)
        return False
    except OSError:
        pass
    opened = os.open(os.devnull, os.O_RDWR)
    if opened != fd:
        os.dup2(opened, fd)
        os.close(opened)
    return True


def guard_streams() -> None:
    """Make stdout and stderr safe to lose (see the module docstring). Idempotent."""
    for fd in (0, 1, 2):
        _reopen_closed(fd)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:  # the descriptor was closed when Python started
            stream = open(1 if name == "stdout" else 2, "w", encoding="utf-8", errors="replace", closefd=False)
        if not isinstance(stream, QuietPipe):
            setattr(sys, name, QuietPipe(stream))
