"""Train a whole depth sweep as batched tensor programs (arXiv 2602.05970, §3 toy model).

A *member* is one student: its depth ℓ, its teacher (correlation ρ between teacher layers and
replicate index), the teacher temperature T, the loss (KL through the shared head, or MSE on the
RMS-normalised outputs) and the integrator (Euler residual blocks or RK2 midpoint layers).

How the sweep is batched (``shared/DESIGN.md``):

- members are trained in chunks (all at once on a GPU; a measured size on a CPU, see
  ``benchmarks/bench_depth.py``), every parameter carrying a leading member dimension;
- depths are padded to the deepest member of the chunk with frozen zero blocks (the identity), and
  members are sorted deepest first so the padding costs no compute (``model.forward``);
- the loss is summed over members, so each gets exactly the gradient it would get alone, and
  :class:`~lib.depth.optim.MemberAdam` applies a per-member learning rate;
- **one replicate = one teacher + one stream of fresh inputs**: every member of that replicate
  (all depths and temperatures) sees the same input batch each step, so the deep teacher runs
  once per step per replicate and its output serves all of them (a temperature only rescales
  the logits). The authors recompute the teacher for every student; the numbers are the same
  in distribution, and a member's inputs do not depend on how the sweep is chunked;
- the inputs are fresh every step, as the authors draw them, so the teacher's work per input
  cannot be saved; :class:`TeacherFeed` draws the inputs of a block of steps (the same draws,
  in the same order, as step by step) and runs the teacher once over the block, in place
  (:func:`~lib.depth.model.teacher_forward`): fewer, larger products, the same numbers;
- each finished chunk is stored while the sweep runs inside ``run.memo`` (:func:`lib.core.sweep.
  stored_chunk`), so a long sweep that is killed resumes from its finished chunks.

Two KL setups, as the authors ran them (liuyz0/DepthScaling; :data:`HEADS`):

- ``head="trained"`` (``exp/exp-9.py``, ``exp-9-1.py``: the runs behind the paper's Figs 3b and
  4c): the teacher has its own random head (``nn.Linear`` initialisation, uniform ±1/√d) and its
  logits are divided by T; the student has its *own* head, initialised to zero and trained, its
  logits are not divided by T; Adam at a constant 6e-4 for every parameter (no depth scaling, no
  decay). The chapter uses it for the independent teacher (ρ = 0), as exp-9 does.
- ``head="shared"`` (``exp/exp-9-3.py``: the longer runs of Fig. 4a,b): a fixed random head
  ``randn(d, V)/√d`` shared by teacher and student, both logits divided by T, Adam at
  6e-4·4/√ℓ, decayed over the last 20 % of steps. The chapter uses it for the tied teacher
  (ρ = 1), as exp-9-3 does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from lib.core.divergence import finite_members
from lib.core.sweep import plan_chunks, seed_for, stored_chunk
from lib.depth.backprop import backward, forward_cached
from lib.depth.model import (
    N_EMBD,
    ResidualStack,
    final_stream,
    head_weight,
    kl_to_teacher,
    mlps_per_layer,
    mse_to_teacher,
    own_head_weight,
    rmsnorm,
    stack_members,
    stream_overflowed,
    student_weights,
    teacher_forward,
    teacher_weights,
)
from lib.depth.optim import MemberAdam, TensorAdam

# Members per chunk on a CPU, measured with benchmarks/bench_depth.py (the chapter's default KL
# sweep of 24 students at chunks of 4, 12 and 24 members): all 24 together was fastest.
CPU_CHUNK_MEMBERS = 24
# Inputs per teacher that one teacher forward covers (TeacherFeed): a block of
# max(1, rows // batch_size) steps. On a CPU measured with benchmarks/bench_depth.py (`teacher`
# series: 3 teachers of 64 layers, batch 128, 2 threads: 5.7 ms per step one step at a time,
# 4.0 ms in blocks of 4 steps, no better beyond, as the block falls out of cache). On CUDA,
# where each of the teacher's ~6 kernels per layer costs a launch, a larger block; not measured
# yet (no GPU lent so far).
CPU_TEACHER_ROWS = 512
CUDA_TEACHER_ROWS = 16_384

LOSSES = ("kl", "mse")
HEADS = ("trained", "shared", "none")  # KL: exp-9 / exp-9-3 setups; MSE: no head


def authors_head(rho: float) -> str:
    """The KL setup the authors ran for this teacher: the independent teacher (ρ = 0) with a
    trained zero-initialised head (exp-9), the tied teacher with the shared head (exp-9-3)."""
    return "trained" if rho == 0.0 else "shared"


@dataclass(frozen=True)
class Member:
    """One student of a sweep."""

    depth: int
    rho: float
    replicate: int
    temperature: float = 1.0
    loss: str = "kl"
    integrator: str = "euler"
    head: str = "shared"  # KL setup (HEADS): "trained" (exp-9), "shared" (exp-9-3); MSE: "none"

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")

    def label(self) -> str:
        t = f", T={self.temperature:g}" if self.loss == "kl" else ""
        return (f"{self.loss}/{self.integrator} ℓ={self.depth}, ρ={self.rho:g}, "
                f"replicate {self.replicate}{t}")

    @property
    def teacher_key(self) -> tuple[float, int]:
        return (self.rho, self.replicate)


@dataclass(frozen=True)
class SweepConfig:
    """Training settings shared by every member (defaults: the authors' exp-9-3)."""

    teacher_depth: int = 128  # ℓ*
    steps: int = 80_000
    batch_size: int = 1024
    lr_multiplier: float = 1.0  # times the authors' per-depth learning rate (`base_lr`)
    n_checkpoints: int = 12  # test-loss evaluations, log-spaced in steps
    n_test: int = 10_240  # fresh test inputs per replicate (the authors: 10 batches of 1024)
    seed: int = 0


def member_grid(depths: Sequence[int], rhos: Sequence[float], n_replicates: int,
                temperatures: Sequence[float] = (1.0,), loss: str = "kl",
                integrator: str = "euler", head: str | None = None) -> list[Member]:
    """Every (ρ, replicate, temperature, depth) combination. ``head`` None: the authors' KL
    setup for each ρ (:func:`authors_head`); MSE members have no head."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    temps = temperatures if loss == "kl" else (1.0,)

    def head_of(rho: float) -> str:
        if loss == "mse":
            return "none"
        return head if head is not None else authors_head(rho)

    return [Member(int(d), float(r), k, float(t), loss, integrator, head_of(float(r)))
            for r in rhos for k in range(n_replicates) for t in temps for d in depths]


def base_lr(member: Member) -> float:
    """The authors' Adam learning rate: ``6e-4·4/√ℓ`` for KL with the shared head (exp-9-3),
    ``6e-4·2/√ℓ`` for MSE (exp-9-6, exp-9-4; ℓ counts RK2 layers); their comment: "important
    for MLP layers to have lr scaling with depth". KL with a trained head (exp-9, exp-9-1):
    6e-4 for every depth."""
    if member.head == "trained":
        return 6e-4
    return 6e-4 * (4.0 if member.loss == "kl" else 2.0) / math.sqrt(member.depth)


def decays(member: Member) -> bool:
    """Whether the member's learning rate follows :func:`lr_factor` (exp-9-3, -9-4, -9-6) or
    stays constant (exp-9, exp-9-1: no scheduler)."""
    return member.head != "trained"


def lr_factor(step: int, steps: int) -> float:
    """Constant, then linear decay over the last 20% of steps down to 10% (authors' get_lr)."""
    if step < 0.8 * steps:
        return 1.0
    return 0.1 + 0.9 * (steps - step) / (0.2 * steps)


def checkpoint_steps(steps: int, n: int) -> np.ndarray:
    """``n`` (or fewer, if steps is small) log-spaced steps from ~steps/32 to ``steps``; the
    last is always ``steps``."""
    if n <= 1:
        return np.array([steps])
    pts = np.geomspace(max(1.0, steps / 32), steps, n)
    return np.unique(np.r_[np.round(pts).astype(int)[:-1], steps])


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g


# ---- teachers ------------------------------------------------------------------------------


@dataclass
class Teacher:
    """A deep teacher (weights on the CPU), the fixed head it shares with its students (exp-9-3)
    and its own head (exp-9: the student learns a head of its own)."""

    rho: float
    replicate: int
    weights: dict[str, torch.Tensor]
    head: torch.Tensor  # (d, V) randn/√d, shared with the student ("shared" setup)
    own_head: torch.Tensor | None = None  # (d, V) uniform ±1/√d, the teacher's alone ("trained")

    def head_for(self, setup: str) -> torch.Tensor:
        """The teacher's head in the KL setup ``setup`` (see :data:`HEADS`)."""
        if setup == "trained":
            if self.own_head is None:
                raise ValueError("this teacher has no own head")
            return self.own_head
        return self.head


def build_teacher(rho: float, replicate: int, cfg: SweepConfig) -> Teacher:
    """Teacher ``replicate`` with layer correlation ``rho``; deterministic in (cfg.seed, rho,
    replicate, ℓ*)."""
    gen = generator(seed_for(cfg.seed, "teacher", rho, replicate, cfg.teacher_depth))
    weights = teacher_weights(cfg.teacher_depth, rho, gen)
    shared = head_weight(gen)  # drawn before the own head: the shared setup's numbers unchanged
    return Teacher(rho, replicate, weights, shared, own_head_weight(gen))


def teacher_outputs(stack: ResidualStack, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """``rmsnorm(h_L)`` of each teacher for inputs ``x`` (n_t, N, d), in batches of ``chunk``."""
    return torch.cat([teacher_forward(stack, x[:, i:i + chunk])
                      for i in range(0, x.shape[1], chunk)], dim=1)


def teacher_block_steps(device: torch.device | str, batch_size: int) -> int:
    """Steps whose inputs one teacher forward covers (:data:`CPU_TEACHER_ROWS`,
    :data:`CUDA_TEACHER_ROWS`)."""
    rows = CUDA_TEACHER_ROWS if torch.device(device).type == "cuda" else CPU_TEACHER_ROWS
    return max(1, rows // batch_size)


class TeacherFeed:
    """Each step's fresh inputs (n_t, B, d) of a chunk's replicates and the teachers' outputs
    on them. The inputs are drawn step by step from each replicate's stream, exactly as one
    step at a time would draw them, ``block`` steps ahead; the teachers then run once over the
    block's inputs (``block`` = 1: once per step). No input is used twice."""

    def __init__(self, teacher: ResidualStack, streams: Sequence[torch.Generator],
                 batch_size: int, block: int, device: torch.device) -> None:
        if block < 1:
            raise ValueError(f"block = {block}: allowed: an integer >= 1")
        self.teacher, self.streams, self.block = teacher, list(streams), block
        self.batch_size, self.device = batch_size, device
        self.x = self.z = torch.empty(0)
        self.pos = block  # steps of the current block already served

    def draw(self) -> torch.Tensor:
        """One fresh batch per replicate: (n_t, B, d)."""
        return torch.stack([torch.randn((self.batch_size, N_EMBD), generator=g,
                                        device=self.device) for g in self.streams])

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's inputs (n_t, B, d) and teacher outputs ``rmsnorm(h_L)`` (n_t, B, d)."""
        if self.pos == self.block:
            self.x = torch.cat([self.draw() for _ in range(self.block)], dim=1)  # (n_t, S·B, d)
            self.z = teacher_forward(self.teacher, self.x)  # (n_t, S·B, d)
            self.pos = 0
        rows = slice(self.pos * self.batch_size, (self.pos + 1) * self.batch_size)
        self.pos += 1
        return self.x[:, rows], self.z[:, rows]


def input_stream(teacher_key: tuple[float, int], cfg: SweepConfig,
                 device: torch.device | str) -> torch.Generator:
    """The generator of fresh training inputs of one replicate (shared by its members)."""
    return generator(seed_for(cfg.seed, "data", *teacher_key), device)


def test_inputs(teacher_key: tuple[float, int], cfg: SweepConfig) -> torch.Tensor:
    """The fixed test inputs (n_test, d) of one replicate."""
    gen = generator(seed_for(cfg.seed, "test", *teacher_key))
    return torch.randn((cfg.n_test, N_EMBD), generator=gen)


def init_student(member: Member, cfg: SweepConfig) -> dict[str, torch.Tensor]:
    gen = generator(seed_for(cfg.seed, "student", member.depth, member.rho, member.replicate,
                          member.temperature, member.loss, member.integrator))
    return student_weights(member.depth, gen, member.integrator)


# ---- one chunk -----------------------------------------------------------------------------


@dataclass
class ChunkResult:
    members: list[Member]
    test_loss: torch.Tensor  # (M, C) on the CPU
    weights: list[dict[str, torch.Tensor]]  # trained, unpadded, on the CPU
    wall_s: float


class ChunkProblem:
    """Everything a chunk's training step needs: stacked students, teachers, heads, targets."""

    def __init__(self, members: Sequence[Member], cfg: SweepConfig, device: torch.device,
                 init: Sequence[dict[str, torch.Tensor]] | None = None) -> None:
        if len({(m.loss, m.integrator, m.head) for m in members}) != 1:
            raise ValueError("a chunk mixes losses, integrators or KL setups")
        self.order = sorted(range(len(members)), key=lambda i: -members[i].depth)
        self.members = [members[i] for i in self.order]  # deepest first
        self.cfg, self.device = cfg, device
        self.loss = self.members[0].loss
        self.setup = self.members[0].head
        keys = sorted({m.teacher_key for m in self.members})
        teachers = [build_teacher(r, k, cfg) for r, k in keys]
        self.teacher = stack_members([t.weights for t in teachers], device=device)
        self.tix = torch.tensor([keys.index(m.teacher_key) for m in self.members], device=device)
        # the teacher's head per member (M, d, V); the student's: the same ("shared") or its
        # own, zero at initialisation and trained ("trained", exp-9)
        self.heads = torch.stack([t.head_for(self.setup) for t in teachers]
                                 ).to(device)[self.tix].contiguous()
        self.trained_head = self.setup == "trained"
        self.student_heads = (torch.zeros_like(self.heads) if self.trained_head
                              else self.heads)
        self.inv_temp = torch.tensor([1.0 / m.temperature for m in self.members],
                                     device=device)[:, None, None]  # (M, 1, 1)
        weights = ([init[i] for i in self.order] if init is not None
                   else [init_student(m, cfg) for m in self.members])
        # no autograd on the students: backprop.py writes their gradients
        self.student = stack_members(weights, self.members[0].integrator, device)
        self.streams = [input_stream(k, cfg, device) for k in keys]
        self.x_test = torch.stack([test_inputs(k, cfg) for k in keys]).to(device)  # (n_t, N, d)
        self.z_test = teacher_outputs(self.teacher, self.x_test)  # (n_t, N, d)

    def feed(self, block: int) -> TeacherFeed:
        """The training inputs and teacher outputs, ``block`` steps per teacher forward."""
        return TeacherFeed(self.teacher, self.streams, self.cfg.batch_size, block, self.device)

    def member_losses(self, z_s: torch.Tensor, z_teacher: torch.Tensor) -> torch.Tensor:
        """(M,) loss of each student given its normalised output ``z_s`` (M, B, d) and the
        teachers' normalised outputs ``z_teacher`` (n_t, B, d)."""
        z_t = z_teacher[self.tix]  # (M, B, d)
        if self.loss == "mse":
            return mse_to_teacher(z_s, z_t)
        t_logprobs = torch.log_softmax(z_t @ self.heads * self.inv_temp, dim=-1)  # (M, B, V)
        if self.trained_head:  # exp-9: the student's own head, its logits not divided by T
            return kl_to_teacher(z_s @ self.student_heads, t_logprobs)
        return kl_to_teacher(z_s @ self.heads * self.inv_temp, t_logprobs)

    def test_losses(self, batch: int = 2048) -> torch.Tensor:
        """(M,) loss on the fixed test inputs; NaN for a student whose residual stream
        overflowed on some test input (diverged: see ``model.stream_overflowed``)."""
        n = self.x_test.shape[1]
        total = torch.zeros(len(self.members), device=self.device)
        overflowed = torch.zeros(len(self.members), dtype=torch.bool, device=self.device)
        with torch.no_grad():
            for i in range(0, n, batch):
                h, _ = final_stream(self.student, self.x_test[self.tix, i:i + batch])  # (M,b,d)
                overflowed |= stream_overflowed(h)
                total += self.member_losses(rmsnorm(h), self.z_test[:, i:i + batch]) * min(
                    batch, n - i)
        return torch.where(overflowed, torch.nan, total / n)

    def gradients(self, x: torch.Tensor, z_teacher: torch.Tensor
                  ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Member losses (M,) and the gradients of their sum (each member's own gradient) by
        the hand-written backward pass of ``backprop.py``; autograd only for the loss head.
        With a trained head its gradient (M, d, V) is appended to the block gradients."""
        with torch.no_grad():
            z_s, cache = forward_cached(self.student, x[self.tix])  # (M, B, d)
        z_s.requires_grad_()
        if self.trained_head:
            self.student_heads.requires_grad_(True)
        losses = self.member_losses(z_s, z_teacher)
        wrt = [z_s, self.student_heads] if self.trained_head else [z_s]
        g_z, *g_head = torch.autograd.grad(losses.sum(), wrt)
        if self.trained_head:
            self.student_heads.requires_grad_(False)
        with torch.no_grad():
            return losses.detach(), backward(self.student, cache, g_z) + g_head

    def member_weights(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k``'s trained weights (unpadded, CPU), with its head if it trained one."""
        w = self.student.member(k)
        if self.trained_head:
            w["head"] = self.student_heads[k].detach().cpu().clone()
        return w

    def unsort(self, values: list) -> list:
        out = [None] * len(values)
        for pos, i in enumerate(self.order):
            out[i] = values[pos]
        return out


def train_chunk(members: Sequence[Member], cfg: SweepConfig, device: torch.device,
                init: Sequence[dict[str, torch.Tensor]] | None = None,
                teacher_block: int = 0) -> ChunkResult:
    """Train one chunk of students together (``init`` overrides the seeded initialisation;
    ``teacher_block`` steps per teacher forward, 0: :func:`teacher_block_steps`; the same
    inputs whatever the block, the same numbers up to float32 rounding)."""
    t0 = time.perf_counter()
    prob = ChunkProblem(members, cfg, device, init)
    feed = prob.feed(teacher_block or teacher_block_steps(device, cfg.batch_size))
    rates = [base_lr(m) * cfg.lr_multiplier for m in prob.members]
    opt = MemberAdam(prob.student, rates)
    head_opt = TensorAdam(prob.student_heads, rates) if prob.trained_head else None
    decay = decays(prob.members[0])
    ckpts = checkpoint_steps(cfg.steps, cfg.n_checkpoints)
    test_loss = torch.full((len(prob.members), ckpts.size), float("nan"), device=device)
    c = 0
    for step in range(cfg.steps):
        x, z_teacher = feed.next()  # (n_t, B, d) each: the teacher once per replicate
        _, grads = prob.gradients(x, z_teacher)  # each member's own gradient
        scale = lr_factor(step, cfg.steps) if decay else 1.0
        opt.step(grads[:3], scale=scale)
        if head_opt is not None:
            head_opt.step(grads[3], scale=scale)
        if c < ckpts.size and step + 1 == ckpts[c]:
            test_loss[:, c] = prob.test_losses()
            c += 1
    weights = [prob.member_weights(k) for k in range(len(prob.members))]
    return ChunkResult(
        members=list(members),
        test_loss=torch.stack(prob.unsort(list(test_loss.cpu()))),
        weights=prob.unsort(weights),
        wall_s=time.perf_counter() - t0,
    )


# ---- the whole sweep -----------------------------------------------------------------------


def plan(members: Sequence[Member], chunk_members: int, device: torch.device | str
         ) -> list[list[int]]:
    """This topic's use of :func:`lib.core.sweep.plan_chunks`: one (loss, integrator, KL setup)
    per chunk, replicates kept together (their teacher runs once per step per chunk), at most
    ``chunk_members`` members (0: all on CUDA, :data:`CPU_CHUNK_MEMBERS` on a CPU)."""
    return plan_chunks(members, chunk_members, device, CPU_CHUNK_MEMBERS,
                       group=lambda m: (m.loss, m.integrator, m.head),
                       order=lambda m: (m.rho, m.replicate, m.temperature, -m.depth))


@dataclass
class SweepResult:
    """Per-member test-loss curves and trained weights of a sweep."""

    members: list[Member]
    checkpoints: np.ndarray  # (C,) steps at which the test loss was measured
    test_loss: np.ndarray  # (N, C)
    weights: list[dict[str, torch.Tensor]]
    wall_s: float
    n_chunks: int
    chunk_members: int = 0  # the most members a chunk held
    # (N,) True where the member stayed finite: a finite test loss at every checkpoint
    # (a student whose residual stream overflowed has NaN there, see test_losses)
    ok: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.ok = finite_members(torch.as_tensor(self.test_loss)).numpy()

    @property
    def final_loss(self) -> np.ndarray:
        return self.test_loss[:, -1]

    def frame(self) -> pd.DataFrame:
        """One row per member and checkpoint: the data behind the loss-vs-depth figures."""
        rows = []
        for m, curve, ok in zip(self.members, self.test_loss, self.ok, strict=True):
            for step, value in zip(self.checkpoints, curve, strict=True):
                rows.append({"depth": m.depth, "rho": m.rho, "replicate": m.replicate,
                             "temperature": m.temperature, "loss_kind": m.loss,
                             "integrator": m.integrator, "head": m.head, "step": int(step),
                             "test_loss": float(value), "finite": bool(ok)})
        return pd.DataFrame(rows)


def train_sweep(members: Sequence[Member], cfg: SweepConfig, device: torch.device,
                chunk_members: int = 0) -> SweepResult:
    """Train every member in chunks of at most ``chunk_members`` (:func:`plan`; 0: automatic)."""
    chunks = plan(members, chunk_members, device)
    test_loss: list = [None] * len(members)
    weights: list = [None] * len(members)
    wall_s = 0.0  # the chunks' training time (a loaded chunk's: when it was computed)
    for idx in chunks:  # a chunk finished before an interruption is loaded, not trained again
        res = stored_chunk(train_chunk, [members[i] for i in idx], cfg, device)
        wall_s += res.wall_s
        for j, i in enumerate(idx):
            test_loss[i] = res.test_loss[j].numpy()
            weights[i] = res.weights[j]
    return SweepResult(list(members), checkpoint_steps(cfg.steps, cfg.n_checkpoints),
                       np.stack(test_loss), weights, wall_s, len(chunks),
                       max(len(idx) for idx in chunks))


def sweep_memory_bytes(members: Sequence[Member], cfg: SweepConfig) -> int:
    """Analytic float32 size of what one chunk of ``members`` holds during a step: student
    parameters, gradients and Adam's two moments (4× the padded parameters), the autograd
    activations of every block (normalised input, pre-activation, ReLU² output and residual
    stream: (2H + 2d) per sample per MLP), the logits/log-probabilities, the teachers and the
    test set with its targets."""
    M = len(members)
    per = mlps_per_layer(members[0].integrator)
    K = per * max(m.depth for m in members)
    mlp = 2 * N_EMBD * 128 + 128  # c_fc (with bias) + c_proj
    n_t = len({m.teacher_key for m in members})
    B = cfg.batch_size
    params = 4 * M * K * mlp
    acts = sum(per * m.depth for m in members) * B * (2 * 128 + 2 * N_EMBD)
    logits = 4 * M * B * 128
    teachers = n_t * cfg.teacher_depth * mlp + n_t * B * N_EMBD * 2
    test = n_t * cfg.n_test * N_EMBD * 2
    return 4 * (params + acts + logits + teachers + test)
