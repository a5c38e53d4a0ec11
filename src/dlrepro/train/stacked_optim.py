"""One elementwise update for S members that each have their own optimizer and learning rate.

The members' parameters live in one flat (S, P) tensor (`dlrepro.train.cnn_population`), so the whole
population's update is a dozen tensor ops, whatever the net and whichever optimizers the members use. Every
optimizer of dlrepro.registry.OPTIMIZERS["cnn"] (torch's defaults, no momentum, no weight decay) is one
row of coefficients of the same rule, with m the first and v the second moment, t the member's step count:

    m <- m_decay * m + m_gain * g
    v <- v_decay * v + v_gain * g * g
    p <- p - lr / (1 - corrected * m_decay^t) * m / (root * sqrt(v) / sqrt(1 - corrected * v_decay^t) + eps)

    adam     m_decay 0.9  m_gain 0.1  v_decay 0.999  v_gain 0.001  root 1  eps 1e-8   corrected
    sgd      m_decay 0    m_gain 1    v_decay 0      v_gain 0      root 0  eps 1      (p <- p - lr * g)
    adagrad  m_decay 0    m_gain 1    v_decay 1      v_gain 1      root 1  eps 1e-10
    rmsprop  m_decay 0    m_gain 1    v_decay 0.99   v_gain 0.01   root 1  eps 1e-8

tests/test_cnn_population.py checks each row against torch.optim. All coefficients and the step counts are
tensors on the device and every op is in place, so the update can be captured in a CUDA graph. A member's
state comes and goes in the form torch.optim's own optimizer writes (`member_state`, `load_member_state`),
so a member's checkpoint is its single run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Rule:
    m_decay: float
    m_gain: float
    v_decay: float
    v_gain: float
    root: float
    eps: float
    corrected: float
    state_names: tuple[str, ...]   # torch.optim's names for (m, v) that its state_dict holds
    eager_state: bool = False      # torch creates the state at construction (Adagrad), not at the first step


RULES: dict[str, Rule] = {
    "adam": Rule(0.9, 0.1, 0.999, 0.001, 1.0, 1e-8, 1.0, ("exp_avg", "exp_avg_sq")),
    "sgd": Rule(0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, ()),
    "adagrad": Rule(0.0, 1.0, 1.0, 1.0, 1.0, 1e-10, 0.0, ("sum",), eager_state=True),
    "rmsprop": Rule(0.0, 1.0, 0.99, 0.01, 1.0, 1e-8, 0.0, ("square_avg",)),
}


class StackedOptimizer:
    """The update above for `flat` (S, P), a leaf tensor whose .grad the backward pass fills. `members` is
    one (optimizer name, lr) per row; `param_groups` one torch.optim param_groups list per member (what its
    single run's optimizer writes in its state_dict); `shapes` the single model's parameter shapes in
    order (the columns of `flat`, concatenated)."""

    def __init__(self, flat: torch.Tensor, members: list[tuple[str, float]], param_groups: list[list[dict]],
                 shapes: list[torch.Size]):
        unknown = sorted({name for name, _ in members} - set(RULES))
        if unknown:
            raise ValueError(f"no stacked update for optimizer(s) {', '.join(unknown)}; choose from {', '.join(RULES)}")
        self.flat, self.names, self.param_groups, self.shapes = flat, [n for n, _ in members], param_groups, shapes
        device = flat.device

        def column(values: list[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=flat.dtype, device=device).view(-1, 1)

        rules = [RULES[name] for name in self.names]
        self.m_decay, self.m_gain = column([r.m_decay for r in rules]), column([r.m_gain for r in rules])
        self.v_decay, self.v_gain = column([r.v_decay for r in rules]), column([r.v_gain for r in rules])
        self.root, self.eps = column([r.root for r in rules]), column([r.eps for r in rules])
        self.corrected = column([r.corrected for r in rules])
        self.lr = column([lr for _, lr in members])
        self.active = column([1.0] * len(members))   # 0 for a frozen member: no update, no step counted
        self.t = column([0.0] * len(members))        # each member's step count
        self.m = torch.zeros_like(flat, requires_grad=False)
        self.v = torch.zeros_like(flat, requires_grad=False)

    @torch.no_grad()
    def step(self) -> None:
        g = self.flat.grad
        assert g is not None, "step() before backward()"
        g.mul_(self.active)  # a frozen member's gradient is zero (and so is its state)
        self.t.add_(self.active)
        self.m.mul_(self.m_decay).add_(g * self.m_gain)
        self.v.mul_(self.v_decay).addcmul_(g, g * self.v_gain)
        bc1 = (1 - self.corrected * self.m_decay.pow(self.t)).clamp_min_(1e-30)
        bc2 = (1 - self.corrected * self.v_decay.pow(self.t)).clamp_min_(1e-30)
        denom = (self.v.sqrt() * (self.root / bc2.sqrt())).add_(self.eps)
        self.flat.addcdiv_(self.m * (self.lr / bc1 * self.active), denom, value=-1.0)

    @torch.no_grad()
    def freeze(self, member: int) -> None:
        self.active[member] = 0.0
        self.m[member] = 0
        self.v[member] = 0

    def _columns(self, row: torch.Tensor) -> list[torch.Tensor]:
        return list(row.split([s.numel() for s in self.shapes]))

    def member_state(self, s: int) -> dict[str, Any]:
        """Member s's state as its single run's torch.optim state_dict."""
        rule = RULES[self.names[s]]
        state: dict[int, dict[str, Any]] = {}
        if rule.state_names and (rule.eager_state or float(self.t[s]) > 0):
            step = self.t[s, 0].detach().clone()
            moments = {"exp_avg": self.m, "exp_avg_sq": self.v} if len(rule.state_names) == 2 else \
                {rule.state_names[0]: self.v}
            cols = {k: self._columns(v[s]) for k, v in moments.items()}
            for i, shape in enumerate(self.shapes):
                state[i] = {"step": step.clone(), **{k: c[i].reshape(shape).clone() for k, c in cols.items()}}
        return {"state": state, "param_groups": [dict(g) for g in self.param_groups[s]]}

    @torch.no_grad()
    def load_member_state(self, s: int, state: dict[str, Any]) -> None:
        rule = RULES[self.names[s]]
        entries = state["state"]
        self.m[s], self.v[s], self.t[s] = 0, 0, 0
        if not entries:
            return
        first = entries[0] if 0 in entries else entries[str(0)] if "0" in entries else next(iter(entries.values()))
        self.t[s] = float(first["step"])
        targets = {"exp_avg": self.m, "exp_avg_sq": self.v} if len(rule.state_names) == 2 else \
            {rule.state_names[0]: self.v} if rule.state_names else {}
        for name, target in targets.items():
            parts = [entries[i if i in entries else str(i)][name].reshape(-1) for i in range(len(self.shapes))]
            target[s] = torch.cat(parts).to(target.device, target.dtype)
