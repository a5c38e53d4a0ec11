"""Errors a user can fix. The CLI prints their message on one line and exits with code 2."""


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
