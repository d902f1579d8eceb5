"""Train a family of small GPTs (:mod:`lib.real.gpt`) over width and depth on real text, and
record held-out loss against the *dynamic time* τ = Σ_t η_t of the learning-rate schedule
(the one-third paper's clock, arXiv:2602.03685), in nats per token and bits per byte.

Members are trained **one after another**, not stacked over a member dimension. A width sweep
of transformers cannot be padded simply: LayerNorm statistics and the attention head count depend
on the width, so a padded member would not equal the unpadded model. Depth could be padded with
identity blocks, but on 2 CPU cores stacking is slower than a loop for models this small
(``shared/notes/performance.md``), and on a GPU each member is a few milliseconds per step. Every
member sees the *same* sequence of training batches (one data generator per seed), so members of
one seed differ only by architecture and initialisation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from lib.core.fit import half_checkpoint
from lib.real.gpt import GPT, GPTConfig


@dataclass(frozen=True)
class TokenData:
    """Token streams of the train and held-out splits (int64 tensors on the CPU) and the UTF-8
    bytes the held-out stream decodes to (for bits per byte)."""

    train: torch.Tensor  # (N_train,)
    heldout: torch.Tensor  # (N_heldout,)
    heldout_bytes: int
    vocab_size: int

    @property
    def heldout_bytes_per_token(self) -> float:
        return self.heldout_bytes / self.heldout.numel()


def nats_to_bpb(nats_per_token: float, bytes_per_token: float) -> float:
    """Loss in nats per token -> bits per UTF-8 byte, given the text's bytes per token."""
    return nats_per_token / (math.log(2) * bytes_per_token)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    batch_size: int = 32
    block_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 30
    schedule: str = "constant"  # after warm-up: "constant" or "cosine" (to min_lr_frac · lr)
    min_lr_frac: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    n_evals: int = 24  # held-out evaluations, log-spaced in steps
    eval_windows: int = 64  # held-out windows of block_size tokens per evaluation
    head_dim: int = 16


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of ``cfg.lr`` at ``step`` (0-based): linear warm-up over ``warmup_steps``
    (nanoGPT: (step+1)/(warmup+1)), then constant or a cosine decay to ``min_lr_frac``."""
    if step < cfg.warmup_steps:
        return (step + 1) / (cfg.warmup_steps + 1)
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "cosine":
        span = max(1, cfg.steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"schedule must be 'constant' or 'cosine', got {cfg.schedule!r}")


def tau_schedule(cfg: TrainConfig) -> np.ndarray:
    """τ after each step: ``tau[t] = Σ_{s ≤ t} η_s`` (shape (steps,))."""
    return np.cumsum([cfg.lr * lr_factor(s, cfg) for s in range(cfg.steps)])


def eval_steps(cfg: TrainConfig) -> list[int]:
    """Steps (1-based counts of updates done) at which held-out loss is measured: log-spaced
    from the first step to the last, always including both ends."""
    pts = np.unique(np.round(np.geomspace(1, cfg.steps, cfg.n_evals)).astype(int))
    return sorted(set(pts.tolist()) | {cfg.steps})


def get_batch(stream: torch.Tensor, batch_size: int, block_size: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of ``block_size + 1`` tokens: inputs (B, T) and next-token targets."""
    starts = torch.randint(0, stream.numel() - block_size - 1, (batch_size,), generator=generator)
    idx = starts[:, None] + torch.arange(block_size + 1)  # (B, T+1)
    w = stream[idx]  # (B, T+1)
    return w[:, :-1], w[:, 1:]


def heldout_windows(stream: torch.Tensor, n_windows: int, block_size: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_windows`` evenly spaced, fixed held-out windows: inputs and targets (W, T)."""
    last = stream.numel() - block_size - 1
    if last < 0:
        raise ValueError(f"held-out stream of {stream.numel()} tokens is shorter than one window")
    starts = torch.linspace(0, last, n_windows).long()  # (W,)
    w = stream[starts[:, None] + torch.arange(block_size + 1)]  # (W, T+1)
    return w[:, :-1], w[:, 1:]


@torch.no_grad()
def evaluate(model: GPT, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` on windows (W, T)."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, x.shape[0], batch):
        _, loss = model(x[i:i + batch], y[i:i + batch])
        n = y[i:i + batch].numel()
        total += float(loss) * n
        count += n
    model.train()
    return total / count


@dataclass(frozen=True)
class Member:
    """One model of the family."""

    width: int
    depth: int
    seed: int

    @property
    def label(self) -> str:
        return f"m={self.width}, ℓ={self.depth}, seed={self.seed}"


@dataclass
class MemberResult:
    member: Member
    curve: pd.DataFrame  # step, tau, lr, heldout_nats, heldout_bpb, train_nats
    model: GPT
    n_params: int  # non-embedding
    seconds: float
    diverged: bool = False


@dataclass
class FamilyResult:
    config: TrainConfig
    members: list[MemberResult] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """Every evaluation of every member, one row each, with the member's columns."""
        rows = []
        for r in self.members:
            f = r.curve.copy()
            f.insert(0, "seed", r.member.seed)
            f.insert(0, "depth", r.member.depth)
            f.insert(0, "width", r.member.width)
            f["n_params"] = r.n_params
            f["diverged"] = r.diverged
            rows.append(f)
        return pd.concat(rows, ignore_index=True)

    def final(self) -> pd.DataFrame:
        """The last evaluation of each member."""
        f = self.frame()
        return f[f.step == f.step.max()].reset_index(drop=True)


def member_seed(member: Member) -> int:
    """Initialisation seed of one member: a function of (seed, width, depth) only."""
    return 1_000_003 * member.seed + 1009 * member.width + member.depth


def head_dim_for(width: int, preferred: int = 16) -> int:
    """``preferred`` if it divides the width, else the largest power of two that does."""
    if width % preferred == 0:
        return preferred
    return width & -width  # lowest set bit: the largest power of two dividing width


def build_model(member: Member, vocab_size: int, cfg: TrainConfig,
                device: torch.device) -> GPT:
    gcfg = GPTConfig(vocab_size=vocab_size, block_size=cfg.block_size, n_layer=member.depth,
                     n_embd=member.width, head_dim=head_dim_for(member.width, cfg.head_dim))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(member_seed(member))
        model = GPT(gcfg)
    return model.to(device)


def configure_optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay only on matrices (nanoGPT's rule: tensors with dim ≥ 2)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)


def train_member(member: Member, data: TokenData, cfg: TrainConfig,
                 device: torch.device) -> MemberResult:
    """Train one GPT with AdamW on random train windows; evaluate on fixed held-out windows at
    :func:`eval_steps`. A non-finite loss stops the member and marks it diverged."""
    started = time.time()
    model = build_model(member, data.vocab_size, cfg, device)
    opt = configure_optimizer(model, cfg)
    gen = torch.Generator(device="cpu").manual_seed(member.seed)  # shared by all members
    xe, ye = heldout_windows(data.heldout, cfg.eval_windows, cfg.block_size)
    xe, ye = xe.to(device), ye.to(device)
    taus = tau_schedule(cfg)
    checkpoints = set(eval_steps(cfg))
    train_log = torch.zeros(cfg.steps, device=device)  # logged on device, read once
    rows, diverged = [], False
    for step in range(cfg.steps):
        lr = cfg.lr * lr_factor(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = get_batch(data.train, cfg.batch_size, cfg.block_size, gen)
        _, loss = model(x.to(device), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        train_log[step] = loss.detach()
        if step + 1 in checkpoints:
            nats = evaluate(model, xe, ye)
            if not math.isfinite(nats):
                diverged = True
            lo = max(0, step + 1 - 10)
            rows.append({"step": step + 1, "tau": float(taus[step]), "lr": lr,
                         "heldout_nats": nats,
                         "heldout_bpb": nats_to_bpb(nats, data.heldout_bytes_per_token),
                         "train_nats": float(train_log[lo:step + 1].mean())})
            if diverged:
                break
    curve = pd.DataFrame(rows)
    if diverged:
        curve[["heldout_nats", "heldout_bpb", "train_nats"]] = np.nan
    return MemberResult(member, curve, model.cpu().eval(), model.num_params(),
                        time.time() - started, diverged)


def train_family(members: Sequence[Member], data: TokenData, cfg: TrainConfig,
                 device: torch.device, progress: bool = False) -> FamilyResult:
    """Train every member in turn (see the module docstring for why not stacked)."""
    result = FamilyResult(cfg)
    if progress:
        from tqdm import tqdm

        members = tqdm(members, desc="GPT family", leave=False)
    for member in members:
        result.members.append(train_member(member, data, cfg, device))
    return result


def family_grid(widths: Sequence[int], depths: Sequence[int], seeds: Sequence[int]
                ) -> list[Member]:
    return [Member(w, d, s) for s in seeds for w in widths for d in depths]


def half_run_step(steps: Iterable[int]) -> int:
    """The evaluation step nearest half the last one, on a log scale
    (:func:`lib.core.fit.half_checkpoint`): where a chapter's convergence check recomputes an
    exponent of the family (``steps``: the evaluation steps, e.g. ``frame.step`` or
    ``eval_steps(cfg)``)."""
    s = np.unique(np.asarray(list(steps), float))
    s = s[s > 0]
    return int(s[half_checkpoint(s)])
