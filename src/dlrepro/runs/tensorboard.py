"""Optional TensorBoard event files for a run (`--tensorboard`): the four metrics at every evaluation, and the
run's config as hyperparameters, so TensorBoard's HParams tab compares the runs of a sweep.

Written to <run>/tensorboard/ by an observer of the run directory; metrics.jsonl stays the source of truth.
A resumed run opens its writer with `purge_step` at its first new row: the events an interrupted process
wrote after its last checkpoint (the rows metrics.jsonl dropped on resume) are discarded by TensorBoard, so
every step appears once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from dlrepro.errors import DlreproError
from dlrepro.runs.rundir import RunDir, RunObserver

if TYPE_CHECKING:  # the module stays importable without torch; the writer is imported when used
    from torch.utils.tensorboard import SummaryWriter

SCALARS = {"train_loss": "loss/train", "train_acc": "acc/train", "test_loss": "loss/test", "test_acc": "acc/test"}


def hparam_value(value):
    """A config value as TensorBoard accepts it (bool, int, float or str)."""
    return value if isinstance(value, bool | int | float | str) else json.dumps(value)


class TensorBoardObserver(RunObserver):
    """Writes each metrics row as TensorBoard scalars under <run>/tensorboard/ (the config as hparams)."""

    def __init__(self, run_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch's writer needs the tensorboard package
            raise DlreproError("--tensorboard needs TensorBoard: pip install 'dlrepro[tensorboard]'") from None
        self.run_dir = Path(run_dir)
        self._writer_class = SummaryWriter
        # created at the first row: the run directory must be set up before
        self.writer: SummaryWriter | None = None

    def _open(self, first_step: int) -> SummaryWriter:
        from torch.utils.tensorboard.summary import hparams

        writer = self._writer_class(log_dir=str(self.run_dir / "tensorboard"), purge_step=first_step)
        config = RunDir(self.run_dir).stored_config() or {}
        exp, ssi, sei = hparams({k: hparam_value(v) for k, v in config.items()}, {tag: 0.0 for tag in SCALARS.values()})
        for summary in (exp, ssi, sei):
            # torch's SummaryWriter.__init__ sets the unannotated `file_writer` to None before opening it,
            # so type checkers infer None for an attribute that always holds a FileWriter here.
            writer.file_writer.add_summary(summary)  # type: ignore[attr-defined]
        return writer

    def on_metrics(self, row: dict) -> None:
        if self.writer is None:
            self.writer = self._open(row["step"])
        for key, tag in SCALARS.items():
            if row.get(key) is not None:
                self.writer.add_scalar(tag, row[key], global_step=row["step"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_observers(run_dir: str | Path, tensorboard: bool) -> list[RunObserver]:
    """The observers a run opens for itself (`execute_seeds` closes them)."""
    return [TensorBoardObserver(run_dir)] if tensorboard else []
