"""The report's public surface, claim by claim: claims.json states the reference report's numbers (one table
here, written from the reference report's claims), and the verdict that report.md and report.html show for
each claim is the one claims.json holds, on a results folder that has all four verdicts.

Only `dlrepro report` and the files it writes are used, never the claims' Python (or TOML) definitions.
"""

import csv
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dlrepro.cli import main
from helpers import TOY, write_run

VERDICTS = ("reproduced", "differs", "not comparable", "not run")

# The reference report's numbers, per claim id: what each claim states (its text), and the tolerance or window
# of its rule where it has one. claims.json's `reference` must hold each of them (under whatever key); a claim
# that states no number (Adam 1e-4 best, Adagrad below Adam) has none here.
ACCURACY = {"toy-{}-moons-test": [1.0, 0.01], "toy-{}-circles-test": [1.0, 0.01],  # "reaches 100%"
            "toy-{}-classification-test": [0.995, 0.01],  # "99.5% test accuracy on classification"
            "toy-{}-classification-epoch": [75, 0.5]}  # "converges around epoch 75"
RNN = {"rnn-lr{}-len5-steps": [1000, 0.5], "rnn-lr{}-len10-steps": [3000, 0.5],  # "around step 1,000", 3,000
       "rnn-lr{}-len15-steps": [5500, 0.5], "rnn-lr{}-order": [5, 10, 15],  # 5,500; "slower for 5, 10, 15"
       "rnn-lr{}-len5-outliers": [1, 0.1],  # "100% with some outliers": at least 1, at most 10% of evaluations
       "rnn-lr{}-len20-chance": [8000, 0.5, 0.2],  # "about 10% (chance) before step ~8,000"
       "rnn-lr{}-len20-final": [0.35, 0.15]}  # "only about 35% after 10,000 steps"
# The reference's logged numbers (the issue's table of facts from its notebooks' saved outputs), per claim id:
# the numbers the claim must hold, and where the log holds them, (file, row key, column, row filter) for
# test_the_logged_claims_hold_the_logs_numbers when ../shared/reference-logs is there.
LOGGED = {
    "toy-mlp-torch-moons-loss-floor": ([0.3168, 0.01], ("part1_toy.tsv", "train_loss", "final",
                                                        {"dataset": "moons", "model": "torch"})),
    "toy-mlp-numpy-moons-epoch": ([40, 1.0, 0.5], ("part1_toy.tsv", "test_acc", 1.0,
                                                   {"dataset": "moons", "model": "numpy"})),
    "toy-mlp-torch-moons-epoch": ([90, 1.0, 0.5], ("part1_toy.tsv", "test_acc", 1.0,
                                                   {"dataset": "moons", "model": "torch"})),
    "toy-mlp-numpy-circles-epoch": ([20, 1.0, 0.5], ("part1_toy.tsv", "test_acc", 1.0,
                                                     {"dataset": "circles", "model": "numpy"})),
    "toy-mlp-torch-circles-epoch": ([50, 1.0, 0.5], ("part1_toy.tsv", "test_acc", 1.0,
                                                     {"dataset": "circles", "model": "torch"})),
    "cifar-mlp-final-test": ([0.391, 0.02], ("part1_cifar_mlp.log", "Test Acc", "final", {})),
    "cifar-mlp-final-train": ([0.412, 0.02], ("part1_cifar_mlp.log", "Train Acc", "final", {})),
    **{f"rnn-lr0.001-len{n}-loss-floor": ([1.4612, 0.01], ("part3_rnn_batch_acc.tsv", "loss", "final",
                                                          {"input_length": str(n)})) for n in (5, 10, 15)},
    **{f"rnn-lr0.001-len{n}-batch-steps": ([step, 0.99, 0.5], ("part3_rnn_batch_acc.tsv", "batch_acc", 0.99,
                                                              {"input_length": str(n)}))
       for n, step in ((5, 850), (10, 3030), (15, 5630))},
    "rnn-lr0.001-len20-batch-never": ([0.0, 0.99], ("part3_rnn_batch_acc.tsv", "batch_acc", "never",
                                                    {"input_length": "20"})),
    # 287 of the 915 logged batches after the first 0.99 (31%) dip below it: accepted 20%-50%
    "rnn-lr0.001-len5-unstable": ([0.99, 0.2, 0.5], ("part3_rnn_batch_acc.tsv", "batch_acc", "dips",
                                                     {"input_length": "5"})),
}
REFERENCE = {
    **{claim.format(model): numbers for claim, numbers in ACCURACY.items() for model in ("mlp-numpy", "mlp-torch")},
    "toy-mlp-numpy-classification-train": [0.9965, 0.005],  # 99.65% train accuracy
    "toy-mlp-torch-classification-train": [0.9985, 0.005],  # 99.85%
    "toy-faster-moons": [50, 100],  # "100% at epoch 50 vs 100"
    "toy-faster-circles": [25, 50],  # "100% at epoch 25 vs 50"
    "cifar-mlp-rises-stays-low": [0.1, 0.6],  # "rise but stay unsatisfactory": rises >= 0.10, best below 0.60
    "cnn-adam-1e-4-train": [0.89, 0.03],  # "train accuracy about 89%"
    "cnn-adam-1e-4-test": [0.80, 0.03],  # "test accuracy about 80%"
    "cnn-adam-1e-2-stuck": [0.18, 0.22],  # "stuck between 18% and 22%"
    "cnn-adam-1e-4-best": [],
    "cnn-sgd-1e-4-gap": [0.03],  # "almost the same train and test accuracy": within 0.03
    "cnn-adam-1e-6-rising": [0.005],  # "still rising at the end": gains >= 0.005
    "cnn-adagrad-below-adam": [],
    **{claim.format(lr): numbers for claim, numbers in RNN.items() for lr in ("0.001", "0.01")},
    **{cid: numbers for cid, (numbers, _) in LOGGED.items()},
}


def _claims(out) -> dict[str, dict]:
    return {c["id"]: c for c in json.loads((out / "claims.json").read_text())["claims"]}


def _numbers(value) -> list:
    """Every number in a JSON value (booleans are not numbers here)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else []


def test_every_claims_reference_is_the_reference_reports_number(tmp_path):
    assert main(["report", str(tmp_path)]) == 0  # an empty folder: every claim, not run
    claims = _claims(tmp_path)
    assert set(claims) == set(REFERENCE), "a claim was added or removed: add its numbers to REFERENCE"
    for cid, want in REFERENCE.items():
        have = _numbers(claims[cid]["reference"])
        missing = [n for n in want if n not in have]
        assert not missing, f"{cid}: the reference report's {missing} not in claims.json's {claims[cid]['reference']}"


LOGS = Path(__file__).resolve().parents[2] / "shared" / "reference-logs"


def _log_rows(name: str) -> list[dict]:
    """A reference log's rows: the .tsv files as tables, part1_cifar_mlp.log's 'Key value | ...' lines as dicts."""
    text = (LOGS / name).read_text()
    if name.endswith(".tsv"):
        return list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    return [dict(part.strip().rsplit(" ", 1) for part in line.split("|")) for line in text.splitlines() if line]


@pytest.mark.skipif(not LOGS.is_dir(), reason="the reference's logs (../shared/reference-logs) are not here")
def test_the_logged_claims_hold_the_logs_numbers(tmp_path):
    """Each claim taken from the reference's logs states what the log shows: its final value (to the log's
    rounding in the claim), the first epoch or step reaching the threshold, that it never does, or the share
    of dips after the first time it does."""
    assert main(["report", str(tmp_path)]) == 0
    claims = _claims(tmp_path)
    for cid, (_, (name, column, what, where)) in LOGGED.items():
        ref = claims[cid]["reference"]
        rows = [r for r in _log_rows(name) if all(r.get(k) == v for k, v in where.items())]
        at = [float(r.get("epoch", r.get("step", r.get("Epoch")))) for r in rows]
        vals = [float(r[column]) if r[column] else math.nan for r in rows]
        first = next((x for x, v in zip(at, vals, strict=True) if v >= ref.get("threshold", 0.99)), None)
        if what == "final":
            assert abs(vals[-1] - ref["value"]) <= 5e-4 + 1e-12, (cid, vals[-1])   # 0.3905 -> 0.391
        elif what == "never":
            assert first is None and max(vals) < ref["high"], cid
        elif what == "dips":
            later = [v for x, v in zip(at, vals, strict=True) if x >= first]
            share = sum(v < ref["threshold"] for v in later) / len(later)
            assert (sum(v < 0.99 for v in later), len(later)) == (287, 916), cid   # the first 0.99 and 915 after
            assert ref["fraction_at_least"] <= share <= ref["fraction_at_most"], (cid, share)
        else:
            assert ref["threshold"] == what and first == ref["value"], (cid, first)


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

    def claim_of(cell: str) -> str | None:  # a claim's text or id (also as [text], [text](#link) or [text][ref])
        cell = cell.strip()
        link = re.fullmatch(r"\[([^\]]+)\](?:\(.*\)|\[[^\]]*\])?", cell)
        return by_name.get(link.group(1) if link else cell)
    shown: dict[str, set[str]] = {}
    for header, *rows in tables:
        if "verdict" not in [h.strip().lower() for h in header]:
            continue
        for row in rows:
            named = {cid for c in row if (cid := claim_of(c))}
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
