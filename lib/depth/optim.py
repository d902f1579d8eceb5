"""Adam over a padded :class:`~lib.depth.model.ResidualStack`, one learning rate per member.

Why not :class:`lib.core.ensemble.BatchedAdam`: that one updates every entry of the padded
``(M, K, …)`` tensors with ~10 separate elementwise passes, and on 2 CPU cores these passes cost
more than the forward pass of a depth sweep (measured: ``benchmarks/bench_depth.py``). Here each
member's *real* blocks ``p[k, :n_k]`` are contiguous views, so torch's fused Adam kernel
(``torch.optim.adam.adam(fused=True)``, the kernel behind ``torch.optim.Adam(fused=True)``)
updates them in one pass, one call per distinct learning rate. The padding is never touched:
it stays exactly zero (frozen), whatever gradient reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.optim.adam import adam

from lib.depth.model import ResidualStack, mlps_per_layer


class MemberAdam:
    """``torch.optim.Adam(lr=lr[k])`` on member ``k`` of ``stack`` alone, for every ``k``."""

    def __init__(self, stack: ResidualStack, lr: Sequence[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if len(lr) != stack.n_members:
            raise ValueError(f"{len(lr)} learning rates for {stack.n_members} members")
        self.stack, self.betas, self.eps = stack, betas, eps
        per = mlps_per_layer(stack.integrator)
        # one group per distinct learning rate: (member, number of real MLPs) pairs
        self.groups: dict[float, list[tuple[int, int]]] = {}
        for k, (rate, depth) in enumerate(zip(lr, stack.depth, strict=True)):
            self.groups.setdefault(float(rate), []).append((k, per * depth))
        self.exp_avg = [torch.zeros_like(p) for p in stack.parameters()]
        self.exp_avg_sq = [torch.zeros_like(p) for p in stack.parameters()]
        device = stack.w_fc.device
        self.steps = {rate: [torch.zeros((), dtype=torch.float32, device=device)
                             for _ in range(3 * len(members))]
                      for rate, members in self.groups.items()}

    def zero_grad(self) -> None:
        for p in self.stack.parameters():
            p.grad = None

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor] | None = None, scale: float = 1.0) -> None:
        """One Adam step with ``grads`` (default: each parameter's ``.grad``), padded shapes;
        ``scale`` multiplies every learning rate (the schedule)."""
        params = self.stack.parameters()
        grads = list(grads) if grads is not None else [p.grad for p in params]
        for rate, members in self.groups.items():
            views: list[list[torch.Tensor]] = [[], [], [], []]
            for k, n in members:
                for p, g, m, v in zip(params, grads, self.exp_avg, self.exp_avg_sq,
                                      strict=True):
                    views[0].append(p[k, :n])
                    views[1].append(g[k, :n])
                    views[2].append(m[k, :n])
                    views[3].append(v[k, :n])
            adam(*views, [], self.steps[rate], fused=True, amsgrad=False,
                 beta1=self.betas[0], beta2=self.betas[1], lr=rate * scale,
                 weight_decay=0.0, eps=self.eps, maximize=False)


class TensorAdam:
    """``torch.optim.Adam(lr=lr[k])`` on slice ``k`` of one (M, …) tensor, for every ``k``: the
    students' own heads (M, d, V) of the exp-9 setup. One fused call per distinct rate."""

    def __init__(self, param: torch.Tensor, lr: Sequence[float],
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if len(lr) != param.shape[0]:
            raise ValueError(f"{len(lr)} learning rates for {param.shape[0]} members")
        self.param, self.betas, self.eps = param, betas, eps
        self.groups: dict[float, list[int]] = {}
        for k, rate in enumerate(lr):
            self.groups.setdefault(float(rate), []).append(k)
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = {rate: [torch.zeros((), dtype=torch.float32, device=param.device)
                             for _ in ks] for rate, ks in self.groups.items()}

    @torch.no_grad()
    def step(self, grad: torch.Tensor, scale: float = 1.0) -> None:
        for rate, ks in self.groups.items():
            adam([self.param[k] for k in ks], [grad[k] for k in ks],
                 [self.exp_avg[k] for k in ks], [self.exp_avg_sq[k] for k in ks], [],
                 self.steps[rate], fused=True, amsgrad=False, beta1=self.betas[0],
                 beta2=self.betas[1], lr=rate * scale, weight_decay=0.0, eps=self.eps,
                 maximize=False)
