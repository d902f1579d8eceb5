"""Superposition sweeps: batched (chunked as the chapter runs it) against one model at a time.

``batched`` trains members with ``lib.superposition.sweep.train_sweep`` in chunks of at most
``CPU_CHUNK_MEMBERS`` (``chunk_members`` = 0) members on a CPU (all on CUDA): sparse inputs, one
data batch per chunk, hand-written gradients. ``loop`` trains each member alone the authors' way
(``train_alone``: ``nn.Module``, autograd on ``nn.MSELoss``, ``SignedAdamW``, dense ``(B, n)`` data
drawn per model). Same members, steps, seeds and data streams in both modes.

Series:

- ``members``: models of width 16 on one power-law stream (α = 1.2, n = 512, batch 256), one per
  signed decay γ evenly spaced in [−1, 1] (as the chapter's phase diagram, whose cells share a
  stream); 1, 4, 16, 64 members (quick) and on;
- ``model_size``: the width m doubled (8 … 64; parameters n·m + n) at 4 members;
- ``chunk`` (non-quick, CPU): the chapter's width × γ sweep (widths 8 … 32 × 4 decays) at several
  chunk sizes, where ``CPU_CHUNK_MEMBERS`` comes from;
- ``paper`` (non-quick, CUDA): the paper's exp-17 sweep (n = 10240, m = 8…1024) for a few steps.

``peak_mem_mb`` on a CPU is the analytic size of the largest chunk
(:func:`lib.superposition.sweep.chunk_memory_bytes`; :func:`loop_memory_bytes` for the loop).

    python -m benchmarks --only superposition [--device cuda] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.harness import Scaling, chunk_series, scaling_rows
from lib.core import sweep as core_sweep
from lib.superposition.sweep import (
    CPU_CHUNK_MEMBERS,
    Member,
    SweepConfig,
    chunk_memory_bytes,
    loop_memory_bytes,
    plan,
    train_alone,
    train_sweep,
)

CHAPTER = "superposition"
N_FEATURES, BATCH, WIDTH = 512, 256, 16


@dataclass(frozen=True)
class Work:
    members: list[Member]
    cfg: SweepConfig


def gamma_members(n: int, width: int) -> list[Member]:
    """``n`` models of one width on one stream, γ evenly spaced in [−1, 1]."""
    gammas = np.linspace(-1.0, 1.0, n) if n > 1 else np.array([-1.0])
    return [Member(width, float(g), "power", 1.2, 0) for g in gammas]


def chunk_of(work: Work, device: torch.device) -> int:
    """The most members a chunk holds (``train_sweep``'s automatic ``chunk_members``)."""
    cfg = work.cfg
    return core_sweep.chunk_size(device, len(work.members), 0, CPU_CHUNK_MEMBERS,
                                 chunk_memory_bytes(cfg.n, cfg.batch,
                                                    [max(m.width for m in work.members)]))


def memory_bytes(work: Work, mode: str, device: torch.device, chunk: int | None = None) -> int:
    """Analytic peak of the largest chunk :func:`plan` makes, or of one model alone."""
    n, batch = work.cfg.n, work.cfg.batch
    if mode == "loop":
        return max(loop_memory_bytes(n, batch, m.width) for m in work.members)
    chunks = plan(work.members, work.cfg, device, chunk or 0)
    return max(chunk_memory_bytes(n, batch, [work.members[i].width for i in c]) for c in chunks)


def scaling(quick: bool) -> Scaling:
    return Scaling(
        chapter=CHAPTER, workload=f"γ sweep on one stream, n={N_FEATURES}, B={BATCH}",
        size_knob="width m", base_size=WIDTH,
        sizes=(8, 16, 32, 64) if quick else (8, 16, 32, 64, 128), size_members=4,
        steps=50 if quick else 300,
        build=lambda members, width, steps: Work(
            gamma_members(members, width),
            SweepConfig(n=N_FEATURES, batch=BATCH, steps=steps, final_window=min(10, steps))),
        batched=lambda w, dev: train_sweep(w.members, w.cfg, dev),
        loop=lambda w, dev: [train_alone(m, w.cfg, dev) for m in w.members],
        memory=memory_bytes, chunk=chunk_of, n_params=lambda m: N_FEATURES * m + N_FEATURES)


def compare(workload: str, series: str, members: Sequence[Member], cfg: SweepConfig,
            device: torch.device, chunk_sizes: Sequence[int]) -> list[dict]:
    """Rows for the batched sweep at each chunk size and for the one-at-a-time loop."""
    work = Work(list(members), cfg)
    return chunk_series(
        CHAPTER, workload, series, len(members), cfg.steps, chunk_sizes,
        CPU_CHUNK_MEMBERS if device.type == "cpu" else chunk_of(work, device),
        lambda s: train_sweep(members, cfg, device, chunk_members=s),
        lambda: [train_alone(m, cfg, device) for m in members],
        lambda mode, s: memory_bytes(work, mode, device, s), device, size_knob="width m",
        size=max(m.width for m in members),
        model_size=cfg.n * max(m.width for m in members) + cfg.n)


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    rows = scaling_rows(scaling(quick), dev, quick)
    if quick:
        return rows
    if dev.type == "cpu":
        cfg = SweepConfig(n=N_FEATURES, batch=BATCH, steps=300, final_window=10)
        members = [Member(m, g, "power", 1.2, 0) for g in (-1.0, -1 / 3, 1 / 3, 1.0)
                   for m in (8, 11, 16, 23, 32)]
        sizes = sorted({1, 2, 4, CPU_CHUNK_MEMBERS, 20})
        rows += compare("chapter width × γ sweep (20 models, n = 512)", "chunk", members, cfg,
                        dev, sizes)
    else:
        big = SweepConfig(n=10240, batch=8192, steps=20, final_window=5)
        grid = [Member(m, -1.0, "power", 1.2, 0) for m in (8, 16, 32, 64, 128, 256, 512, 1024)]
        rows += compare("paper exp-17 sweep (8 widths, n = 10240)", "paper", grid, big, dev,
                        [len(grid)])
    return rows
