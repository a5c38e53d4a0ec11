"""What a model emits into the cross-entropy loss, around its unchanged equations (its logits).

    logits          z itself (the stated protocol: cross-entropy applies the softmax)
    softmax         softmax(z) over the classes: cross-entropy then applies a second softmax, so the loss of
                    a fully confident prediction is ln(e + C - 1) - 1, never 0 (1.4612 for 10 classes)
    softmax-batch   softmax(z) over the batch axis: each class's column is shared by the batch's samples, so a
                    prediction depends on the rest of its batch
    sigmoid         sigmoid(z) per output (floor ln(e + 1) - 1 = 0.3133 for 2 classes)

The batch axis is the second to last: (B, C) for a single model, (S, B, C) for a seed population, so each
population member sees exactly its single run's outputs. Accuracy is the argmax of what is emitted (for
softmax and sigmoid, the logits' argmax; for softmax-batch, not).
"""

from __future__ import annotations

import torch


def emit(logits: torch.Tensor, outputs: str) -> torch.Tensor:
    """What the model emits into the loss under `outputs` (dlrepro.train.protocol.OUTPUTS)."""
    if outputs == "logits":
        return logits
    if outputs == "softmax":
        return logits.softmax(dim=-1)
    if outputs == "softmax-batch":
        return logits.softmax(dim=-2)
    if outputs == "sigmoid":
        return logits.sigmoid()
    raise ValueError(f"unknown outputs {outputs!r}")


def eval_batch_size(outputs: str, batch_size: int, default: int) -> int:
    """Samples per evaluation forward pass: `default` (any size gives the same outputs), except under
    softmax-batch, where a prediction depends on its batch: then the training batch size."""
    return batch_size if outputs == "softmax-batch" else default
