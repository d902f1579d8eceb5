"""Batched training over a leading *member* dimension.

A sweep (widths, depths, temperatures, learning rates, seeds) is one tensor program: every
parameter tensor has shape ``(M, ...)`` and member ``k`` is the slice ``[k]``. The loss is summed
over members, so each member receives exactly the gradient it would get trained alone, and the
optimisers below apply a per-member learning rate (a tensor of shape ``(M,)``). Masks keep padded
entries (e.g. unused width columns) exactly zero: their gradient is zeroed before the update and
Adam's moments stay zero there.

How members are cut into chunks, seeded and named: :mod:`lib.core.sweep`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _per_member(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a (M,) tensor to broadcast over a (M, ...) parameter."""
    return x.reshape((-1,) + (1,) * (like.dim() - 1))


class BatchedSGD:
    """Plain SGD with a learning rate per member: ``p[k] -= lr[k] * grad[k]``."""

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: torch.Tensor,
        masks: Sequence[torch.Tensor | None] | None = None,
    ) -> None:
        self.params = list(params)
        self.lr = lr
        self.masks = list(masks) if masks is not None else [None] * len(self.params)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor] | None = None, scale: float = 1.0) -> None:
        """Update in place; ``grads`` defaults to each parameter's ``.grad``; ``scale`` is the
        schedule factor of this step (multiplies every member's lr)."""
        grads = grads if grads is not None else [p.grad for p in self.params]
        for p, g, m in zip(self.params, grads, self.masks, strict=True):
            if m is not None:
                g = g * m
            p.sub_(_per_member(self.lr * scale, p) * g)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class BatchedAdam:
    """Adam (Kingma & Ba; torch.optim.Adam semantics, no weight decay) with a per-member lr.

    Matches ``torch.optim.Adam(lr=lr[k], betas, eps)`` run on member ``k`` alone, to float
    rounding (tested member by member in ``tests/test_core_ensemble.py``).
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: torch.Tensor,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        masks: Sequence[torch.Tensor | None] | None = None,
    ) -> None:
        self.params = list(params)
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.masks = list(masks) if masks is not None else [None] * len(self.params)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor] | None = None, scale: float = 1.0) -> None:
        grads = grads if grads is not None else [p.grad for p in self.params]
        self.t += 1
        bc1 = 1 - self.beta1**self.t
        bc2 = 1 - self.beta2**self.t
        for p, g, m, v, mask in zip(
            self.params, grads, self.exp_avg, self.exp_avg_sq, self.masks, strict=True
        ):
            if mask is not None:
                g = g * mask
            m.lerp_(g, 1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            denom = (v / bc2).sqrt_().add_(self.eps)
            step = _per_member(self.lr * (scale / bc1), p)
            p.sub_(step * m / denom)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


def make_optimizer(
    name: str,
    params: Sequence[torch.Tensor],
    lr: torch.Tensor,
    masks: Sequence[torch.Tensor | None] | None = None,
) -> BatchedAdam | BatchedSGD:
    """'adam' or 'sgd', with a per-member learning-rate tensor."""
    if name == "adam":
        return BatchedAdam(params, lr, masks=masks)
    if name == "sgd":
        return BatchedSGD(params, lr, masks=masks)
    raise ValueError(f"parameter 'optimizer' = {name!r}: allowed: 'adam' or 'sgd'")
