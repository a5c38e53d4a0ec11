"""The built-in studies, by name, in the reference report's order: what `dlrepro reproduce` runs and what
`dlrepro report` writes a section for. A study's section function takes its loaded runs and the figures
folder; its trend function (optional) the same runs, for the summary line of a part none of whose claims
could be judged. The claims are in the study files (`[[claims]]`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlrepro.report.cifar import cifar_mlp_report, early_trend, optimizers_report
from dlrepro.report.document import Section
from dlrepro.report.load import Run
from dlrepro.report.palindrome import palindrome_report
from dlrepro.report.toy import toy_report


@dataclass(frozen=True)
class BuiltinStudy:
    section: Callable[[list[Run], Path], Section]   # (runs, figure dir) -> the report's section
    reads_cifar: bool = False                       # its runs need CIFAR-10
    trend: Callable[[list[Run]], str | None] | None = None   # runs -> an early trend in words (not a verdict)


REGISTRY: dict[str, BuiltinStudy] = {
    "toy": BuiltinStudy(toy_report),
    "cifar_mlp": BuiltinStudy(cifar_mlp_report, reads_cifar=True),
    "optimizers": BuiltinStudy(optimizers_report, reads_cifar=True, trend=early_trend),
    "palindrome": BuiltinStudy(palindrome_report),
}
STUDIES = list(REGISTRY)
CIFAR_STUDIES = [name for name, entry in REGISTRY.items() if entry.reads_cifar]
