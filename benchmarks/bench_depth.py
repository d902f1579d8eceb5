"""Inverse-depth sweep: batched (chunked as the chapter runs it) against one model at a time.

``batched`` trains students with ``lib.depth.sweep.train_sweep`` in chunks of
``lib.depth.sweep.CPU_CHUNK_MEMBERS`` on a CPU (all at once on CUDA): one teacher forward per
replicate and step serves all its students. ``loop`` trains each student alone the authors' way
(``lib.depth.reference.train_alone``: an ``nn.Module``, ``torch.optim.Adam``, autograd, the teacher
re-run for every student every step). Same members, steps and seeds in both modes; the chapter's
sizes (64-layer teachers, batch 128, KL loss).

Series:

- ``members``: students of depth 8, four teacher temperatures T ∈ logspace(−2, 0, 4) per teacher
  (so four students share each teacher, as the chapter's four depths do), teachers alternating
  ρ = 0, 1; 1, 4, 16, 64 students (quick) and on;
- ``model_size``: the student depth ℓ doubled (2 … 16, the chapter's depths; parameters
  ℓ · (2 d H + H)) at 4 students;
- ``chunk`` (non-quick): the chapter's default KL sweep (depths 2–16 × ρ × 3 teachers, 24
  students) at several chunk sizes, where ``CPU_CHUNK_MEMBERS`` comes from;
- ``paper`` (non-quick, CUDA): the paper's KL grid (depths 6–48, 16 temperatures, 128-layer
  teachers, batch 1024) for a few steps.

``peak_mem_mb`` on a CPU is the analytic size of the largest chunk
(:func:`lib.depth.sweep.sweep_memory_bytes`).

    python -m benchmarks --only depth [--device cuda] [--quick]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.harness import Scaling, chunk_series, scaling_rows
from lib.core.sweep import chunk_size
from lib.depth.model import HIDDEN, N_EMBD
from lib.depth.params import DepthParams
from lib.depth.reference import train_alone
from lib.depth.sweep import (
    CPU_CHUNK_MEMBERS,
    Member,
    SweepConfig,
    member_grid,
    plan,
    sweep_memory_bytes,
    train_sweep,
)

CHAPTER = "inverse_depth"
DEPTH = 8
TEMPERATURES = np.logspace(-2, 0, 4).tolist()


@dataclass(frozen=True)
class Work:
    members: list[Member]
    cfg: SweepConfig


def students(n: int, depth: int) -> list[Member]:
    """``n`` students of one depth, four temperatures per teacher, teachers alternating ρ."""
    return [Member(depth, float(k % 2), k // 2, t)
            for k in range(math.ceil(n / len(TEMPERATURES))) for t in TEMPERATURES][:n]


def config(steps: int) -> SweepConfig:
    p = DepthParams()
    return SweepConfig(teacher_depth=p.teacher_depth, steps=steps, batch_size=p.batch_size,
                       lr_multiplier=p.lr_multiplier, n_checkpoints=2, n_test=512)


def chunk_of(work: Work, device: torch.device) -> int:
    return chunk_size(device, len(work.members), 0, CPU_CHUNK_MEMBERS)


def memory_bytes(work: Work, mode: str, device: torch.device, chunk: int | None = None) -> int:
    """Analytic peak of the largest chunk :func:`plan` makes, or of one student alone."""
    if mode == "loop":
        return max(sweep_memory_bytes([m], work.cfg) for m in work.members)
    chunks = plan(work.members, chunk or 0, device)
    return max(sweep_memory_bytes([work.members[i] for i in idx], work.cfg) for idx in chunks)


def scaling(quick: bool) -> Scaling:
    p = DepthParams()
    return Scaling(
        chapter=CHAPTER,
        workload=f"KL students, {p.teacher_depth}-layer teachers, B={p.batch_size}",
        size_knob="depth ℓ", base_size=DEPTH,
        sizes=(2, 4, 8, 16), size_members=4, steps=10 if quick else 100,
        build=lambda members, depth, steps: Work(students(members, depth), config(steps)),
        batched=lambda w, dev: train_sweep(w.members, w.cfg, dev),
        loop=lambda w, dev: [train_alone(m, w.cfg, dev) for m in w.members],
        memory=memory_bytes, chunk=chunk_of,
        n_params=lambda depth: depth * (2 * N_EMBD * HIDDEN + HIDDEN))


def compare(workload: str, series: str, members: Sequence[Member], cfg: SweepConfig,
            device: torch.device, chunk_sizes: Sequence[int]) -> list[dict]:
    """Rows for the batched sweep at each chunk size and for the one-at-a-time loop."""
    work = Work(list(members), cfg)
    deepest = max(m.depth for m in members)
    return chunk_series(
        CHAPTER, workload, series, len(members), cfg.steps, chunk_sizes,
        chunk_of(work, device), lambda s: train_sweep(members, cfg, device, s),
        lambda: [train_alone(m, cfg, device) for m in members],
        lambda mode, s: memory_bytes(work, mode, device, s), device, size_knob="depth ℓ",
        size=deepest, model_size=deepest * (2 * N_EMBD * HIDDEN + HIDDEN))


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    rows = scaling_rows(scaling(quick), dev, quick)
    if quick:
        return rows
    p = DepthParams()
    members = member_grid(p.depths, [0.0, 1.0], p.n_teachers)
    rows += compare(f"chapter default KL sweep ({len(members)} students)", "chunk", members,
                    config(100), dev, [len(members)] if dev.type == "cuda" else [4, 12, 24])
    if dev.type == "cuda":
        temps = torch.logspace(-2, 0, 16).tolist()
        grid = member_grid([6, 12, 16, 24, 32, 48], [0.0, 1.0], 3, temps)
        cfg_full = SweepConfig(teacher_depth=128, steps=5, batch_size=1024, n_checkpoints=2,
                               n_test=2048)
        rows += compare("paper KL grid (576 students)", "paper", grid, cfg_full, dev, [len(grid)])
    return rows
