"""The toy model ``y = ReLU(W Wᵀ x + b)`` (Elhage et al. 2022; Liu, Liu & Gore, arXiv:2505.10465).

``W ∈ R^{n×m}``: row ``W_i`` is feature ``i``'s vector in the ``m``-dimensional hidden space,
``b ∈ R^n``. Two forms live here:

- :class:`FeatureRecovery`: one model, an ``nn.Module`` trained with autograd (the authors' way,
  used by the one-model loop and as the reference in tests);
- :func:`loss_and_grads`: a batch of ``M`` members stacked on a leading dimension, widths padded
  to the chunk's largest with zero columns, the input sparse, the gradient written out by hand
  (three batched matmuls). Padded columns get exactly zero gradient, so they stay zero.

Loss conventions: the authors train on ``nn.MSELoss`` (mean over samples *and* features); the
paper reports ``L = <‖y − x‖²>`` (sum over features), i.e. ``n`` times the code's number. The
gradient here is the code's (so Adam sees the authors' numbers); the logged loss is the paper's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lib.superposition.data import SparseBatch


class FeatureRecovery(nn.Module):
    """One model: ``y = ReLU(x W Wᵀ + b)`` with the authors' init ``W ~ N(0,1)/√m``,
    ``b ~ N(0,1)``."""

    def __init__(self, n: int, m: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        W, b = init_params(n, m, generator)
        self.W = nn.Parameter(W)  # (n, m)
        self.b = nn.Parameter(b)  # (n,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W @ self.W.T + self.b)  # (B, n)


def init_params(
    n: int, m: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``W ~ N(0,1)/√m`` of shape (n, m) and ``b ~ N(0,1)`` of shape (n,), on the CPU in
    float64 so that an init does not depend on the device or the chunk it is trained in."""
    W = torch.randn(n, m, generator=generator, dtype=torch.float64) / math.sqrt(m)
    b = torch.randn(n, generator=generator, dtype=torch.float64)
    return W, b


@torch.no_grad()
def loss_and_grads(
    W: torch.Tensor,
    b: torch.Tensor,
    batch: SparseBatch,
    importance: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-member paper loss and the gradients of the code loss (mean over samples × features).

    ``W`` (M, n, m), ``b`` (M, n); ``batch`` is shared by all members or, with
    ``batch.member``, one batch per member; ``importance`` (M, n) optionally weights each feature's
    squared error (Elhage et al.'s importance; used by the training-dynamics section).
    Returns ``loss`` (M,) = ``<Σ_i I_i (y_i − x_i)²>``, ``grad_W`` (M, n, m), ``grad_b`` (M, n).
    """
    M, n, m = W.shape
    B = batch.size
    rows, cols, vals = batch.rows, batch.cols, batch.vals.to(W.dtype)
    own = batch.member  # None: every member sees every entry; else entry k is member own[k]'s
    # encoder, sparse: h[b] = Σ_{active (b, i)} v · W_i
    if own is None:
        Wx = W[:, cols, :] * vals[:, None]  # (M, nnz, m)
        h = W.new_zeros(M, B, m).index_add_(1, rows, Wx)  # (M, B, m)
        at = (slice(None), rows, cols)  # the active entries of every member: (M, nnz)
    else:
        Wx = W[own, cols, :] * vals[:, None]  # (nnz, m)
        h = W.new_zeros(M * B, m).index_add_(0, own * B + rows, Wx).view(M, B, m)
        at = (own, rows, cols)  # each member's own active entries: (nnz,)

    def per_member(t: torch.Tensor) -> torch.Tensor:  # sum over active entries -> (M,)
        return t.sum(1) if own is None else t.new_zeros(M).index_add_(0, own, t)

    # decoder, dense: pre = h Wᵀ + b
    y = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2)).clamp_(min=0.0)  # (M, B, n)
    # Where x = 0 the residual is y itself and its ReLU gate is automatically right (y = 0 when
    # the pre-activation is ≤ 0). Only at the ~B active entries is the gate needed: there the
    # residual is y − v, and its gradient vanishes when y = 0 (pre-activation ≤ 0).
    y_act = y[at]
    r_act = y_act - vals
    g_act = torch.where(y_act > 0, r_act, torch.zeros_like(r_act))
    if importance is not None:
        w = importance.to(W.dtype)  # (M, n)
        w_act = w[:, cols] if own is None else w[own, cols]
        loss = (torch.einsum("mbn,mbn,mn->m", y, y, w)
                + per_member(w_act * (r_act**2 - y_act**2))) / B  # (M,)
        y[at] = g_act
        g = y.mul_(w.unsqueeze(1))  # (M, B, n), unscaled d(loss)/d(pre-activation)
    else:
        loss = (torch.linalg.vector_norm(y, dim=(1, 2)).square_()
                + per_member(r_act**2 - y_act**2)) / B  # (M,)
        y[at] = g_act
        g = y  # (M, B, n)
    scale = 2.0 / (B * n)  # d(code loss)/d(pre-activation) = scale · g
    grad_b = g.sum(1).mul_(scale)  # (M, n)
    grad_h = torch.bmm(g, W).mul_(scale)  # (M, B, m)
    grad_W = torch.bmm(g.transpose(1, 2), h).mul_(scale)  # (M, n, m)  decoder side
    if own is None:  # encoder side
        grad_W.index_add_(1, cols, grad_h[:, rows, :] * vals[:, None])
    else:
        grad_W.view(M * n, m).index_add_(0, own * n + cols, grad_h[own, rows, :] * vals[:, None])
    return loss, grad_W, grad_b
