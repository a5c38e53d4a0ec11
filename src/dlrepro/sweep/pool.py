"""A process pool that knows which unit of work each worker runs, so that one unit's misbehaviour costs that
unit only, and an interrupt costs nothing that has not started.

- Each worker takes one unit at a time (nothing is queued inside a worker), so Ctrl-C (KeyboardInterrupt
  in the parent) starts nothing more: the running units are stopped (SIGTERM: a KeyboardInterrupt inside the
  worker, which leaves its run directories resumable, then SIGKILL after `STOP_GRACE_S`) and the interrupt
  is raised again. Workers ignore SIGINT, so a Ctrl-C at the terminal reaches the parent only.
- A worker that dies (os._exit, a signal, out of memory) fails the unit it was running with one line
  naming its exit ("exit code 0", "killed by signal SIGSEGV"), and a fresh worker takes the next unit.
- With a time limit, a unit running longer is stopped the same way and fails with one line.

`run_pool(units, fn, workers, ...)` calls `fn(unit)` in the workers and `on_result(index, result, error)`
in the parent as each unit ends (`error` a line when it did not return).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from dlrepro.errors import one_line
from dlrepro.train.isolation import describe_exit

STOP_GRACE_S = 10.0  # a stopped unit's time to unwind (its run directory's lock, a last row) before SIGKILL


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # the unit unwinds as on Ctrl-C: its run directory stays resumable


def _worker(conn: Connection, fn: Callable, initializer: Callable | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what a Ctrl-C stops
    signal.signal(signal.SIGTERM, _stop)
    try:
        if initializer is not None:
            initializer(*initargs)
        while True:
            job = conn.recv()
            if job is None:
                return
            index, unit = job
            try:
                reply: tuple = (index, "ok", fn(unit))
            except KeyboardInterrupt:
                return
            except SystemExit as exc:
                reply = (index, "error", f"called sys.exit({exc.code!r})")
            except BaseException as exc:  # noqa: B036 - the unit's failure, as one line, and the worker goes on
                reply = (index, "error", one_line(f"{type(exc).__name__}: {exc}", 500))
            conn.send(reply)
    except (KeyboardInterrupt, EOFError, OSError):  # stopped, or the parent is gone
        return


class _Slot:
    """One worker process and the unit it runs."""

    def __init__(self, ctx, fn: Callable, initializer: Callable | None, initargs: tuple) -> None:
        self.conn, child = ctx.Pipe()
        # not a daemon: a trial may start processes of its own (a user's class, a data loader); the pool
        # always stops and joins its workers, and they exit with the sweep (dlrepro.sweep.local.exit_with_parent)
        self.proc = ctx.Process(target=_worker, args=(child, fn, initializer, initargs), daemon=False,
                                name="dlrepro-worker")
        self.proc.start()
        child.close()
        self.index: int | None = None
        self.since = 0.0

    def give(self, index: int, unit: Any) -> None:
        self.conn.send((index, unit))
        self.index, self.since = index, time.monotonic()

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass


def stop_all(procs: Sequence, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM each live process, wait up to `grace_s` for them all, then SIGKILL what is left."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(5)


def run_pool(units: Sequence[Any], fn: Callable[[Any], Any], workers: int,
             on_result: Callable[[int, Any, str | None], None], *, initializer: Callable | None = None,
             initargs: Callable[[], tuple] | tuple = (), limit_s: float | None = None) -> None:
    """Run `fn(units[i])` for every i on `workers` spawned processes (see the module docstring); `initargs`
    may be a function returning each new worker's arguments. Returns when every unit has ended; an
    interrupt stops the workers and is raised again."""
    ctx = mp.get_context("spawn")  # not fork: the parent has imported torch, whose thread pools must not be forked

    def new_slot() -> _Slot:
        return _Slot(ctx, fn, initializer, initargs() if callable(initargs) else initargs)

    queue = list(range(len(units)))[::-1]
    size = max(1, min(workers, len(units)))
    slots: list[_Slot] = []
    try:
        while True:
            slots = [s for s in slots if s.index is not None or s.proc.is_alive()]
            while queue and len([s for s in slots if s.index is None]) < len(queue) and len(slots) < size:
                slots.append(new_slot())
            for s in slots:
                if s.index is None and queue:
                    i = queue.pop()
                    try:
                        s.give(i, units[i])
                    except OSError:  # it died while idle: the unit goes to a fresh one
                        queue.append(i)
            busy = [s for s in slots if s.index is not None]
            if not busy and not queue:
                break
            timeout = None
            if limit_s is not None and busy:
                timeout = max(0.0, min(s.since + limit_s for s in busy) - time.monotonic())
            ready = wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout) if busy else []
            for s in busy:
                error = None
                if s.conn in ready:
                    try:
                        index, status, value = s.conn.recv()
                    except (EOFError, OSError):
                        s.proc.join(5)
                        error = f"the worker process ended ({describe_exit(s.proc.exitcode)})"
                    else:
                        s.index = None
                        on_result(index, value if status == "ok" else None, None if status == "ok" else value)
                        continue
                elif s.proc.sentinel in ready:
                    s.proc.join(5)
                    error = f"the worker process ended ({describe_exit(s.proc.exitcode)})"
                elif limit_s is not None and time.monotonic() - s.since >= limit_s:
                    stop_all([s.proc])
                    error = f"did not finish within the trial time limit ({limit_s:g} s); stopped"
                if error is not None:
                    index, s.index = s.index, None
                    assert index is not None
                    if s.proc.is_alive():
                        stop_all([s.proc])
                    on_result(index, None, error)
    except BaseException:
        # an interrupt (or a failure of our own): start nothing more, stop what runs
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        try:
            stop_all([s.proc for s in slots])
        finally:
            signal.signal(signal.SIGINT, previous)
        raise
    for s in slots:
        s.close()
    for s in slots:
        s.proc.join(STOP_GRACE_S)
        if s.proc.is_alive():
            s.proc.kill()
            s.proc.join(5)
