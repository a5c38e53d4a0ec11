"""The built-in studies, by name, in the reference report's order: what `dlrepro reproduce` runs and what
`dlrepro report` writes a section for. A study's section function takes its loaded runs and the figures
folder; its trend function (optional) the same runs, for the summary line of a part none of whose claims
could be judged. The claims are in the study files (`[[claims]]`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlrepro.report.cifar import cifar_mlp_report, early_trend, optimizers_report
from dlrepro.report.document import Section
from dlrepro.report.palindrome import palindrome_report
from dlrepro.report.toy import toy_report
from dlrepro.runs.load import Run


@dataclass(frozen=True)
class BuiltinStudy:
    section: Callable[[list[Run], Path], Section]   # (runs, figure dir) -> the report's section
    trend: Callable[[list[Run]], str | None] | None = None   # runs -> an early trend in words (not a verdict)


REGISTRY: dict[str, BuiltinStudy] = {
    "toy": BuiltinStudy(toy_report),
    "cifar_mlp": BuiltinStudy(cifar_mlp_report),
    "optimizers": BuiltinStudy(optimizers_report, trend=early_trend),
    "palindrome": BuiltinStudy(palindrome_report),
}
STUDIES = list(REGISTRY)


@functools.cache
def studies_reading(source: str) -> tuple[str, ...]:
    """The built-in studies whose trials (in any profile) read the data source `source` (a
    dlrepro.registry.DATA_SOURCES key), from the study files themselves."""
    from dlrepro.studies.spec import load_study

    def reads(name: str) -> bool:
        study = load_study(name)
        return any(cfg.data_source == source for p in study.profiles for cfg in study.trials(p))

    return tuple(name for name in STUDIES if reads(name))
