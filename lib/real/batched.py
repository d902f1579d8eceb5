"""Train several members of the GPT family as one program, over a leading member dimension.

:func:`lib.real.train.train_member` trains one model at a time, the way nanoGPT (and the papers'
cluster jobs) do. Here the members of a group are stacked: every parameter gets a leading member
dimension (``torch.func.stack_module_state``), one forward/backward is ``vmap``-ed over it
(``torch.func.functional_call`` on a single GPT skeleton), gradients are clipped per member, and
:class:`lib.core.ensemble.BatchedAdam` updates every member with its own moments. Members of
different depths share a program by padding the shallower ones with *inactive* blocks
(``GPT.forward(active=...)``: an inactive block is the identity and gets no gradient), so a padded
member trains exactly as it would alone, to float rounding (tested against ``train_member``).

Which members share a program is the caller's choice (:func:`groups`): ``"architecture"`` stacks
only identical (width, depth) models (seeds; no wasted work), ``"width"`` also stacks depths at one
width (padding costs the inactive blocks' compute, which a GPU hides behind fewer, larger kernels;
widths are never stacked, as LayerNorm and the head count depend on the width). On 2 CPU cores
the loop is as fast or faster for models this small (``benchmarks/bench_real.py``), so
:func:`lib.real.experiments.run_family` uses this module on CUDA only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from copy import deepcopy

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from lib.core.ensemble import BatchedAdam, _per_member
from lib.core.sweep import plan_chunks
from lib.real.gpt import GPT
from lib.real.train import (
    FamilyResult,
    Member,
    MemberResult,
    TokenData,
    TrainConfig,
    build_model,
    eval_steps,
    get_batch,
    heldout_windows,
    lr_factor,
    nats_to_bpb,
    tau_schedule,
)


def groups(members: Sequence[Member], by: str) -> list[list[Member]]:
    """Members that train as one program: same (width, depth) for ``"architecture"``, same width
    for ``"width"``; order of first appearance is kept."""
    if by not in ("architecture", "width"):
        raise ValueError(f"by must be 'architecture' or 'width', got {by!r}")
    out: dict[tuple, list[Member]] = {}
    for m in members:
        key = (m.width, m.depth) if by == "architecture" else (m.width,)
        out.setdefault(key, []).append(m)
    return list(out.values())


def _padded(member: Member, depth: int, vocab_size: int, cfg: TrainConfig,
            device: torch.device) -> GPT:
    """The member's own initialisation, as a ``depth``-block GPT whose extra blocks are zeros."""
    own = build_model(member, vocab_size, cfg, device)
    if member.depth == depth:
        return own
    big = build_model(Member(member.width, depth, member.seed), vocab_size, cfg, device)
    state = {k: torch.zeros_like(v) for k, v in big.state_dict().items()}
    state.update(own.state_dict())
    big.load_state_dict(state)
    return big


def _unpadded(member: Member, params: dict[str, torch.Tensor], k: int, vocab_size: int,
              cfg: TrainConfig) -> GPT:
    """Member ``k`` of the stacked parameters as its own GPT (on the CPU, in eval mode)."""
    model = build_model(member, vocab_size, cfg, torch.device("cpu"))
    state = model.state_dict()
    for name in state:
        source = "wte.weight" if name == "lm_head.weight" else name  # tied
        state[name] = params[source][k].detach().cpu().clone()
    model.load_state_dict(state)
    return model.eval()


def train_group(group: Sequence[Member], data: TokenData, cfg: TrainConfig,
                device: torch.device) -> list[MemberResult]:
    """Train ``group`` as one program; one :class:`MemberResult` per member, as
    ``train_member`` would return it (curves stop at a member's first non-finite evaluation)."""
    started = time.time()
    M, depth = len(group), max(m.depth for m in group)
    models = [_padded(m, depth, data.vocab_size, cfg, device) for m in group]
    params, _ = stack_module_state(models)  # name -> (M, ...)
    params = {k: v.detach() for k, v in params.items()}
    skeleton = deepcopy(models[0])  # its own weights are never used (functional_call)
    for module in skeleton.modules():  # explicit attention: vmap cannot batch the fused kernel
        if hasattr(module, "flash"):
            module.flash = False
    active = torch.tensor([[i < m.depth for i in range(depth)] for m in group],
                          device=device)  # (M, L)

    def loss_of(p, act, x, y):
        return functional_call(skeleton, p, (x, y), {"active": act})[1]

    step_fn = vmap(grad_and_value(loss_of))  # per member: (grads, loss)
    eval_fn = vmap(loss_of, in_dims=(0, 0, None, None))  # shared held-out windows
    names = list(params)
    opt = BatchedAdam([params[n] for n in names], torch.full((M,), cfg.lr, device=device),
                      betas=(0.9, 0.95), eps=1e-8)
    decay = [params[n] for n in names if params[n].dim() >= 3]  # matrices (nanoGPT's rule)
    gens = {s: torch.Generator(device="cpu").manual_seed(s) for s in {m.seed for m in group}}
    xe, ye = heldout_windows(data.heldout, cfg.eval_windows, cfg.block_size)
    xe, ye = xe.to(device), ye.to(device)
    taus = tau_schedule(cfg)
    checkpoints = set(eval_steps(cfg))
    train_log = torch.zeros(cfg.steps, M, device=device)  # logged on device, read at evals
    rows: list[dict] = []
    for step in range(cfg.steps):
        factor = lr_factor(step, cfg)
        batches = {s: get_batch(data.train, cfg.batch_size, cfg.block_size, g)
                   for s, g in gens.items()}  # one draw per seed, as each member alone would
        x = torch.stack([batches[m.seed][0] for m in group]).to(device)  # (M, B, T)
        y = torch.stack([batches[m.seed][1] for m in group]).to(device)  # (M, B, T)
        grads, loss = step_fn(params, active, x, y)
        g = [grads[n] for n in names]
        norm = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(t.flatten(1), dim=1) for t in g]), dim=0)
        coef = torch.clamp(cfg.grad_clip / (norm + 1e-6), max=1.0)  # (M,) clip_grad_norm_
        g = [t * _per_member(coef, t) for t in g]
        if cfg.weight_decay:
            with torch.no_grad():
                for p in decay:
                    p.mul_(1 - cfg.lr * factor * cfg.weight_decay)
        opt.step(g, scale=factor)
        train_log[step] = loss.detach()
        if step + 1 in checkpoints:
            with torch.no_grad():
                total = torch.zeros(M, device=device)
                for i in range(0, xe.shape[0], 64):
                    total += eval_fn(params, active, xe[i:i + 64], ye[i:i + 64]) * \
                        ye[i:i + 64].numel()
            nats = (total / ye.numel()).cpu().numpy()
            lo = max(0, step + 1 - 10)
            train_nats = train_log[lo:step + 1].mean(0).cpu().numpy()
            for k in range(M):
                rows.append({"k": k, "step": step + 1, "tau": float(taus[step]),
                             "lr": cfg.lr * factor, "heldout_nats": float(nats[k]),
                             "heldout_bpb": nats_to_bpb(float(nats[k]),
                                                        data.heldout_bytes_per_token),
                             "train_nats": float(train_nats[k])})
    seconds = (time.time() - started) / M  # the group's wall time, shared equally
    frame = pd.DataFrame(rows)
    results = []
    for k, member in enumerate(group):
        curve = frame[frame.k == k].drop(columns="k").reset_index(drop=True)
        bad = ~np.isfinite(curve.heldout_nats.to_numpy())
        diverged = bool(bad.any())
        if diverged:  # as train_member: stop at the first non-finite evaluation, NaN the values
            curve = curve.iloc[: int(np.argmax(bad)) + 1].copy()
            curve[["heldout_nats", "heldout_bpb", "train_nats"]] = math.nan
        model = _unpadded(member, params, k, data.vocab_size, cfg)
        results.append(MemberResult(member, curve, model, model.num_params(), seconds, diverged))
    return results


def members_that_fit(group: Sequence[Member], vocab_size: int, cfg: TrainConfig,
                     budget_bytes: int) -> int:
    """How many members of ``group`` one program may stack within ``budget_bytes``, by
    :func:`group_memory_bytes` at the group's largest width and depth (at least 1)."""
    width, depth = max(m.width for m in group), max(m.depth for m in group)
    one = group_memory_bytes(1, width, depth, vocab_size, cfg.batch_size, cfg.block_size,
                             cfg.head_dim)
    return max(1, min(len(group), budget_bytes // one))


def train_family_batched(members: Sequence[Member], data: TokenData, cfg: TrainConfig,
                         device: torch.device, by: str = "width") -> FamilyResult:
    """Train the family group by group (:func:`groups`); members come back in input order.
    On CUDA a group is cut into chunks whose analytic memory is at most a quarter of the free
    device memory (temporaries and the allocator's slack take the rest)."""
    done: dict[Member, MemberResult] = {}
    for group in groups(members, by):
        size = len(group)
        if device.type == "cuda":
            size = members_that_fit(group, data.vocab_size, cfg,
                                    torch.cuda.mem_get_info(device)[0] // 4)
        for idx in plan_chunks(group, size, device, cpu_default=size):
            for r in train_group([group[i] for i in idx], data, cfg, device):
                done[r.member] = r
    return FamilyResult(cfg, [done[m] for m in members])


def group_memory_bytes(n_members: int, width: int, depth: int, vocab_size: int,
                       batch_size: int, block_size: int, head_dim: int = 16,
                       explicit_attention: bool = True) -> int:
    """Analytic float32 bytes one training step of ``n_members`` stacked GPTs holds: parameters,
    gradients and two Adam moments (4 copies), and the activations autograd keeps per block
    (about 16 (B, T, C) tensors: LayerNorms, QKV, MLP 4C in and out) plus, with the explicit
    attention, the (B, nh, T, T) scores and probabilities, and the logits with their gradient."""
    n_params = vocab_size * width + block_size * width + depth * (12 * width**2 + 13 * width)
    tokens = batch_size * block_size
    per_block = 16 * tokens * width
    if explicit_attention:
        per_block += 2 * batch_size * (width // head_dim) * block_size**2
    activations = depth * per_block + 3 * tokens * vocab_size
    return 4 * n_members * (4 * n_params + activations)
