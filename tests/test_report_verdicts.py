"""The report's public surface, claim by claim: claims.json states the reference report's numbers (one table
here, written from the reference report's claims), and the verdict that report.md and report.html show for
each claim is the one claims.json holds, on a results folder that has all four verdicts.

Only `dlrepro report` and the files it writes are used, never the claims' Python (or TOML) definitions.
"""

import json
import re
from html.parser import HTMLParser

import pytest

from dlrepro.cli import main
from helpers import TOY, write_run

VERDICTS = ("reproduced", "differs", "not comparable", "not run")

# The reference report's numbers, per claim id, as claims.json's `reference` holds them (the rule's tolerance
# and window beside them). Claims that state no number carry the thresholds of our reading of their words.
REFERENCE = {
    **{f"toy-{m}-{d}-test": {"value": 1.0, "tolerance": 0.01, "one_sided": True, "metric": "test_acc"}
       for m in ("mlp-numpy", "mlp-torch") for d in ("moons", "circles")},  # "reaches 100% test accuracy"
    **{f"toy-{m}-classification-test": {"value": 0.995, "tolerance": 0.01, "one_sided": False, "metric": "test_acc"}
       for m in ("mlp-numpy", "mlp-torch")},  # "99.5% test accuracy on classification"
    "toy-mlp-numpy-classification-train": {"value": 0.9965, "tolerance": 0.005, "metric": "train_acc"},  # 99.65%
    "toy-mlp-torch-classification-train": {"value": 0.9985, "tolerance": 0.005, "metric": "train_acc"},  # 99.85%
    **{f"toy-{m}-classification-epoch": {"epoch": 75, "window": 0.5} for m in ("mlp-numpy", "mlp-torch")},
    "toy-faster-moons": {"numpy_epoch": 50, "torch_epoch": 100},  # 100% at epoch 50 vs 100
    "toy-faster-circles": {"numpy_epoch": 25, "torch_epoch": 50},  # 100% at epoch 25 vs 50
    "cifar-mlp-rises-stays-low": {"rise_at_least": 0.1, "best_below": 0.6},  # "rise but stay unsatisfactory"
    "cnn-adam-1e-4-train": {"value": 0.89, "tolerance": 0.03, "metric": "train_acc"},  # about 89%
    "cnn-adam-1e-4-test": {"value": 0.80, "tolerance": 0.03, "metric": "test_acc"},  # about 80%
    "cnn-adam-1e-2-stuck": {"low": 0.18, "high": 0.22},  # stuck between 18% and 22%
    "cnn-adam-1e-4-best": {"best": 1},
    "cnn-sgd-1e-4-gap": {"gap_at_most": 0.03},
    "cnn-adam-1e-6-rising": {"gain_at_least": 0.005},
    "cnn-adagrad-below-adam": {"below": 1},
    **{claim: ref for lr in ("0.001", "0.01") for claim, ref in {
        f"rnn-lr{lr}-len5-steps": {"step": 1000, "window": 0.5},  # 100% at length 5 around step 1,000
        f"rnn-lr{lr}-len10-steps": {"step": 3000, "window": 0.5},  # ... length 10, step 3,000
        f"rnn-lr{lr}-len15-steps": {"step": 5500, "window": 0.5},  # ... length 15, step 5,500
        f"rnn-lr{lr}-order": {"order": [5, 10, 15]},
        f"rnn-lr{lr}-len5-outliers": {"outliers_at_least": 1, "outlier_fraction_at_most": 0.1},
        f"rnn-lr{lr}-len20-chance": {"step": 8000, "window": 0.5, "chance_band": 0.2},  # chance until ~8,000
        f"rnn-lr{lr}-len20-final": {"value": 0.35, "tolerance": 0.15, "metric": "test_acc"},  # about 35%
    }.items()},
}


def _claims(out) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}


def test_every_claims_reference_is_the_reference_reports_number(tmp_path):
    assert main(["report", str(tmp_path)]) == 0  # an empty folder: every claim, not run
    claims = _claims(tmp_path)
    assert set(claims) == set(REFERENCE), "a claim was added or removed: add its numbers to REFERENCE"
    for cid, want in REFERENCE.items():
        got = claims[cid]["reference"]
        for key, value in want.items():
            same = got.get(key) == value and isinstance(got.get(key), bool) == isinstance(value, bool)
            assert same, (cid, key, got)


# --- the verdicts shown --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def four_verdicts(tmp_path_factory):
    """A results folder with toy runs only (no record: every run there counts): the NumPy MLP at the claims'
    settings reaches 1.0 on moons (reproduced) and 0.5 on circles (differs); the PyTorch MLP on moons ran
    2 epochs (not comparable); everything else is not run."""
    out = tmp_path_factory.mktemp("four")
    runs = out / "runs" / "toy"
    write_run(runs, {**TOY, "dataset": "moons"}, 1.0)
    write_run(runs, {**TOY, "dataset": "circles"}, 0.5)
    write_run(runs, {**TOY, "model": "mlp-torch", "epochs": 2, "eval_every": 1}, 1.0)
    assert main(["report", str(out)]) == 0
    claims = _claims(out)
    assert claims["toy-mlp-numpy-moons-test"]["verdict"] == "reproduced"
    assert claims["toy-mlp-numpy-circles-test"]["verdict"] == "differs"
    assert claims["toy-mlp-torch-moons-test"]["verdict"] == "not comparable"
    assert {c["verdict"] for c in claims.values()} == set(VERDICTS)
    return out, claims


_VERDICT_CELL = re.compile(r"^(?:\W\s+)?(" + "|".join(VERDICTS) + r")$")  # "differs", or with its symbol


def _shown_verdicts(tables: list[list[list[str]]], claims: dict[str, dict]) -> dict[str, set[str]]:
    """claim id -> the verdicts the rows naming that claim (by id or text) show, over every table that has a
    verdict column (the claims table, and any table of verdicts at the top)."""
    by_name = {name: cid for cid, c in claims.items() for name in (cid, c["text"])}
    assert len(by_name) == 2 * len(claims), "two claims share a text"
    shown: dict[str, set[str]] = {}
    for header, *rows in tables:
        if "verdict" not in [h.strip().lower() for h in header]:
            continue
        for row in rows:
            named = {by_name[c.strip()] for c in row if c.strip() in by_name}
            verdicts = [m.group(1) for c in row if (m := _VERDICT_CELL.match(c.strip()))]
            assert len(named) == 1 and len(verdicts) == 1, row
            shown.setdefault(named.pop(), set()).add(verdicts[0])
    return shown


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):  # not the separator line
                current.append([c for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


class _HtmlTables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _html_tables(text: str) -> list[list[list[str]]]:
    parser = _HtmlTables()
    parser.feed(text)
    return parser.tables


@pytest.mark.parametrize("page, tables_of", [("report.md", _markdown_tables), ("report.html", _html_tables)])
def test_the_verdicts_shown_are_claims_json_verdicts(four_verdicts, page, tables_of):
    out, claims = four_verdicts
    shown = _shown_verdicts(tables_of((out / page).read_text()), claims)
    assert set(shown) == set(claims), f"claims missing from {page}: {sorted(set(claims) - set(shown))}"
    wrong = {cid: (sorted(v), claims[cid]["verdict"]) for cid, v in shown.items() if v != {claims[cid]["verdict"]}}
    assert not wrong, f"{page} shows other verdicts than claims.json: {wrong}"
