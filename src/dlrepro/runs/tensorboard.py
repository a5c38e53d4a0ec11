"""Optional TensorBoard event files for a run (`--tensorboard`): the four metrics at every evaluation.

Written to <run>/tensorboard/ by an observer of the run directory; metrics.jsonl stays the source of truth.
"""

from __future__ import annotations

from pathlib import Path

from dlrepro.errors import DlreproError


class TensorBoardObserver:
    def __init__(self, run_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch's writer needs the tensorboard package
            raise DlreproError("--tensorboard needs TensorBoard: pip install 'dlrepro[tensorboard]'") from None
        self._make_writer = lambda: SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        self.writer = None  # created at the first row: the run directory must be claimed before

    def on_metrics(self, row: dict) -> None:
        if self.writer is None:
            self.writer = self._make_writer()
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            if row.get(key) is not None:
                split, metric = key.split("_")
                self.writer.add_scalar(f"{metric}/{split}", row[key], global_step=row["step"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_observers(run_dir: str | Path, tensorboard: bool) -> list:
    """The observers a sweep trial attaches to its run (each has `close()`)."""
    return [TensorBoardObserver(run_dir)] if tensorboard else []
