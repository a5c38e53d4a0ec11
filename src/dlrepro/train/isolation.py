"""Running a user's code where its misbehaviour cannot take dlrepro down with it.

`in_child(fn, args, limit_s)` calls `fn(*args)` in a fresh (spawned) Python process and returns its result:
a `sys.exit()`, an `os._exit()`, a signal that kills the process (a segfault) or a hang past `limit_s`
becomes one ChildFailed line saying which, and the process is gone. The plugin check runs there, so a
user's module that exits or hangs as it is imported is refused before dlrepro itself imports it.

`describe_exit(code)` words a process's exit code ("exit code 3", "killed by signal SIGSEGV"), for the
sweep's workers as well.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from typing import Any

from dlrepro.errors import DlreproError, one_line

# the plugin check's time limit: a fresh process imports torch and the user's module, then runs a two-sample
# batch (DLREPRO_PLUGIN_CHECK_S: for the tests, not documented)
CHECK_LIMIT_S = float(os.environ.get("DLREPRO_PLUGIN_CHECK_S") or 300.0)


class ChildFailed(DlreproError):
    """The child process did not return a result: it exited, was killed or ran past its time limit."""


def describe_exit(code: int | None) -> str:
    """'exit code N' or 'killed by signal SIGNAME' for a process's exit code (negative: the signal)."""
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _child(conn, fn: Callable, args: tuple) -> None:
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except SystemExit as exc:
        result = ("error", f"called sys.exit({exc.code!r})")
    except BaseException as exc:  # noqa: B036 - whatever the user's code raises is the answer, as one line
        result = ("error", one_line(f"{type(exc).__name__}: {exc}", 300))
    conn.send(result)
    conn.close()


def in_child(fn: Callable, args: tuple = (), limit_s: float = CHECK_LIMIT_S, what: str = "the check") -> Any:
    """`fn(*args)` in a spawned process (picklable `fn`, `args` and result): its result, or ChildFailed when
    it raised (the exception's one line), exited, was killed, or ran longer than `limit_s` seconds."""
    ctx = mp.get_context("spawn")  # not fork: the parent may hold torch's thread pools
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args), daemon=True, name="dlrepro-check")
    proc.start()
    send.close()
    try:
        if not recv.poll(limit_s):
            raise ChildFailed(f"{what} did not finish within {limit_s:g} s (it hangs, or waits for something)")
        try:
            status, value = recv.recv()
        except (EOFError, OSError):  # the process ended without a word: os._exit, a signal
            proc.join(5)
            raise ChildFailed(f"{what} ended the process ({describe_exit(proc.exitcode)})") from None
        if status != "ok":
            raise ChildFailed(value)
        return value
    finally:
        recv.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
