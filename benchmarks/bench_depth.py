"""Inverse-depth sweep: batched (chunked as the chapter runs it) against one model at a time.

The work is the chapter's KL sweep: students of depths 2, 4, 8, 16 for 3 teachers of each kind
(ρ = 0, 1), 64-layer teachers, batch 128. ``batched`` trains them with ``lib.depth.sweep`` in
chunks of ``members`` (several chunk sizes, to show the CPU choice of
``DepthParams.cpu_chunk_members``); ``loop`` trains each student alone the authors' way
(``lib.depth.reference.train_alone``: an ``nn.Module``, ``torch.optim.Adam``, autograd, the teacher
re-run for every student every step). On CUDA a second workload is the paper's grid (depths 6–48,
16 temperatures, 128-layer teachers, batch 1024) for a few steps.

    python -m benchmarks --only depth [--device cuda] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from benchmarks.harness import timed
from lib.depth.reference import train_alone
from lib.depth.sweep import Member, SweepConfig, member_grid, sweep_memory_bytes, train_sweep


def _row(workload: str, mode: str, members: int, steps: int, wall: float, cpu: float,
         peak_mb: float, chunk: int | None) -> dict:
    return {"chapter": "inverse_depth", "workload": workload, "mode": mode, "members": members,
            "chunk_members": chunk, "steps": steps, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "member_steps_per_s": round(members * steps / wall, 1),
            "peak_mem_mb": round(peak_mb, 2)}


def compare(workload: str, members: Sequence[Member], cfg: SweepConfig, device: torch.device,
            chunk_sizes: Sequence[int]) -> list[dict]:
    """Rows for the batched sweep at each chunk size and for the one-at-a-time loop."""
    rows = []
    for size in chunk_sizes:
        wall, cpu, peak = timed(lambda s=size: train_sweep(members, cfg, device, s), device)
        if peak is None:  # analytic size of the largest chunk
            peak = max(sweep_memory_bytes(members[i:i + size], cfg)
                       for i in range(0, len(members), size)) / 2**20
        rows.append(_row(workload, "batched", len(members), cfg.steps, wall, cpu, peak,
                         size if device.type == "cpu" else len(members)))
        if device.type == "cuda":
            break  # one program for the whole sweep
    wall, cpu, peak = timed(lambda: [train_alone(m, cfg, device) for m in members], device)
    if peak is None:
        peak = max(sweep_memory_bytes([m], cfg) for m in members) / 2**20
    rows.append(_row(workload, "loop", len(members), cfg.steps, wall, cpu, peak, 1))
    return rows


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    cfg = SweepConfig(teacher_depth=64, steps=20 if quick else 200, batch_size=128,
                      lr_multiplier=5.0, n_checkpoints=2, n_test=512)
    members = member_grid([2, 4, 8, 16], [0.0, 1.0], 3)
    rows = compare("chapter default KL sweep (24 students)", members, cfg, dev,
                   [24] if quick else [4, 12, 24])
    if dev.type == "cuda" and not quick:
        temps = torch.logspace(-2, 0, 16).tolist()
        grid = member_grid([6, 12, 16, 24, 32, 48], [0.0, 1.0], 3, temps)
        cfg_full = SweepConfig(teacher_depth=128, steps=5, batch_size=1024, n_checkpoints=2,
                               n_test=2048)
        rows += compare("paper KL grid (576 students)", grid, cfg_full, dev, [len(grid)])
    return rows
