"""Will it fit? The memory this machine has available, the check that refuses a size before anything is
allocated, and a recurrent cell's parameter count, counted on its class (for the configs' estimates)."""

from __future__ import annotations

import functools
import os

from dlrepro import registry
from dlrepro.errors import ConfigError

GiB = 2**30


def available_memory() -> int | None:
    """Bytes of memory this process can still get: MemAvailable from /proc/meminfo (or the free pages
    sysconf reports), capped by a cgroup (container) limit. None when unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            return None
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        used = open("/sys/fs/cgroup/memory.current").read().strip()
        if limit != "max":
            avail = min(avail, int(limit) - int(used))
    except (OSError, ValueError):
        pass
    return avail


def fits(needs: list[tuple[str, float, str]]) -> None:
    """Refuse sizes whose arrays cannot fit in the memory this machine has available, before anything is
    allocated. `needs`: (flag, bytes, what for) lower estimates of single allocations."""
    flag, need, what = max(needs, key=lambda n: n[1])
    avail = available_memory()
    if avail is not None and need > avail:
        raise ConfigError(f"{flag} needs about {need / GiB:,.0f} GiB for {what}; this machine has "
                          f"{avail / GiB:,.0f} GiB available")


@functools.cache
def cell_size(target: str, input_dim: int, num_classes: int = 10) -> tuple[int, int, int]:
    """(a, b, c) such that the cell class at `target` has a*h^2 + b*h + c parameters at hidden size h,
    counted on instances of the class at h = k, 2k, 3k for the first k in 1, 2, 4, ..., 64 the class accepts
    (a user's cell may refuse small sizes). `a` is its number of h x h matrices, its gates: 1 for the vanilla
    RNN, 3 for the GRU, 4 for the LSTM. Imports torch (and the class); the last refusal is raised."""
    cls = registry.load(target)
    for k in (1, 2, 4, 8, 16, 32, 64):
        try:
            p1, p2, p3 = (sum(t.numel() for t in cls(input_dim, h, num_classes).parameters())
                          for h in (k, 2 * k, 3 * k))
            break
        except Exception:
            if k == 64:
                raise
    # p(k) = a k^2 + b k + c: the second difference over steps of k is 2 a k^2
    a = (p3 - 2 * p2 + p1) // (2 * k * k)
    b = (p2 - p1 - 3 * a * k * k) // k
    return a, b, p1 - a * k * k - b * k
