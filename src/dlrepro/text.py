"""How values are written for a reader, one formatter per kind of value, shared by the CLI, the claims and
the report: `show` a setting, `num` a count or an epoch or step, `fmt` a metric, `mean_std` a metric over
seeds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def show(v) -> str:
    """A setting's value: a list as 64-32, a large int with commas, a float in short (1e-3)."""
    if isinstance(v, list | tuple):
        return "-".join(map(str, v))
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
        return f"{v:,}"
    return f"{v:g}" if isinstance(v, float) else str(v)


def num(x: float) -> str:
    """A count, an epoch or a step: with commas, 'never' for inf."""
    return "never" if math.isinf(x) else f"{x:,.0f}" if float(x).is_integer() else f"{x:,g}"


def fmt(x, digits: int = 4) -> str:
    """A metric: `digits` decimals for a float, 'n/a' for none (None or NaN)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def mean_std(values: Iterable[float | None], digits: int = 3) -> str:
    """'0.912 +- 0.004' over seeds ('0.912' for one value, 'n/a' for none; None values are left out)."""
    present = [v for v in values if v is not None]
    if not present:
        return "n/a"
    if len(present) == 1:
        return f"{present[0]:.{digits}f}"
    return f"{statistics.mean(present):.{digits}f} +- {statistics.stdev(present):.{digits}f}"
