"""Residual MLP stacks of the inverse-depth toy (arXiv 2602.05970; authors' code
liuyz0/DepthScaling ``exp/exp-9*.py``), batched over a leading *member* dimension.

One block (pre-RMSNorm, ReLU², the authors' names ``c_fc``/``c_proj``)::

    h ← h + c_proj( relu(c_fc(rmsnorm(h)))² )                           (Euler step)

and the second-order (RK2, midpoint) layer of ``exp-9-4.py``, two MLPs f₁, f₂ per layer::

    h ← h + f₂(h + ½ f₁(h)),   f(h) = c_proj(relu(c_fc(rmsnorm(h)))²)      (midpoint step)

A stack holds ``M`` members of up to ``K`` MLPs each: ``w_fc (M, K, H, d)``, ``b_fc (M, K, H)``,
``w_proj (M, K, d, H)``. Member ``k`` has ``depth[k]`` real layers; the blocks above it are
*frozen zero blocks* (``c_proj = 0``), which are exactly the identity, so a padded student is the
same function as the unpadded one. Members are kept sorted by depth (deepest first): block ``l``
then only needs to run on the first ``n_l`` members (those deeper than ``l``), which skips the
padding's compute without changing a single number (``skip_padding=False`` evaluates the zero
blocks instead; the tests check both agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

N_EMBD = 32  # model width d
HIDDEN = 4 * N_EMBD  # MLP hidden width (128)
VOCAB = 128  # logits of the shared head
INTEGRATORS = ("euler", "rk2")


def rmsnorm(x: torch.Tensor) -> torch.Tensor:
    """RMS normalisation over the last dimension, no gain (as the authors' ``rmsnorm``)."""
    return F.rms_norm(x, (x.size(-1),))


def mlps_per_layer(integrator: str) -> int:
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
    return 1 if integrator == "euler" else 2


@dataclass
class ResidualStack:
    """``M`` residual MLP stacks, padded to a common number of MLPs with zero blocks."""

    w_fc: torch.Tensor  # (M, K, H, d)
    b_fc: torch.Tensor  # (M, K, H)
    w_proj: torch.Tensor  # (M, K, d, H)
    depth: list[int]  # real layers of each member, non-increasing
    integrator: str = "euler"

    def __post_init__(self) -> None:
        per = mlps_per_layer(self.integrator)
        M, K = self.w_fc.shape[:2]
        if len(self.depth) != M:
            raise ValueError(f"{len(self.depth)} depths for {M} members")
        if any(a < b for a, b in zip(self.depth, self.depth[1:], strict=False)):
            raise ValueError(f"members must be sorted deepest first, got depths {self.depth}")
        if K != per * max(self.depth) or min(self.depth) < 1:
            raise ValueError(f"{K} MLPs do not hold depths {self.depth} ({self.integrator})")

    @property
    def n_members(self) -> int:
        return len(self.depth)

    @property
    def n_layers(self) -> int:
        return max(self.depth)

    def parameters(self) -> list[torch.Tensor]:
        return [self.w_fc, self.b_fc, self.w_proj]

    def active(self) -> torch.Tensor:
        """(M, K) bool: True for real MLPs, False for the frozen zero padding."""
        per = mlps_per_layer(self.integrator)
        k = torch.arange(self.w_fc.shape[1], device=self.w_fc.device)
        depth = torch.tensor(self.depth, device=self.w_fc.device)
        return k[None, :] < per * depth[:, None]

    def masks(self) -> list[torch.Tensor]:
        """Gradient masks (broadcastable to each parameter) that keep the padding frozen."""
        a = self.active().to(self.w_fc.dtype)
        return [a[:, :, None, None], a[:, :, None], a[:, :, None, None]]

    def member(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s real (unpadded) weights, detached, on the CPU."""
        n = mlps_per_layer(self.integrator) * self.depth[k]
        return {
            "w_fc": self.w_fc[k, :n].detach().cpu().clone(),
            "b_fc": self.b_fc[k, :n].detach().cpu().clone(),
            "w_proj": self.w_proj[k, :n].detach().cpu().clone(),
        }

    def requires_grad_(self, flag: bool = True) -> ResidualStack:
        for p in self.parameters():
            p.requires_grad_(flag)
        return self


def stack_members(weights: list[dict[str, torch.Tensor]], integrator: str = "euler",
                  device: torch.device | str = "cpu") -> ResidualStack:
    """Stack unpadded members (deepest first) into one padded :class:`ResidualStack`."""
    per = mlps_per_layer(integrator)
    depth = [w["w_fc"].shape[0] // per for w in weights]
    K = per * max(depth)

    def pad(t: torch.Tensor) -> torch.Tensor:
        out = torch.zeros((K,) + tuple(t.shape[1:]), dtype=t.dtype)
        out[: t.shape[0]] = t
        return out

    return ResidualStack(
        torch.stack([pad(w["w_fc"]) for w in weights]).to(device),
        torch.stack([pad(w["b_fc"]) for w in weights]).to(device),
        torch.stack([pad(w["w_proj"]) for w in weights]).to(device),
        depth, integrator,
    )


def mlp_update(x: torch.Tensor, w_fc: torch.Tensor, b_fc: torch.Tensor,
               w_proj: torch.Tensor) -> torch.Tensor:
    """f(h) = c_proj(relu(c_fc(rmsnorm(h)))²) for m members at once."""
    a = torch.baddbmm(b_fc.unsqueeze(1), rmsnorm(x), w_fc.transpose(1, 2))  # (m, B, H)
    return torch.bmm(torch.relu(a).square(), w_proj.transpose(1, 2))  # (m, B, d)


def forward(stack: ResidualStack, x: torch.Tensor, record: bool = False,
            skip_padding: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run the residual stream of every member.

    ``x`` (M, B, d) raw inputs. Returns ``rmsnorm(h_L)`` (M, B, d) and, if ``record``, the
    residual stream ``[h_0, …, h_L]`` after each layer (``h_0 = rmsnorm(x)``; a member shallower
    than ``L`` keeps its last state, its padding being the identity).
    """
    h, states = final_stream(stack, x, record, skip_padding)
    return rmsnorm(h), states


def final_stream(stack: ResidualStack, x: torch.Tensor, record: bool = False,
                 skip_padding: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """:func:`forward` without the final norm: ``h_L`` (M, B, d) and the recorded states."""
    per = mlps_per_layer(stack.integrator)
    h = rmsnorm(x)  # (M, B, d)
    states = [h] if record else []
    M = stack.n_members
    # unbind once: one backward node for all layers instead of a full-size slice per layer
    blocks = list(zip(stack.w_fc.unbind(1), stack.b_fc.unbind(1), stack.w_proj.unbind(1),
                      strict=True))  # K × ((M, H, d), (M, H), (M, d, H))
    for layer in range(stack.n_layers):
        n = sum(d > layer for d in stack.depth) if skip_padding else M  # members deeper
        hin = h[:n]  # (n, B, d)
        w = [t[:n] for t in blocks[per * layer]]
        if per == 1:
            hout = hin + mlp_update(hin, *w)
        else:
            w2 = [t[:n] for t in blocks[per * layer + 1]]
            mid = hin + 0.5 * mlp_update(hin, *w)
            hout = hin + mlp_update(mid, *w2)
        h = hout if n == M else torch.cat([hout, h[n:]], dim=0)  # (M, B, d)
        if record:
            states.append(h)
    return h, states


def teacher_forward(stack: ResidualStack, x: torch.Tensor) -> torch.Tensor:
    """:func:`forward`'s ``rmsnorm(h_L)`` (M, B, d) for a stack of teachers (Euler blocks, every
    member as deep as the stack), without autograd and with the ReLU² and the residual update
    written in place: no graph and two fewer temporaries per layer. The same numbers as
    :func:`forward` up to float32 rounding (tested); about a quarter faster on a CPU
    (``benchmarks/bench_depth.py``, ``teacher`` series)."""
    if stack.integrator != "euler" or min(stack.depth) != stack.n_layers:
        raise ValueError("teacher_forward takes unpadded Euler stacks (teachers)")
    with torch.no_grad():
        h = rmsnorm(x)  # (M, B, d)
        for w_fc, b_fc, w_proj in zip(stack.w_fc.unbind(1), stack.b_fc.unbind(1),
                                      stack.w_proj.unbind(1), strict=True):
            a = torch.baddbmm(b_fc.unsqueeze(1), rmsnorm(h), w_fc.transpose(1, 2))  # (M, B, H)
            h = torch.baddbmm(h, a.relu_().square_(), w_proj.transpose(1, 2))  # (M, B, d)
        return rmsnorm(h)


def stream_overflowed(h: torch.Tensor) -> torch.Tensor:
    """(M,) True where the residual stream ``h`` (M, B, d) left the float range for some input:
    its mean square is not finite. ``rmsnorm`` hides this (``rsqrt(inf) = 0`` gives a zero
    output and a finite loss), so a diverged student must be caught here, before the norm."""
    return ~torch.isfinite(h.square().mean(-1)).all(-1)


# ---- initialisation ------------------------------------------------------------------------


def _uniform(shape: tuple[int, ...], bound: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=gen) * 2 - 1) * bound


def init_mlps(n: int, gen: torch.Generator, proj_scale: float) -> dict[str, torch.Tensor]:
    """``n`` MLPs initialised as ``nn.Linear`` does (uniform ±1/√fan_in), ``c_proj`` times
    ``proj_scale`` (0 for a student, 1/√ℓ* for a teacher, as ``scale_projections_``)."""
    return {
        "w_fc": _uniform((n, HIDDEN, N_EMBD), 1 / math.sqrt(N_EMBD), gen),
        "b_fc": _uniform((n, HIDDEN), 1 / math.sqrt(N_EMBD), gen),
        "w_proj": _uniform((n, N_EMBD, HIDDEN), 1 / math.sqrt(HIDDEN), gen) * proj_scale,
    }


def teacher_weights(n_layers: int, rho: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """A deep teacher: layer weights ``w_l = ρ w_0 + √(1−ρ²) z_l`` with ``z_l`` independent.

    ρ = 0: independent layers (a random walk; the "ensemble-like" ground truth); ρ = 1: every
    layer tied to layer 0 (one vector field applied ℓ* times: smooth dynamics). These two are the
    authors' cases; ``c_proj`` is scaled by 1/√ℓ* so the independent teacher's total update is O(1).
    """
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [0, 1], got {rho}")
    w = init_mlps(n_layers, gen, proj_scale=1 / math.sqrt(n_layers))
    return {k: rho * v[:1] + math.sqrt(1 - rho**2) * v for k, v in w.items()}


def student_weights(depth: int, gen: torch.Generator, integrator: str = "euler"
                    ) -> dict[str, torch.Tensor]:
    """A student of ``depth`` layers with zero ``c_proj``: it starts as the identity map."""
    return init_mlps(mlps_per_layer(integrator) * depth, gen, proj_scale=0.0)


def head_weight(gen: torch.Generator) -> torch.Tensor:
    """The fixed random head shared by teacher and student, ``randn(d, V)/√d`` (exp-9-3)."""
    return torch.randn((N_EMBD, VOCAB), generator=gen) / math.sqrt(N_EMBD)


def own_head_weight(gen: torch.Generator) -> torch.Tensor:
    """A teacher's own head in the exp-9 setup, (d, V): an ``nn.Linear(d, V, bias=False)``
    weight at its default initialisation (uniform ±1/√d), transposed."""
    return _uniform((VOCAB, N_EMBD), 1 / math.sqrt(N_EMBD), gen).T.contiguous()


# ---- losses (shared by training and evaluation) --------------------------------------------


def kl_to_teacher(s_logits: torch.Tensor, t_logprobs: torch.Tensor) -> torch.Tensor:
    """KL(teacher ‖ student) per member, averaged over the batch: (M, B, V) -> (M,)."""
    s_logprobs = torch.log_softmax(s_logits, dim=-1)  # (M, B, V)
    return (t_logprobs.exp() * (t_logprobs - s_logprobs)).sum(-1).mean(-1)


def mse_to_teacher(s_out: torch.Tensor, t_out: torch.Tensor) -> torch.Tensor:
    """Mean squared error per member between RMS-normalised outputs: (M, B, d) -> (M,)."""
    return (s_out - t_out).square().mean(dim=(1, 2))
