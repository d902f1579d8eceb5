"""Superposition width × γ sweep: batched (chunked as the chapter runs it) against one model at
a time.

The work is the chapter's default width sweep crossed with four decays: widths 8, 11, 16, 23, 32
× γ ∈ {−1, −1/3, 1/3, 1} for one power law (α = 1.2), n = 512 features, batch 256, the authors'
per-width learning rates. ``batched`` trains the 20 members with
``lib.superposition.sweep.train_sweep`` in chunks of at most ``chunk`` members (several sizes, to
show the measured CPU choice ``SuperpositionParams.cpu_chunk``): sparse inputs, one data batch
per chunk, hand-written gradients. ``loop`` trains each member alone the authors' way
(``train_loop``: ``nn.Module``, autograd on ``nn.MSELoss``, ``SignedAdamW``, dense
``(B, n)`` data drawn per model). On CUDA a second workload is the paper's exp-17 sweep
(n = 10240, m = 8…1024, batch 8192) for a few steps.

    python -m benchmarks --only superposition [--device cuda] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from benchmarks.harness import timed
from lib.superposition.sweep import (
    CPU_CHUNK_MEMBERS,
    Member,
    TrainConfig,
    chunk_memory_bytes,
    loop_memory_bytes,
    plan_chunks,
    train_loop,
    train_sweep,
)


def _row(workload: str, mode: str, members: int, steps: int, wall: float, cpu: float,
         peak_mb: float, chunk: int | None) -> dict:
    return {"chapter": "superposition", "workload": workload, "mode": mode, "members": members,
            "chunk_members": chunk, "steps": steps, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "member_steps_per_s": round(members * steps / wall, 1),
            "peak_mem_mb": round(peak_mb, 2)}


def compare(workload: str, members: Sequence[Member], cfg: TrainConfig, device: torch.device,
            chunk_sizes: Sequence[int], loop: bool = True) -> list[dict]:
    """Rows for the batched sweep at each chunk size and for the one-at-a-time loop."""
    rows = []
    for size in chunk_sizes:
        wall, cpu, peak = timed(
            lambda s=size: train_sweep(members, cfg, device, max_members=s), device)
        if peak is None:  # analytic size of the largest chunk
            peak = max(chunk_memory_bytes(cfg.n, cfg.batch, [m.width for m in c])
                       for c in plan_chunks(members, size)) / 2**20
        rows.append(_row(workload, "batched", len(members), cfg.steps, wall, cpu, peak, size))
    if loop:
        wall, cpu, peak = timed(lambda: [train_loop(m, cfg, device) for m in members], device)
        if peak is None:
            peak = max(loop_memory_bytes(cfg.n, cfg.batch, m.width) for m in members) / 2**20
        rows.append(_row(workload, "loop", len(members), cfg.steps, wall, cpu, peak, 1))
    return rows


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    cfg = TrainConfig(n=512, batch=256, steps=60 if quick else 300, final_window=10)
    members = [Member(m, g, "power", 1.2, 0) for g in (-1.0, -1 / 3, 1 / 3, 1.0)
               for m in (8, 11, 16, 23, 32)]
    sizes = ([len(members)] if dev.type == "cuda"
             else [CPU_CHUNK_MEMBERS] if quick else [1, 2, 4, 8, 20])
    rows = compare("chapter width × γ sweep (20 models, n = 512)", members, cfg, dev, sizes)
    if dev.type == "cuda" and not quick:
        big = TrainConfig(n=10240, batch=8192, steps=20, final_window=5)
        grid = [Member(m, -1.0, "power", 1.2, 0) for m in (8, 16, 32, 64, 128, 256, 512, 1024)]
        rows += compare("paper exp-17 sweep (8 widths, n = 10240)", grid, big, dev, [len(grid)])
    return rows
