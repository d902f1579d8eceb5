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
  teachers, batch 1024) for a few steps;
- ``teacher`` (non-quick): the teacher's path before and after, on the same work (the chapter's
  default KL chunk of the tied teacher: 12 students of depths 2–16, three 64-layer teachers,
  batch 128, the same inputs): ``teacher_per_step`` is the former path (``model.forward`` with
  its temporaries, once per step), ``teacher_blocked`` :class:`lib.depth.sweep.TeacherFeed`
  (in place, :func:`lib.depth.sweep.teacher_block_steps` steps per forward); the ``train_*``
  rows time a whole chunk's training with each path;
- ``threads`` (non-quick, CPU): the chapter's default KL sweep on 1 and 2 torch threads, with
  the counted FLOPs, the achieved GFLOP/s and the matmul peak measured at the same thread count.

``peak_mem_mb`` on a CPU is the analytic size of the largest chunk
(:func:`lib.depth.sweep.sweep_memory_bytes`).

    python -m benchmarks --only depth [--device cuda] [--quick]
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import torch

import lib.depth.sweep as depth_sweep
from benchmarks.harness import (
    Scaling,
    Timing,
    chunk_series,
    count_flops,
    make_row,
    scaling_rows,
    thread_peaks_gflops,
    timed,
    torch_threads,
)
from lib.core.sweep import chunk_size
from lib.depth.model import HIDDEN, N_EMBD, forward
from lib.depth.params import DepthParams
from lib.depth.reference import train_alone
from lib.depth.sweep import (
    CPU_CHUNK_MEMBERS,
    ChunkProblem,
    Member,
    SweepConfig,
    member_grid,
    plan,
    sweep_memory_bytes,
    teacher_block_steps,
    train_chunk,
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


@contextmanager
def former_teacher_path() -> Iterator[None]:
    """The teacher's path as it was before the blocks: ``model.forward`` (out of place, with its
    temporaries) once per step. For the before/after rows only."""
    current = depth_sweep.teacher_forward
    depth_sweep.teacher_forward = lambda stack, x: forward(stack, x)[0]
    try:
        yield
    finally:
        depth_sweep.teacher_forward = current


def teacher_rows(device: torch.device, steps: int = 64, rounds: int = 5) -> list[dict]:
    """The ``teacher`` series: the former and the new teacher path on the same inputs, alone
    and inside a whole chunk's training (see the module docstring)."""
    p = DepthParams()
    cfg = replace(config(steps), n_checkpoints=1)
    members = member_grid(p.depths, [1.0], p.n_teachers)
    block = teacher_block_steps(device, cfg.batch_size)
    workload = (f"teacher path, {len(members)} students, {p.n_teachers} teachers of "
                f"{p.teacher_depth} layers, B={cfg.batch_size}")
    mem = sweep_memory_bytes(members, cfg)

    def teacher_only(blocked: bool) -> None:
        feed = ChunkProblem(members, cfg, device).feed(block if blocked else 1)
        for _ in range(steps):
            feed.next()

    def train(blocked: bool) -> None:
        train_chunk(members, cfg, device, teacher_block=block if blocked else 1)

    modes = {"teacher_per_step": (teacher_only, False), "teacher_blocked": (teacher_only, True),
             "train_per_step": (train, False), "train_blocked": (train, True)}
    best: dict[str, Timing] = {}
    for _ in range(rounds):  # interleaved, so a shared machine's load hits every mode alike
        for mode, (fn, blocked) in modes.items():
            with contextlib.nullcontext() if blocked else former_teacher_path():
                t = timed(lambda f=fn, b=blocked: f(b), device, max_repeats=1)
            if mode not in best or t.wall_s < best[mode].wall_s:
                best[mode] = replace(t, repeats=rounds)
    return [make_row(CHAPTER, workload, "teacher", mode, len(members), steps, best[mode], mem,
                     size_knob="teacher block steps", size=block if blocked else 1,
                     chunk_members=len(members))
            for mode, (_, blocked) in modes.items()]


def thread_rows(steps: int = 100, rounds: int = 3) -> list[dict]:
    """The ``threads`` series (CPU): the chapter's default KL sweep on 1 and 2 threads, its
    counted FLOPs per member-step, achieved GFLOP/s and the matmul peak at those threads."""
    p = DepthParams()
    members = member_grid(p.depths, [0.0, 1.0], p.n_teachers)
    cfg = replace(config(steps), n_checkpoints=2)
    device = torch.device("cpu")
    flops = count_flops(lambda: train_sweep(members, replace(cfg, steps=10), device))
    per_step = flops / (len(members) * 10)
    peaks = thread_peaks_gflops((1, 2))
    best: dict[int, Timing] = {}
    for _ in range(rounds):  # interleaved, as in teacher_rows
        for n in peaks:
            with torch_threads(n):
                t = timed(lambda: train_sweep(members, cfg, device), device, max_repeats=1)
            if n not in best or t.wall_s < best[n].wall_s:
                best[n] = replace(t, repeats=rounds)
    rows = []
    for n, peak in peaks.items():
        timing = best[n]
        achieved = per_step * len(members) * steps / timing.wall_s / 1e9
        rows.append(make_row(
            CHAPTER, f"chapter default KL sweep ({len(members)} students)", "threads",
            f"threads_{n}", len(members), steps, timing, memory_bytes(Work(members, cfg),
                                                                     "batched", device),
            size_knob="torch threads", size=n, chunk_members=CPU_CHUNK_MEMBERS,
            threads=n, flop_per_member_step=per_step, thread_achieved_gflops=achieved,
            thread_peak_gflops=peak, thread_fraction_of_peak=achieved / peak))
    return rows


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    rows = scaling_rows(scaling(quick), dev, quick)
    if quick:
        return rows
    p = DepthParams()
    members = member_grid(p.depths, [0.0, 1.0], p.n_teachers)
    rows += compare(f"chapter default KL sweep ({len(members)} students)", "chunk", members,
                    config(100), dev, [len(members)] if dev.type == "cuda" else [4, 12, 24])
    rows += teacher_rows(dev)
    if dev.type == "cpu":
        rows += thread_rows()
    if dev.type == "cuda":
        temps = torch.logspace(-2, 0, 16).tolist()
        grid = member_grid([6, 12, 16, 24, 32, 48], [0.0, 1.0], 3, temps)
        cfg_full = SweepConfig(teacher_depth=128, steps=5, batch_size=1024, n_checkpoints=2,
                               n_test=2048)
        rows += compare("paper KL grid (576 students)", "paper", grid, cfg_full, dev, [len(grid)])
    return rows
