"""Part 3 task: train a VanillaRNN or LSTM on freshly drawn palindromes, one batch per step.

The initial weights come from `torch.Generator().manual_seed(seed)`, the training batches from the seed's
own DATA stream (`dlrepro.seeds`, independent of the weights), drawn on the CPU (then moved to --device,
so a GPU run sees the same data). The test set (1,024 palindromes by default) comes from a separate stream
that depends only on the input length, so every seed and cell is measured on the same sequences; where
the length leaves enough sequences (`palindrome.held_out_is_disjoint`) training never draws one of them.
Train metrics average the training batches since the last evaluation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlrepro import seeds
from dlrepro.data import palindrome
from dlrepro.models import LSTM, VanillaRNN
from dlrepro.train.config import RNNConfig
from dlrepro.train.device import resolve_device
from dlrepro.train.engine import BatchStats, Schedule, metrics_dict

HELD_OUT_SEED = 1_000_003
OPTIMIZERS = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def held_out_set(cfg: RNNConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(digits, targets) of the test set, and the keys training must exclude (None where it cannot)."""
    generator = torch.Generator().manual_seed(HELD_OUT_SEED + cfg.input_length)
    digits, target = palindrome.sample(cfg.test_size, cfg.input_length, generator)
    disjoint = palindrome.held_out_is_disjoint(cfg.input_length, cfg.test_size)
    return digits, target, palindrome.keys(digits) if disjoint else None


class PalindromeTask:
    def __init__(self, cfg: RNNConfig):
        self.cfg = cfg
        init = torch.Generator().manual_seed(cfg.seed)
        cell = VanillaRNN if cfg.cell == "rnn" else LSTM
        self.device = resolve_device(cfg.device)
        self.model = cell(palindrome.input_dim(cfg.one_hot), cfg.hidden, 10, generator=init).to(self.device)
        self.optimizer = OPTIMIZERS[cfg.optimizer](self.model.parameters(), lr=cfg.lr)
        self.stream = seeds.torch_generator(cfg.seed, seeds.DATA)
        digits, self.test_y, self.exclude = held_out_set(cfg)
        self.test_x, self.test_y = palindrome.encode(digits, cfg.one_hot).to(self.device), self.test_y.to(self.device)
        self.schedule = Schedule(total_steps=cfg.steps, eval_every=cfg.eval_every)

    def _batch(self, generator: torch.Generator):
        digits, target = palindrome.sample(self.cfg.batch_size, self.cfg.input_length, generator,
                                           exclude=self.exclude)  # on the CPU
        return palindrome.encode(digits, self.cfg.one_hot).to(self.device), target.to(self.device)

    def train_step(self, step: int):
        x, y = self._batch(self.stream)
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        return loss.detach() * len(y), (logits.detach().argmax(1) == y).sum(), len(y)

    @torch.no_grad()
    def _loss_acc(self, x, y) -> tuple[float, float]:
        logits = self.model(x)
        return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())

    def evaluate(self, batches: BatchStats) -> dict[str, float]:
        if batches.count:
            train = batches.means()
        else:  # step 0: the batch the first step will train on, without consuming the stream
            peek = torch.Generator()
            peek.set_state(self.stream.get_state())
            train = self._loss_acc(*self._batch(peek))
        return metrics_dict(train, self._loss_acc(self.test_x, self.test_y))

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "stream": self.stream.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.stream.set_state(state["stream"])
