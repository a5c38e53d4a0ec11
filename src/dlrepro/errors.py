"""Errors a user can fix. The CLI prints their message on one line and exits with code 2."""


class DlreproError(Exception):
    """Base class: bad input, a bad config, a run directory that holds something else."""


class ConfigError(DlreproError, ValueError):
    """An option or config value is invalid (unknown choice, out of range, unparsable)."""


class DatasetError(DlreproError):
    """A dataset is missing, corrupt, or not in a format we can read; the message says how to fix it."""
