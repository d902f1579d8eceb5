"""Superposition sweeps: batched (chunked as the chapter runs it) against one model at a time.

``batched`` trains members with ``lib.superposition.sweep.train_sweep`` in chunks of at most
``SuperpositionParams.cpu_chunk`` members on a CPU (all on CUDA): sparse inputs, one data batch
per chunk, hand-written gradients. ``loop`` trains each member alone the authors' way
(``train_loop``: ``nn.Module``, autograd on ``nn.MSELoss``, ``SignedAdamW``, dense ``(B, n)`` data
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

from benchmarks.harness import Scaling, make_row, scaling_rows, timed
from lib.superposition.sweep import (
    CPU_CHUNK_MEMBERS,
    Member,
    TrainConfig,
    chunk_memory_bytes,
    chunk_size,
    loop_memory_bytes,
    plan_chunks,
    train_loop,
    train_sweep,
)

CHAPTER = "superposition"
N_FEATURES, BATCH, WIDTH = 512, 256, 16


@dataclass(frozen=True)
class Work:
    members: list[Member]
    cfg: TrainConfig


def gamma_members(n: int, width: int) -> list[Member]:
    """``n`` models of one width on one stream, γ evenly spaced in [−1, 1]."""
    gammas = np.linspace(-1.0, 1.0, n) if n > 1 else np.array([-1.0])
    return [Member(width, float(g), "power", 1.2, 0) for g in gammas]


def chunk_of(work: Work, device: torch.device) -> int:
    """The most members a chunk holds (``train_sweep``'s ``max_members``)."""
    size = chunk_size(device, work.cfg.n, work.cfg.batch, [m.width for m in work.members])
    return min(size, len(work.members))


def memory_bytes(work: Work, mode: str, device: torch.device, chunk: int | None = None) -> int:
    """Analytic peak of the largest chunk :func:`plan_chunks` makes, or of one model alone."""
    n, batch = work.cfg.n, work.cfg.batch
    if mode == "loop":
        return max(loop_memory_bytes(n, batch, m.width) for m in work.members)
    plan = plan_chunks(work.members, chunk or chunk_of(work, device))
    return max(chunk_memory_bytes(n, batch, [m.width for m in c]) for c in plan)


def scaling(quick: bool) -> Scaling:
    return Scaling(
        chapter=CHAPTER, workload=f"γ sweep on one stream, n={N_FEATURES}, B={BATCH}",
        size_knob="width m", base_size=WIDTH,
        sizes=(8, 16, 32, 64) if quick else (8, 16, 32, 64, 128), size_members=4,
        steps=50 if quick else 300,
        build=lambda members, width, steps: Work(
            gamma_members(members, width),
            TrainConfig(n=N_FEATURES, batch=BATCH, steps=steps, final_window=min(10, steps))),
        batched=lambda w, dev: train_sweep(w.members, w.cfg, dev),
        loop=lambda w, dev: [train_loop(m, w.cfg, dev) for m in w.members],
        memory=memory_bytes, chunk=chunk_of, n_params=lambda m: N_FEATURES * m + N_FEATURES)


def compare(workload: str, series: str, members: Sequence[Member], cfg: TrainConfig,
            device: torch.device, chunk_sizes: Sequence[int]) -> list[dict]:
    """Rows for the batched sweep at each chunk size and for the one-at-a-time loop."""
    work = Work(list(members), cfg)
    default = chunk_size(device, cfg.n, cfg.batch, [m.width for m in members])  # max_members
    common = dict(size_knob="width m", size=max(m.width for m in members),
                  model_size=cfg.n * max(m.width for m in members) + cfg.n)
    rows = []
    for size in chunk_sizes:
        t = timed(lambda s=size: train_sweep(members, cfg, device, max_members=s), device)
        rows.append(make_row(CHAPTER, workload, series, "batched", len(members), cfg.steps, t,
                             memory_bytes(work, "batched", device, size), chunk_members=size,
                             chapter_default=size == default, **common))
    t = timed(lambda: [train_loop(m, cfg, device) for m in members], device)
    rows.append(make_row(CHAPTER, workload, series, "loop", len(members), cfg.steps, t,
                         memory_bytes(work, "loop", device), chunk_members=1, **common))
    return rows


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    rows = scaling_rows(scaling(quick), dev, quick)
    if quick:
        return rows
    if dev.type == "cpu":
        cfg = TrainConfig(n=N_FEATURES, batch=BATCH, steps=300, final_window=10)
        members = [Member(m, g, "power", 1.2, 0) for g in (-1.0, -1 / 3, 1 / 3, 1.0)
                   for m in (8, 11, 16, 23, 32)]
        sizes = sorted({1, 2, 4, CPU_CHUNK_MEMBERS, 20})
        rows += compare("chapter width × γ sweep (20 models, n = 512)", "chunk", members, cfg,
                        dev, sizes)
    else:
        big = TrainConfig(n=10240, batch=8192, steps=20, final_window=5)
        grid = [Member(m, -1.0, "power", 1.2, 0) for m in (8, 16, 32, 64, 128, 256, 512, 1024)]
        rows += compare("paper exp-17 sweep (8 widths, n = 10240)", "paper", grid, big, dev,
                        [len(grid)])
    return rows
