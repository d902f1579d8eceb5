"""Hand-written forward and backward pass of a :class:`~lib.depth.model.ResidualStack`.

Why: autograd through a deep stack of tiny batched matmuls spends most of its time on
bookkeeping (a zero-filled full-size gradient for every sliced weight, pow/mul nodes for ReLU²,
copies), about half of a training step on 2 CPU cores. The gradient of one block is short, so the
sweep writes it out and accumulates straight into per-layer slices of preallocated gradient
tensors. ``tests/test_depth.py`` checks it against autograd through ``model.forward``.

For one MLP ``f(h) = W_p relu(W_f x̂ + b)²`` with ``x̂ = rmsnorm(h) = h·r``, ``r = (mean h² + ε)^-½``,
and ``g = ∂L/∂f``::

    ∂L/∂W_p = gᵀ s,   s = relu(a)²          ∂L/∂a = 2 relu(a) ⊙ (g W_p)
    ∂L/∂W_f = (∂L/∂a)ᵀ x̂,  ∂L/∂b = Σ_B ∂L/∂a,  ∂L/∂x̂ = (∂L/∂a) W_f
    ∂L/∂h = r (∂L/∂x̂ − x̂ ⟨∂L/∂x̂, x̂⟩/d)                                     (RMSNorm)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.depth.model import ResidualStack, mlps_per_layer


def _rms(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂, r) with x̂ = h·r, matching ``F.rms_norm`` (eps = float32 machine epsilon)."""
    r = torch.rsqrt(h.square().mean(-1, keepdim=True) + torch.finfo(h.dtype).eps)  # (n, B, 1)
    return h * r, r


def _rms_backward(g: torch.Tensor, xn: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    return r * (g - xn * (g * xn).mean(-1, keepdim=True))


@dataclass
class _MLPCache:
    xn: torch.Tensor  # (n, B, d) normalised input
    r: torch.Tensor  # (n, B, 1) inverse RMS
    act: torch.Tensor  # (n, B, H) relu(a)


def _mlp_forward(h: torch.Tensor, w_fc: torch.Tensor, b_fc: torch.Tensor,
                 w_proj: torch.Tensor) -> tuple[torch.Tensor, _MLPCache]:
    xn, r = _rms(h)  # (n, B, d)
    act = torch.baddbmm(b_fc.unsqueeze(1), xn, w_fc.transpose(1, 2)).relu_()  # (n, B, H)
    return torch.bmm(act * act, w_proj.transpose(1, 2)), _MLPCache(xn, r, act)  # (n, B, d)


def _mlp_backward(g: torch.Tensor, c: _MLPCache, w_fc: torch.Tensor, w_proj: torch.Tensor,
                  grads: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Write the weight gradients into ``grads`` (views) and return ∂L/∂h (n, B, d)."""
    g_fc, g_b, g_proj = grads
    torch.bmm(g.transpose(1, 2), c.act * c.act, out=g_proj)  # (n, d, H)
    ga = torch.bmm(g, w_proj).mul_(c.act).mul_(2.0)  # (n, B, H)
    torch.bmm(ga.transpose(1, 2), c.xn, out=g_fc)  # (n, H, d)
    torch.sum(ga, dim=1, out=g_b)  # (n, H)
    return _rms_backward(torch.bmm(ga, w_fc), c.xn, c.r)  # (n, B, d)


@dataclass
class StackCache:
    """What the backward pass needs from the forward pass."""

    caches: list[list[_MLPCache]]  # per layer, per MLP of the layer
    active: list[int]  # members deeper than each layer
    h_last: torch.Tensor  # (M, B, d) final residual stream
    xn_last: torch.Tensor
    r_last: torch.Tensor


def forward_cached(stack: ResidualStack, x: torch.Tensor) -> tuple[torch.Tensor, StackCache]:
    """``model.forward`` without autograd, keeping what :func:`backward` needs."""
    per = mlps_per_layer(stack.integrator)
    h, _ = _rms(x)  # (M, B, d)
    caches, active = [], []
    for layer in range(stack.n_layers):
        n = sum(d > layer for d in stack.depth)
        k = per * layer
        w1 = (stack.w_fc[:n, k], stack.b_fc[:n, k], stack.w_proj[:n, k])
        hin = h[:n]
        if per == 1:
            u, c1 = _mlp_forward(hin, *w1)
            layer_caches = [c1]
        else:
            w2 = (stack.w_fc[:n, k + 1], stack.b_fc[:n, k + 1], stack.w_proj[:n, k + 1])
            u1, c1 = _mlp_forward(hin, *w1)
            u, c2 = _mlp_forward(hin + 0.5 * u1, *w2)
            layer_caches = [c1, c2]
        h[:n] += u  # in place: the backward pass needs only the caches
        caches.append(layer_caches)
        active.append(n)
    z, r = _rms(h)
    return z, StackCache(caches, active, h, z, r)


def backward(stack: ResidualStack, cache: StackCache, g_z: torch.Tensor) -> list[torch.Tensor]:
    """Gradients ``[∂L/∂w_fc, ∂L/∂b_fc, ∂L/∂w_proj]`` (padded shapes, zero on the padding) given
    ``g_z = ∂L/∂z`` (M, B, d) for the output ``z = rmsnorm(h_L)`` of :func:`forward_cached`."""
    per = mlps_per_layer(stack.integrator)
    grads = [torch.zeros_like(p) for p in stack.parameters()]
    g = _rms_backward(g_z, cache.xn_last, cache.r_last)  # (M, B, d) = ∂L/∂h_L
    for layer in reversed(range(stack.n_layers)):
        n, k = cache.active[layer], per * layer
        gv = [gr[:n, k] for gr in grads]
        gn = g[:n]
        if per == 1:
            gn = gn + _mlp_backward(gn, cache.caches[layer][0], stack.w_fc[:n, k],
                                    stack.w_proj[:n, k], gv)
        else:  # h' = h + f2(m), m = h + f1(h)/2
            gv2 = [gr[:n, k + 1] for gr in grads]
            g_mid = _mlp_backward(gn, cache.caches[layer][1], stack.w_fc[:n, k + 1],
                                  stack.w_proj[:n, k + 1], gv2)  # ∂L/∂m
            gn = gn + g_mid + _mlp_backward(0.5 * g_mid, cache.caches[layer][0],
                                            stack.w_fc[:n, k], stack.w_proj[:n, k], gv)
        g = gn if n == g.shape[0] else torch.cat([gn, g[n:]], dim=0)
    return grads
