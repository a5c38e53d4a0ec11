"""The built-in studies, by name, in the reference report's order: what `dlrepro reproduce` runs and what
`dlrepro report` writes a section and claims for. A study's section function takes its loaded runs and the
figures folder; its claims function the evidence of the profile that ran (dlrepro.report.load)."""

from __future__ import annotations

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
    reads_cifar: bool = False                       # its runs need CIFAR-10


REGISTRY: dict[str, BuiltinStudy] = {
    "toy": BuiltinStudy(toy_report, toy_claims),
    "cifar_mlp": BuiltinStudy(cifar_mlp_report, cifar_mlp_claims, reads_cifar=True),
    "optimizers": BuiltinStudy(optimizers_report, optimizer_claims, reads_cifar=True),
    "palindrome": BuiltinStudy(palindrome_report, palindrome_claims),
}
STUDIES = list(REGISTRY)
CIFAR_STUDIES = [name for name, entry in REGISTRY.items() if entry.reads_cifar]
