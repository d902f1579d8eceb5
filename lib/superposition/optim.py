"""The optimiser of the superposition toy: Adam with a *signed* decoupled row decay γ.

Liu, Liu & Gore (arXiv:2505.10465, §2; the authors' ``exp/adamw.py``) control superposition
with a weight decay on the rows ``W_i`` of ``W``, applied before the Adam step with the
current learning rate ``η``:

- ``γ ≥ 0`` (ordinary decay, pushes unused rows to zero: *weak* superposition)
  ``W_i ← W_i − η γ W_i``;
- ``γ < 0`` ("weight growth", pushes every row to unit norm: *strong* superposition)
  ``W_i ← W_i − η γ W_i (1/‖W_i‖ − 1)``.

The bias gets no decay. Adam betas (0.9, 0.999), eps 1e-8. The learning rates and schedules
below are the authors' (``exp-10.py``, ``exp-17.py``), given names and reasons.

Rules (``lr_rule``): ``'exp17_x100'`` is the authors' width sweep exactly, per-width learning
rates *and* the loss multiplied by :data:`EXP17_LOSS_SCALE` before ``backward()`` (which leaves
Adam's step unchanged except that its eps is 100× smaller relative to the gradient);
``'exp17'`` is the same learning rates without the loss scale (the book's default profile, kept
so that its numbers do not move); ``'exp10'`` is one rate ``1e-2`` (the phase diagram).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

EPS = 1e-8  # the authors add Adam's eps to the row norm before dividing


def decay_factor(W: torch.Tensor, gamma: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """Per-row multiplier of the signed decay: ``1 − η γ c_i`` with ``c_i = 1`` for γ ≥ 0 and
    ``c_i = 1/‖W_i‖ − 1`` for γ < 0.

    ``W`` (..., n, m); ``gamma`` and ``lr`` broadcast against the leading dims (...,).
    Returns (..., n, 1).
    """
    gamma = gamma.reshape(gamma.shape + (1, 1)).to(W.dtype)
    lr = lr.reshape(lr.shape + (1, 1)).to(W.dtype)
    norms = torch.linalg.vector_norm(W, dim=-1, keepdim=True) + EPS  # (..., n, 1)
    c = torch.where(gamma >= 0, torch.ones_like(norms), 1.0 / norms - 1.0)
    return 1.0 - lr * gamma * c


@torch.no_grad()
def signed_decay_(W: torch.Tensor, gamma: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """Apply the signed row decay in place to a stack ``W`` (M, n, m); ``gamma``, ``lr`` (M,)."""
    return W.mul_(decay_factor(W, gamma, lr))


# ---- learning rates and schedules ---------------------------------------------------------


def lr_w_exp17(m: int | torch.Tensor) -> float | torch.Tensor:
    """Peak learning rate of ``W`` at width ``m``: ``0.02 · (8/m)^{1/4}``.

    From the authors' large sweep ``exp/exp-17.py`` (n = 10240, m = 8…1024, the paper's Fig. 1
    and Fig. 8 toy numbers): narrower models take larger steps, mildly (fourth root).
    """
    return 0.02 * (8 / m) ** 0.25


def lr_b_exp17(m: int | torch.Tensor) -> float | torch.Tensor:
    """Peak learning rate of the bias at width ``m``: ``2/m`` (``exp/exp-17.py``). The bias
    absorbs the mean interference, which is larger at small ``m``."""
    return 2.0 / m


LR_EXP10 = 1e-2  # exp-10/exp-10-3/exp-15 (the phase diagram): one lr for W and b at every width

#: ``exp/exp-17.py`` (liuyz0/SuperpositionScaling) trains on ``loss = criteria(y, x) * 100`` and
#: logs ``loss.item() / 100``: the gradient reaching Adam is 100× the MSE's, so Adam's eps (1e-8)
#: acts as 1e-10 would on the unscaled gradient. exp-10 trains on the plain MSE.
EXP17_LOSS_SCALE = 100.0
LR_RULES = ("exp17", "exp17_x100", "exp10")


def loss_scale(rule: str) -> float:
    """Factor on the training loss before ``backward()`` under ``rule`` (the gradient that
    reaches Adam is multiplied by it; the logged loss is not): :data:`EXP17_LOSS_SCALE` for
    ``'exp17_x100'``, 1 otherwise."""
    if rule not in LR_RULES:
        raise ValueError(f"lr rule {rule!r} is unknown; allowed: {', '.join(LR_RULES)}")
    return EXP17_LOSS_SCALE if rule == "exp17_x100" else 1.0


def warmup_cosine(step: int, steps: int, warmup_frac: float, min_frac: float = 0.05) -> float:
    """LR multiplier at ``step`` (0-based): linear warm-up over ``warmup_frac·steps`` steps,
    then cosine decay to ``min_frac`` at the last step.

    The authors' ``get_lr`` (exp-10: warm-up 2,000 of 20,000 steps; exp-17: 5%), including its
    ``step + 1`` offset.
    """
    warm = int(steps * warmup_frac)
    s = step + 1
    if s < warm:
        return s / warm
    span = max(steps - warm, 1)
    return (1.0 - min_frac) * 0.5 * (1.0 + math.cos(math.pi * (s - warm) / span)) + min_frac


WARMUP_FRAC = {"exp17": 0.05, "exp17_x100": 0.05, "exp10": 0.10}


def member_lrs(
    widths: Iterable[int], rule: str, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak learning rates (lr_W, lr_b), each (M,), for members of the given widths.

    ``rule='exp17'`` or ``'exp17_x100'``: per-width rates of the width sweep
    (:func:`lr_w_exp17`, :func:`lr_b_exp17`); ``rule='exp10'``: ``1e-2`` for both at every width.
    """
    m = torch.tensor(list(widths), dtype=dtype)
    if rule in ("exp17", "exp17_x100"):
        return lr_w_exp17(m), lr_b_exp17(m)
    if rule == "exp10":
        return torch.full_like(m, LR_EXP10), torch.full_like(m, LR_EXP10)
    raise ValueError(f"lr rule {rule!r} is unknown; allowed: {', '.join(LR_RULES)}")


# ---- the one-model optimiser (the authors' way, for the loop and as the test reference) -----


class SignedAdamW(torch.optim.Optimizer):
    """``torch.optim`` Adam with the signed decoupled decay on the rows of 2-D parameters
    (a re-implementation of the semantics of the authors' ``exp/adamw.py``).

    Each group has ``lr`` and ``weight_decay`` (γ, any sign). Decay first, then Adam.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 (torch.optim signature)
        for group in self.param_groups:
            lr, gamma, eps = group["lr"], group["weight_decay"], group["eps"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                if gamma >= 0:
                    p.mul_(1 - lr * gamma)
                else:
                    norms = p.norm(dim=1, keepdim=True) + eps
                    p.add_(gamma * p * (1 - 1 / norms), alpha=lr)
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))
        return None
