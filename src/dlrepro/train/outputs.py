"""What a CIFAR-10 task's loss and accuracy read, and where its train metrics come from: the two settings by
which "the reference as its code ran" differs from the stated protocol, as plain parameters of the single
run (`dlrepro.train.cifar_task`) and the population (`dlrepro.train.cnn_population`) alike.

    outputs        logits         cross-entropy of the logits (the stated protocol)
                   softmax        cross-entropy of the softmax over the classes (a softmax layer in the net)
                   softmax-batch  cross-entropy of the softmax over the batch axis (dim 0 of each batch)
    train_metrics  eval           train loss and accuracy from a full pass over the training split in eval
                                  mode at each evaluation (the stated protocol)
                   running        the mean loss and accuracy of the current epoch's training batches, in
                                  train mode, as the steps computed them (an evaluation pass before any)

The accuracy is the argmax over the classes of what the loss reads (for `softmax` the same as the logits').
Under softmax-batch a prediction depends on its batch, so evaluation goes in training-size batches over one
fixed order of the split (`dlrepro.train.cifar_task.eval_order`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

OUTPUTS = ("logits", "softmax", "softmax-batch")
TRAIN_METRICS = ("eval", "running")


def check(outputs: str, train_metrics: str) -> None:
    if outputs not in OUTPUTS:
        raise ValueError(f"outputs must be one of {', '.join(OUTPUTS)}, got {outputs!r}")
    if train_metrics not in TRAIN_METRICS:
        raise ValueError(f"train_metrics must be one of {', '.join(TRAIN_METRICS)}, got {train_metrics!r}")


def loss_input(logits: torch.Tensor, outputs: str) -> torch.Tensor:
    """What the loss reads: `logits` (batch, classes) as they are, or a softmax over the classes or the batch."""
    if outputs == "logits":
        return logits
    return logits.softmax(dim=1 if outputs == "softmax" else 0)
