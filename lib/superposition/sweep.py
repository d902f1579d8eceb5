"""Train a whole sweep of toy models (widths × γ × frequency laws × seeds) as batched chunks.

A *member* is one model: (width m, decay γ, frequency law, seed). Members that share a data
stream (same law and seed) are stacked on a leading dimension, widths padded to the chunk's
largest with zero columns, and trained in one tensor program (:func:`train_chunk`): one sparse
data batch per step is shared by the members of a chunk (they differ by width, γ and init), the
gradient is the hand-written one of :func:`lib.superposition.model.loss_and_grads`, the
optimiser is :class:`lib.core.ensemble.BatchedAdam` with per-member learning rates preceded by
the signed decay. :func:`train_alone` is the authors' way (one ``nn.Module`` at a time,
``torch.optim``, autograd, dense data) for the benchmark and the tests. Names, chunk planner and
seeds are the shared ones of :mod:`lib.core.sweep`.

Chunking (:func:`lib.core.sweep.plan_chunks`): members are grouped by data stream, sorted by
width and cut so that a chunk holds at most ``chunk_members`` and pads at most ``max_waste`` of
extra columns. On CUDA the bound is memory (:func:`chunk_memory_bytes`); on a CPU it is a
measured size (``benchmarks/bench_superposition.py``, numbers at :data:`CPU_CHUNK_MEMBERS`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from lib.core.divergence import finite_members
from lib.core.ensemble import BatchedAdam
from lib.core.sweep import generator, plan_chunks, stored_chunk
from lib.superposition.data import frequencies, sample_dense, sparse_stream
from lib.superposition.model import FeatureRecovery, init_params, loss_and_grads
from lib.superposition.optim import (
    WARMUP_FRAC,
    SignedAdamW,
    loss_scale,
    member_lrs,
    signed_decay_,
    warmup_cosine,
)

# Measured (benchmarks/bench_superposition.py, width × γ sweep of 20 models, n = 512, B = 256,
# 300 steps, 1 thread): CPU seconds 7.3 / 4.9 / 4.0 / 3.7 / 3.4 for chunks of at most
# 1 / 2 / 4 / 8 / 20 members, 20.5 for the authors' one-model loop. Beyond ~8 the padding rule
# below already caps the chunk, so 8 it is.
CPU_CHUNK_MEMBERS = 8
CPU_MAX_WASTE = 0.5  # at most 50% padded columns in a chunk


@dataclass(frozen=True)
class Member:
    """One model of a sweep. ``alpha`` is the exponent of the power law (ignored otherwise),
    ``scale`` the decay length of the exponential law."""

    width: int
    gamma: float
    law: str = "power"
    alpha: float = 1.2
    seed: int = 0
    scale: float = 400.0

    @property
    def stream(self) -> tuple:
        """Members with the same stream see the same data (same law, same seed)."""
        return (self.law, self.alpha if self.law == "power" else None,
                self.scale if self.law == "exponential" else None, self.seed)

    def label(self) -> str:
        law = {"power": f"power α={self.alpha:g}", "exponential": f"exp(−i/{self.scale:g})",
               "linear": "linear"}[self.law]
        return f"{law}, γ={self.gamma:g}, m={self.width}, seed={self.seed}"


@dataclass(frozen=True)
class SweepConfig:
    """What every member of a sweep shares: n features, batch, steps, lr rule, logging."""

    n: int
    batch: int
    steps: int
    lr_rule: str = "exp17"  # "exp17", "exp17_x100" (per-width lrs; ×100 loss) or "exp10"
    final_window: int = 100  # steps averaged for the final loss (the authors use the last 100)
    init_seed: int = 0  # base of every member's init seed
    data_seed: int = 1  # base of every data stream's seed
    dtype: torch.dtype = torch.float32


@dataclass
class MemberResult:
    """One member's outcome: the member, its training-loss curve (paper normalisation), the
    final loss (mean of the last ``final_window`` steps), its trained ``W`` (n, m) and ``b``."""

    member: Member
    losses: np.ndarray
    final_loss: float
    W: torch.Tensor
    b: torch.Tensor
    finite: bool = True
    extra: dict = field(default_factory=dict)


@dataclass
class SweepResult:
    """A trained sweep: its shared settings, one :class:`MemberResult` per member (in the order
    the members were given) and, once tabulated, its tidy frame."""

    cfg: SweepConfig
    results: list[MemberResult]
    frame: pd.DataFrame | None = None


# ---- seeds ------------------------------------------------------------------------------------


def member_init(member: Member, n: int, base: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The member's initial (W, b), float64 on the CPU, a function of (member, base) only, so
    the same model starts identically in any chunk, alone, or in the loop."""
    return init_params(n, member.width,
                       generator(base, "init", member.width, member.gamma, member.stream))


def stream_generator(member: Member, base: int, device: torch.device) -> torch.Generator:
    """The data stream shared by the members of ``member.stream``."""
    return generator(base, "data", member.stream, device=device)


def member_p(member: Member, n: int) -> torch.Tensor:
    return frequencies(member.law, n, member.alpha, member.scale)


# ---- planning chunks --------------------------------------------------------------------------


def padding_fits(chunk: Sequence[Member], max_waste: float = CPU_MAX_WASTE) -> bool:
    """Whether padding ``chunk`` to its widest member wastes at most ``max_waste`` of the
    columns actually used."""
    return len(chunk) * max(m.width for m in chunk) <= (1 + max_waste) * sum(m.width
                                                                          for m in chunk)


def plan(members: Sequence[Member], cfg: SweepConfig, device: torch.device,
         chunk_members: int = 0, max_waste: float = CPU_MAX_WASTE) -> list[list[int]]:
    """This topic's use of :func:`lib.core.sweep.plan_chunks`: one data stream per chunk,
    members sorted by width, padding within ``max_waste``; at most ``chunk_members`` (0: the
    device's rule, :data:`CPU_CHUNK_MEMBERS` on a CPU, memory on CUDA)."""
    return plan_chunks(members, chunk_members, device, CPU_CHUNK_MEMBERS,
                       member_bytes=chunk_memory_bytes(cfg.n, cfg.batch,
                                                       [max(m.width for m in members)]),
                       group=lambda m: m.stream, order=lambda m: (m.width, m.gamma),
                       fits=lambda c: padding_fits(c, max_waste))


def chunk_memory_bytes(n: int, batch: int, widths: Sequence[int], dtype_bytes: int = 4,
                       active_per_sample: float = 1.0) -> int:
    """Analytic peak size of one chunk's training step (bytes): parameters, their gradients
    and two Adam moments (4 copies of W and b), the (M, B, n) pre-activation/residual and its
    ReLU gate, the (M, B, m) hidden state and its gradient, the gathered sparse rows, and the
    (B, n) Bernoulli draw. Grows linearly in members × model size."""
    M, m = len(widths), max(widths)
    nnz = int(math.ceil(batch * active_per_sample))
    params = 4 * M * (n * m + n) * dtype_bytes
    grads_tmp = M * n * m * dtype_bytes  # decoder-side grad before accumulation
    acts = M * batch * n * (dtype_bytes + 1)  # pre/residual (float) + gate (bool)
    hidden = 2 * M * batch * m * dtype_bytes + 2 * M * nnz * m * dtype_bytes
    draw = batch * n * (4 + 1)
    return params + grads_tmp + acts + hidden + draw


def loop_memory_bytes(n: int, batch: int, m: int, dtype_bytes: int = 4) -> int:
    """The same estimate for the authors' one-model step: dense x (B, n), x@W, the (B, n)
    output and its gradient, parameters, grads and two Adam moments."""
    return (4 * (n * m + n) + 3 * batch * n + 2 * batch * m) * dtype_bytes + batch * n


# ---- batched training -------------------------------------------------------------------------


def train_chunk(
    chunk: Sequence[Member],
    cfg: SweepConfig,
    device: torch.device,
    init: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
    batches: Sequence | None = None,
) -> list[MemberResult]:
    """Train the members of one chunk (same data stream) together; return one result each.

    ``init`` overrides the members' initial (W, b) and ``batches`` the data (a list of
    :class:`SparseBatch`, one per step): both only for tests.
    """
    streams = {mem.stream for mem in chunk}
    if len(streams) != 1:
        raise ValueError(f"a chunk must share one data stream, got {len(streams)}")
    n, M = cfg.n, len(chunk)
    widths = [mem.width for mem in chunk]
    m_max = max(widths)
    W = torch.zeros(M, n, m_max, dtype=cfg.dtype, device=device)  # (M, n, m_max)
    b = torch.zeros(M, n, dtype=cfg.dtype, device=device)  # (M, n)
    mask = torch.zeros(M, 1, m_max, dtype=cfg.dtype, device=device)  # (M, 1, m_max)
    for k, mem in enumerate(chunk):
        W0, b0 = init[k] if init is not None else member_init(mem, n, cfg.init_seed)
        W[k, :, : mem.width] = W0.to(device, cfg.dtype)
        b[k] = b0.to(device, cfg.dtype)
        mask[k, :, : mem.width] = 1.0
    lr_w, lr_b = (t.to(device, cfg.dtype) for t in member_lrs(widths, cfg.lr_rule))
    gamma = torch.tensor([mem.gamma for mem in chunk], dtype=cfg.dtype, device=device)
    opt_w = BatchedAdam([W], lr_w, masks=[mask])
    opt_b = BatchedAdam([b], lr_b)
    p = member_p(chunk[0], n).to(device, torch.float32)
    gen = stream_generator(chunk[0], cfg.data_seed, device)
    losses = torch.empty(M, cfg.steps, dtype=cfg.dtype, device=device)  # logged every step
    warm = WARMUP_FRAC[cfg.lr_rule]
    gscale = loss_scale(cfg.lr_rule)  # exp-17 backpropagates loss × 100
    stream = iter(batches) if batches is not None else sparse_stream(p, cfg.batch, gen, cfg.dtype)
    for step in range(cfg.steps):
        batch = next(stream)
        loss, gW, gb = loss_and_grads(W, b, batch)
        losses[:, step] = loss
        scale = warmup_cosine(step, cfg.steps, warm)
        signed_decay_(W, gamma, lr_w * scale)  # decay before the Adam step (exp/adamw.py)
        if gscale != 1.0:
            gW, gb = gW * gscale, gb * gscale
        opt_w.step([gW], scale=scale)
        opt_b.step([gb], scale=scale)
    return _results(chunk, cfg, W, b, losses)


def _results(chunk, cfg, W, b, losses) -> list[MemberResult]:
    ok = finite_members(losses) & finite_members(W)
    curves = losses.double().cpu().numpy()
    out = []
    for k, mem in enumerate(chunk):
        final = float(np.mean(curves[k, -cfg.final_window:]))
        out.append(MemberResult(mem, curves[k], final if ok[k] else float("nan"),
                               W[k, :, : mem.width].detach().double().cpu(),
                               b[k].detach().double().cpu(), bool(ok[k])))
    return out


def train_sweep(
    members: Sequence[Member],
    cfg: SweepConfig,
    device: torch.device,
    chunk_members: int = 0,
    max_waste: float = CPU_MAX_WASTE,
) -> SweepResult:
    """Train every member in chunks (:func:`plan`); results in the order of ``members``."""
    done: dict[Member, MemberResult] = {}
    for idx in plan(members, cfg, device, chunk_members, max_waste):
        # a chunk finished before an interruption is loaded, not trained again
        for res in stored_chunk(train_chunk, [members[i] for i in idx], cfg, device):
            done[res.member] = res
    return SweepResult(cfg, [done[m] for m in members])


# ---- the authors' way: one model at a time ---------------------------------------------------


def train_alone(
    member: Member,
    cfg: SweepConfig,
    device: torch.device,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    dense_batches: Sequence[torch.Tensor] | None = None,
) -> MemberResult:
    """One model trained the authors' way (``exp/exp-17.py``): an ``nn.Module``, autograd on
    ``nn.MSELoss``, :class:`SignedAdamW` with two parameter groups, dense data drawn every step.
    """
    n, m = cfg.n, member.width
    model = FeatureRecovery(n, m).to(device, cfg.dtype)
    W0, b0 = init if init is not None else member_init(member, n, cfg.init_seed)
    with torch.no_grad():
        model.W.copy_(W0)
        model.b.copy_(b0)
    lr_w, lr_b = (float(t[0]) for t in member_lrs([m], cfg.lr_rule))
    opt = SignedAdamW([{"params": [model.W], "lr": lr_w, "weight_decay": member.gamma},
                       {"params": [model.b], "lr": lr_b, "weight_decay": 0.0}])
    for group in opt.param_groups:
        group["init_lr"] = group["lr"]
    p = member_p(member, n).to(device, torch.float32)
    gen = stream_generator(member, cfg.data_seed, device)
    mse = torch.nn.MSELoss()
    losses = torch.empty(cfg.steps, dtype=cfg.dtype, device=device)
    warm = WARMUP_FRAC[cfg.lr_rule]
    gscale = loss_scale(cfg.lr_rule)
    for step in range(cfg.steps):
        x = dense_batches[step] if dense_batches is not None else sample_dense(p, cfg.batch, gen)
        x = x.to(cfg.dtype)
        for group in opt.param_groups:
            group["lr"] = group["init_lr"] * warmup_cosine(step, cfg.steps, warm)
        opt.zero_grad(set_to_none=True)
        loss = mse(model(x), x)
        (loss * gscale if gscale != 1.0 else loss).backward()  # exp-17: criteria(y, x) * 100
        opt.step()
        losses[step] = loss.detach() * n
    curve = losses.double().cpu().numpy()
    return MemberResult(member, curve, float(np.mean(curve[-cfg.final_window:])),
                       model.W.detach().double().cpu(), model.b.detach().double().cpu(),
                       bool(np.isfinite(curve).all()))
