"""Benchmark: the GPT family of the chapters' *Real models* sections, stacked vs one at a time.

Same work in one run (same members, seeds, batches and steps), two modes:

- ``loop``: each GPT trained alone the nanoGPT way (:func:`lib.real.train.train_member`: an
  ``nn.Module``, ``torch.optim.AdamW``, autograd, fused attention).
- ``batched``: :func:`lib.real.batched.train_group`: the members stacked over a leading dimension
  (``torch.func`` ``vmap`` of one forward/backward, explicit attention, per-member clipping,
  ``BatchedAdam``), one program for the group.

Series: ``members`` (M seeds of one architecture, width 64, depth 2: the stack has no padding) and
``model_size`` (width 32–128 at 4 members). Random tokens stand in for text: the cost does not
depend on which tokens. ``peak_mem_mb`` on a CPU is :func:`lib.real.batched.group_memory_bytes`.
This is the measurement behind ``family_batching = "auto"`` (loop on a CPU, stacked on CUDA).

    python -m benchmarks --only real [--quick] [--device cuda]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmarks.harness import Scaling, scaling_rows
from lib.real.batched import group_memory_bytes, train_group
from lib.real.train import Member, TokenData, TrainConfig, train_member

CHAPTER = "real_models"
VOCAB, DEPTH = 512, 2


@dataclass(frozen=True)
class Work:
    members: list[Member]
    data: TokenData
    cfg: TrainConfig


def tokens() -> TokenData:
    g = torch.Generator().manual_seed(0)
    return TokenData(train=torch.randint(0, VOCAB, (100_000,), generator=g),
                     heldout=torch.randint(0, VOCAB, (10_000,), generator=g),
                     heldout_bytes=20_000, vocab_size=VOCAB)


def scaling(quick: bool) -> Scaling:
    data = tokens()
    batch, block = (8, 32) if quick else (16, 64)

    def build(members: int, width: int, steps: int) -> Work:
        cfg = TrainConfig(steps=steps, batch_size=batch, block_size=block, warmup_steps=1,
                          n_evals=2, eval_windows=8)
        return Work([Member(width, DEPTH, s) for s in range(members)], data, cfg)

    def memory(work: Work, mode: str, device: torch.device) -> int:
        n = len(work.members) if mode == "batched" else 1
        return group_memory_bytes(n, work.members[0].width, DEPTH, VOCAB, batch, block,
                                  explicit_attention=mode == "batched")

    return Scaling(
        chapter=CHAPTER, workload=f"GPT family, depth {DEPTH}, V={VOCAB}, B={batch}, T={block}",
        size_knob="width m", base_size=64, sizes=(32, 64, 128), size_members=4,
        steps=4 if quick else 40,
        build=build,
        batched=lambda w, dev: train_group(w.members, w.data, w.cfg, dev),
        loop=lambda w, dev: [train_member(m, w.data, w.cfg, dev) for m in w.members],
        memory=memory, chunk=lambda w, dev: len(w.members),
        n_params=lambda width: 12 * width**2 * DEPTH,
        quick_members=(1, 4, 16), quick_loop_members=(1, 4, 16))


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    """Rows of wall time, member-steps per second and peak memory for loop vs stacked."""
    return scaling_rows(scaling(quick), torch.device(device), quick)
