"""Errors a user can fix. The CLI prints their message on one line and exits with code 2."""

import contextlib
import os


class DlreproError(Exception):
    """Base class: bad input, a bad config, a run directory that holds something else."""


class ConfigError(DlreproError, ValueError):
    """An option or config value is invalid (unknown choice, out of range, unparsable)."""


class DatasetError(DlreproError):
    """A dataset is missing, corrupt, or not in a format we can read; the message says how to fix it."""


class RunBusy(DlreproError):
    """Another process holds the run directory's writer lock (see `dlrepro.runs.rundir.RunDir.writing`)."""



def os_error_text(exc: OSError) -> str:
    """'PATH: reason' for an OSError (disk full, permission denied, read-only filesystem)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


@contextlib.contextmanager
def naming(path, tmp=None):
    """Re-raise an OSError of the block with `path` as its filename: a failed write() names no file, and a
    failure on the temp file `tmp` of an atomic write is a failure to write `path` (the user's file)."""
    try:
        yield
    except OSError as exc:
        if exc.errno is not None and (exc.filename is None or tmp is not None and exc.filename in (tmp, str(tmp))):
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path)) from exc
        raise


def one_line(text: object, limit: int | None = None) -> str:
    """A message, or an exception's text, on one line: each run of whitespace (newlines too) becomes one
    space, so a multi-line parser error or a value's newline cannot split the error line; cut to `limit`
    characters when given."""
    line = " ".join(str(text).split()) or (type(text).__name__ if isinstance(text, BaseException) else "")
    return line if limit is None or len(line) <= limit else line[:limit - 3] + "..."
