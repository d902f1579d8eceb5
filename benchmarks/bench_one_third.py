"""Benchmark: the one-third chapter's batched sweep against one model at a time.

Same work in one run: lr × T grids of Adam and SGD (the chapter's default grids, one seed), the
same steps, batch and logging schedule. Modes:

- ``loop``: each config trained alone the authors' way (``exp/exp-1.py``): ``Head`` modules,
  ``torch.optim.Adam``/``SGD``, autograd on ``F.kl_div`` (:func:`lib.one_third.sweep.train_alone`).
- ``batched``: :func:`lib.one_third.sweep.run_sweep` with the analytic gradient and batched
  optimisers, at several chunk sizes on a CPU (this is where ``cpu_chunk()`` comes from) and all
  members at once on CUDA.

``peak_mem_mb`` is ``torch.cuda.max_memory_allocated`` on CUDA; on a CPU it is the analytic size
of what one chunk holds (:func:`lib.one_third.sweep.sweep_memory_bytes`). ``cpu_s`` (process
time) is reported beside the wall time because CPU machines are often shared.

    python -m benchmarks --only one_third [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from lib.core.device import set_threads
from lib.one_third.params import OneThirdParams
from lib.one_third.sweep import (
    SweepConfig,
    cpu_chunk,
    grid_members,
    run_sweep,
    sweep_memory_bytes,
    train_alone,
)


def _workload(quick: bool) -> tuple[list, SweepConfig]:
    p = OneThirdParams()
    members = (grid_members("adam", p.adam_lrs, p.temperatures, [0])
               + grid_members("sgd", p.sgd_lrs, p.temperatures, [0]))
    steps = 150 if quick else 1000
    cfg = SweepConfig(p.n_embd, p.vocab_size, p.batch_size, steps, min(p.n_logs, steps),
                      p.test_batches)
    return members, cfg


def _timed(fn, device: torch.device) -> tuple[float, float, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    return time.perf_counter() - wall, time.process_time() - cpu, peak


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    """Rows of wall time, member-steps per second and peak memory for loop vs batched."""
    dev = torch.device(device)
    members, cfg = _workload(quick)
    M, S = len(members), cfg.steps
    rows = []

    def row(mode: str, workload: str, wall: float, cpu: float, mem_mb: float, **extra) -> None:
        rows.append({"chapter": "one_third_time", "workload": workload, "mode": mode,
                     "members": M, "steps": S, "wall_s": round(wall, 3),
                     "cpu_s": round(cpu, 3), "member_steps_per_s": round(M * S / wall, 1),
                     "peak_mem_mb": round(mem_mb, 2), "device": dev.type, **extra})

    work = f"Adam+SGD lr×T grid, d={cfg.n_embd}, V={cfg.vocab_size}, B={cfg.batch_size}"
    loop_members = members if not quick else members[::2]  # the loop is the slow side
    wall, cpu, peak = _timed(lambda: [train_alone(m, cfg, dev) for m in loop_members], dev)
    scale = M / len(loop_members)  # report the loop on the same work (per-member cost × M)
    one = sweep_memory_bytes(1, cfg) + 2 * cfg.batch_size * cfg.vocab_size * 4  # + autograd
    row("loop", work, wall * scale, cpu * scale,
        peak if dev.type == "cuda" else one / 2**20, timed_members=len(loop_members))

    sizes = [M] if dev.type == "cuda" else sorted({4, 8, cpu_chunk(), 16, 32})
    for size in sizes:
        wall, cpu, peak = _timed(lambda s=size: run_sweep(members, cfg, dev, chunk_size=s), dev)
        groups = max(1, size // 4)  # the default grids give 4 lrs per (seed, T) group
        mem = peak if dev.type == "cuda" else sweep_memory_bytes(
            min(size, M), cfg, n_groups=groups, n_seeds=1) / 2**20
        row("batched", work, wall, cpu, mem, chunk_size=size,
            chapter_default=size == (M if dev.type == "cuda" else cpu_chunk()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()
    set_threads()  # BOOK_THREADS, as the chapters run
    for r in run(args.device, args.quick):
        print(r)
