"""Stacked PyTorch models: S copies of one architecture with their parameters stacked along a leading model
axis, so one batched matmul serves every member (a seed population, see `dlrepro.train.engine`).

`stack(models)` returns a model of the same class whose parameter `name` has shape (S, *shape) for a
matrix and (S, 1, n) for a bias (so that it broadcasts over a batch axis). Models written with `@` and
broadcasting, as `VanillaRNN` and `LSTM` are, then run unchanged on inputs with a leading model axis;
`mlp_forward` does the same for `MLP`, whose nn.Linear layers do not broadcast over stacked weights.
`member_state_dict` / `load_member_state_dict` translate between member s and the single model's
state_dict, so a member's checkpoint is exactly the single run's. `StackedMembers` holds a stacked model
and its optimizer member by member: per-member gradients, freezing and state.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from dlrepro.models.mlp import MLP

M = TypeVar("M", bound=nn.Module)


def _stacked_shape(shape: torch.Size) -> tuple[int, ...]:
    return (1, *shape) if len(shape) == 1 else tuple(shape)


def stack(models: Sequence[M]) -> M:
    """One model of the same class with every parameter stacked along a new leading axis."""
    stacked = copy.deepcopy(models[0])
    for name, _ in models[0].named_parameters():
        module_name, _, attr = name.rpartition(".")
        owner = stacked.get_submodule(module_name)
        params = [m.get_parameter(name).detach() for m in models]
        value = torch.stack([p.reshape(_stacked_shape(p.shape)) for p in params])
        setattr(owner, attr, nn.Parameter(value))
    return stacked


def mlp_forward(mlp: MLP, x: torch.Tensor) -> torch.Tensor:
    """`dlrepro.models.MLP.forward` for a stacked MLP: x (S, batch, ...) -> logits (S, batch, classes).
    Each Linear computes h W^T + b with W (S, out, in) and b (S, 1, out), as nn.Linear does per member."""
    h = x.flatten(2)
    for layer in mlp.net:
        h = torch.baddbmm(layer.bias, h, layer.weight.mT) if isinstance(layer, nn.Linear) else layer(h)
    return h


def stacked_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member mean cross-entropy (S,) of logits (S, B, C) against targets (S, B)."""
    S, B, C = logits.shape
    return F.cross_entropy(logits.reshape(S * B, C), y.reshape(S * B), reduction="none").view(S, B).mean(1)


def member_state_dict(stacked: nn.Module, s: int, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Member s as a state_dict with the keys and shapes of `like` (a single model's state_dict)."""
    own = stacked.state_dict()
    return {k: own[k][s].reshape(v.shape).clone() for k, v in like.items()}


def load_member_state_dict(stacked: nn.Module, s: int, state: dict[str, torch.Tensor]) -> None:
    own = stacked.state_dict()
    with torch.no_grad():
        for k, v in state.items():
            own[k][s].copy_(v.reshape(own[k][s].shape))


def member_optimizer_state(state: dict[str, Any], s: int, like: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Member s of a `torch.optim` state_dict taken over stacked parameters (elementwise optimizers:
    those of dlrepro.registry.OPTIMIZERS), in the form the single model's optimizer writes. `like` lists the single
    model's parameters in order."""
    shapes = [v.shape for v in like.values()]
    per_param: dict[int, dict[str, Any]] = {}
    for i, st in state["state"].items():
        per_param[i] = {k: (v[s].reshape(shapes[i]).clone() if torch.is_tensor(v) and v.ndim > 0 else
                            (v.clone() if torch.is_tensor(v) else v)) for k, v in st.items()}
    return {"state": per_param, "param_groups": copy.deepcopy(state["param_groups"])}


def load_member_optimizer_state(optimizer: torch.optim.Optimizer, s: int, state: dict[str, Any]) -> None:
    """Write member s's optimizer state (single-model form, as `member_optimizer_state` returns it) into an
    optimizer over stacked parameters; state the optimizer has not created yet starts as zeros."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    merged = optimizer.state_dict()
    for i, entry in state["state"].items():
        target = merged["state"].setdefault(int(i), {})
        for k, v in entry.items():
            if torch.is_tensor(v) and v.ndim > 0:
                if k not in target:
                    target[k] = v.new_zeros(params[int(i)].shape)
                target[k][s] = v.reshape(params[int(i)].shape[1:])
            else:
                target[k] = v
    optimizer.load_state_dict(merged)


class StackedMembers(Generic[M]):
    """A stacked model and the optimizer over its parameters, member by member. `like` is a single model's
    state_dict: member states come and go in its form, so a member's checkpoint is a single run's."""

    def __init__(self, model: M, optimizer: torch.optim.Optimizer, like: dict[str, torch.Tensor]):
        self.model, self.optimizer, self.like = model, optimizer, like
        self.size = next(model.parameters()).shape[0]
        self.active: torch.Tensor | None = None  # 1 for members that still train; None while all do

    def mask_gradients(self, coef: torch.Tensor | None = None) -> None:
        """Scale member s's gradients by coef[s] (clipping), zeroing frozen members'."""
        if self.active is not None:
            coef = self.active if coef is None else coef * self.active
        if coef is None:
            return
        for p in self.model.parameters():
            if p.grad is not None:
                p.grad.mul_(coef.to(p.dtype).view(-1, *[1] * (p.ndim - 1)))

    def freeze(self, member: int) -> None:
        """Zero member's weights and optimizer state; with its gradients masked to zero, it stays put."""
        if self.active is None:
            self.active = torch.ones(self.size, device=next(self.model.parameters()).device)
        self.active[member] = 0.0
        with torch.no_grad():
            for p in self.model.parameters():
                p[member] = 0
            for st in self.optimizer.state.values():
                for v in st.values():
                    if torch.is_tensor(v) and v.ndim > 0:
                        v[member] = 0

    def state_dict(self, member: int) -> dict[str, Any]:
        return {"model": member_state_dict(self.model, member, self.like),
                "optimizer": member_optimizer_state(self.optimizer.state_dict(), member, self.like)}

    def load_state_dict(self, member: int, state: dict[str, Any]) -> None:
        load_member_state_dict(self.model, member, state["model"])
        load_member_optimizer_state(self.optimizer, member, state["optimizer"])
