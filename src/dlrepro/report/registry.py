"""The built-in studies, by name, in the reference report's order: what `dlrepro reproduce` runs and what
`dlrepro report` writes a section and claims for. A study's section function takes its loaded runs and the
figures folder; its claims function the evidence of the profile that ran (dlrepro.report.load)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlrepro.report.cifar import cifar_mlp_report, optimizers_report
from dlrepro.report.claims import Claim, cifar_mlp_claims, optimizer_claims, palindrome_claims, toy_claims
from dlrepro.report.document import Section
from dlrepro.report.load import Evidence, Run
from dlrepro.report.palindrome import palindrome_report
from dlrepro.report.toy import toy_report


@dataclass(frozen=True)
class BuiltinStudy:
    section: Callable[[list[Run], Path], Section]   # (runs, figure dir) -> the report's section
    claims: Callable[[Evidence], list[Claim]]       # the reference report's claims about the study, judged


REGISTRY: dict[str, BuiltinStudy] = {
    "toy": BuiltinStudy(toy_report, toy_claims),
    "cifar_mlp": BuiltinStudy(cifar_mlp_report, cifar_mlp_claims),
    "optimizers": BuiltinStudy(optimizers_report, optimizer_claims),
    "palindrome": BuiltinStudy(palindrome_report, palindrome_claims),
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
