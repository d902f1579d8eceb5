"""Benchmark: the one-third chapter's batched sweep against one model at a time.

Same work in one run (same members, steps, batches, seeds and logging schedule), two modes:

- ``loop``: each config trained alone the authors' way (``exp/exp-1.py``): ``Head`` modules,
  ``torch.optim.Adam``/``SGD``, autograd on ``F.kl_div`` (:func:`lib.one_third.sweep.train_alone`).
- ``batched``: :func:`lib.one_third.sweep.train_sweep` with the analytic gradient and batched
  optimisers, chunked as the chapter runs it (:func:`~lib.one_third.sweep.cpu_chunk_members`
  members per chunk on a CPU, all at once on CUDA).

Series: ``members`` (an Adam lr × T × seed grid, d = 32, V = 128, B = 1024, the paper's exp-1
head), ``model_size`` (the vocabulary V halved and doubled at 4 members) and, outside quick
mode, ``chunk``: the chapter's default Adam + SGD grid at several chunk sizes, where
``cpu_chunk_members()`` comes from. ``peak_mem_mb`` on a CPU is the analytic size of what one
chunk holds (:func:`lib.one_third.sweep.sweep_memory_bytes`).

    python -m benchmarks --only one_third [--quick] [--device cuda]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from benchmarks.harness import Scaling, chunk_series, scaling_rows
from lib.core.sweep import chunk_size
from lib.one_third.params import OneThirdParams
from lib.one_third.sweep import (
    Member,
    SweepConfig,
    cpu_chunk_members,
    grid_members,
    plan,
    sweep_memory_bytes,
    train_alone,
    train_sweep,
)

CHAPTER = "one_third_time"


@dataclass(frozen=True)
class Work:
    members: list[Member]
    cfg: SweepConfig


def adam_grid(n: int) -> list[Member]:
    """The first ``n`` members of the chapter's Adam lr × T grid, repeated over seeds 0, 1, …
    (4 lrs × 4 temperatures per seed: members of one (seed, T) share teacher and data)."""
    p = OneThirdParams()
    per_seed = len(p.adam_lrs) * len(p.temperatures)
    return grid_members("adam", p.adam_lrs, p.temperatures, range(math.ceil(n / per_seed)))[:n]


def config(vocab: int, steps: int) -> SweepConfig:
    p = OneThirdParams()
    return SweepConfig(p.n_embd, vocab, p.batch_size, steps, min(8, steps), p.test_batches)


def chunk_of(work: Work, device: torch.device) -> int:
    return chunk_size(device, len(work.members), 0, cpu_chunk_members())


def memory_bytes(work: Work, mode: str, device: torch.device, chunk: int | None = None) -> int:
    """Analytic peak of the largest chunk as :func:`train_sweep` cuts it (grouped by optimiser,
    seed, T, lr), or of one model trained alone (plus autograd's logits and their gradient)."""
    cfg = work.cfg
    if mode == "loop":
        return sweep_memory_bytes(1, cfg) + 2 * cfg.batch_size * cfg.vocab_size * 4
    peak = 0
    for idx in plan(work.members, chunk or 0, device):
        c = [work.members[i] for i in idx]
        groups = len({(m.seed, m.temperature) for m in c})
        seeds = len({m.seed for m in c})
        peak = max(peak, sweep_memory_bytes(len(c), cfg, n_groups=groups, n_seeds=seeds))
    return peak


def scaling(quick: bool) -> Scaling:
    p = OneThirdParams()
    return Scaling(
        chapter=CHAPTER, workload=f"Adam lr×T grid, d={p.n_embd}, B={p.batch_size}",
        size_knob="vocab V", base_size=p.vocab_size,
        sizes=(64, 128, 256) if quick else (64, 128, 256, 512),
        size_members=4, steps=40 if quick else 200,
        build=lambda members, vocab, steps: Work(adam_grid(members), config(vocab, steps)),
        batched=lambda w, dev: train_sweep(w.members, w.cfg, dev),
        loop=lambda w, dev: [train_alone(m, w.cfg, dev) for m in w.members],
        memory=memory_bytes, chunk=chunk_of, n_params=lambda vocab: vocab * p.n_embd)


def chunk_rows(device: torch.device, steps: int, sizes: Sequence[int]) -> list[dict]:
    """The chapter's default grid (Adam + SGD, one seed) at several chunk sizes, and the loop."""
    p = OneThirdParams()
    members = (grid_members("adam", p.adam_lrs, p.temperatures, [0])
               + grid_members("sgd", p.sgd_lrs, p.temperatures, [0]))
    work = Work(members, config(p.vocab_size, steps))
    name = f"chapter default grid (Adam + SGD, {len(members)} members)"
    return chunk_series(
        CHAPTER, name, "chunk", len(members), steps, sizes, chunk_of(work, device),
        lambda s: train_sweep(members, work.cfg, device, chunk_members=s),
        lambda: [train_alone(m, work.cfg, device) for m in members],
        lambda mode, s: memory_bytes(work, mode, device, s), device, size_knob="vocab V",
        size=p.vocab_size, model_size=p.vocab_size * p.n_embd)


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    """Rows of wall time, member-steps per second and peak memory for loop vs batched."""
    dev = torch.device(device)
    rows = scaling_rows(scaling(quick), dev, quick)
    if not quick:
        sizes = [32] if dev.type == "cuda" else sorted({4, 8, cpu_chunk_members(), 16, 32})
        rows += chunk_rows(dev, 200, sizes)
    return rows
