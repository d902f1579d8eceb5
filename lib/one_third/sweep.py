"""The batched learning-rate × temperature × seed sweep of the softmax head, and its reference.

Every member (optimizer, lr, T, seed) is one slice of a ``(M, V, d)`` weight tensor trained in
the same step, with the analytic gradient of :func:`lib.one_third.model.kl_to_teacher`
(:func:`head_gradient`) and a per-member learning rate (``lib.core.ensemble.BatchedAdam`` /
``BatchedSGD``); the names, chunk planner and seeds are the shared ones of
:mod:`lib.core.sweep`. What members share:

- **data**: every seed has its own stream of fresh Gaussian batches (one generator per seed), and
  the members of one seed (different lr and T) see the *same* batches. Members of different seeds
  see different data and different teachers, so seeds are independent replicates.
- **teacher**: members with the same (seed, T) share the teacher, so its softmax and its half of
  the gradient, ``E[p x̂ᵀ]``, are computed once per (seed, T) group and step, not once per member.

Test loss (mean over ``test_batches`` fresh batches from a separate per-seed stream, in float64)
is logged at ``n_logs`` geometrically spaced steps into a preallocated tensor, never with
``.item()`` inside the step loop. Dynamic time is ``τ = Σ_t η_t = lr · t`` (constant lr).

Chunking: on CUDA the whole sweep is one program; on a CPU members run in chunks of
:func:`cpu_chunk_members` = 4 members per thread. Measured with ``benchmarks/bench_one_third.py``
(single thread, B = 1024, V = 128): chunks of 4 / 8 / 16 / 32 members cost about
0.55 / 0.6 / 0.65 / 0.8 ms per member-step, against 3–5 ms for the one-model loop with
torch.optim and autograd. Four members' probabilities (B × 4V floats = 2 MB) fit one core's
L2 cache; bigger chunks fall out of it and gain nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch

from lib.core.divergence import finite_members
from lib.core.ensemble import make_optimizer
from lib.core.sweep import generator, plan_chunks
from lib.one_third.model import Head, flush_denormals, kl_to_teacher, rmsnorm, teacher_weight

CPU_CHUNK_PER_THREAD = 4  # members per CPU thread in a chunk; see the module docstring

# Random streams per seed: the teacher uses ``seed`` itself (lib.one_third.model.teacher_weight);
# training and test data draw from :func:`lib.core.sweep.generator` (seed, "train" / "test").


@dataclass(frozen=True)
class Member:
    """One run of the sweep: optimiser, constant learning rate, teacher temperature, seed."""

    optimizer: Literal["adam", "sgd"]
    lr: float
    temperature: float
    seed: int

    def label(self) -> str:
        return f"{self.optimizer} lr={self.lr:.3g} T={self.temperature:.3g} seed={self.seed}"


@dataclass(frozen=True)
class SweepConfig:
    """What all members share: model size, batch, steps and the logging schedule."""

    n_embd: int = 32
    vocab_size: int = 128
    batch_size: int = 1024
    steps: int = 2000
    n_logs: int = 40
    test_batches: int = 2

    def log_steps(self) -> np.ndarray:
        return log_steps(self.steps, self.n_logs)


def log_steps(steps: int, n_logs: int) -> np.ndarray:
    """About ``n_logs`` distinct steps in ``[1, steps]``, geometrically spaced, ending at
    ``steps`` (even weight per decade of τ for the fits)."""
    grid = np.unique(np.round(np.geomspace(1, steps, max(n_logs, 2))).astype(int))
    return grid[(grid >= 1) & (grid <= steps)]


@dataclass
class SweepResult:
    """Logged curves of a set of members; arrays are ``(M, K)`` over members × log steps."""

    members: list[Member]
    steps: np.ndarray  # (K,) steps after which the test loss was measured
    test_loss: np.ndarray  # (M, K) float64 test KL
    student_beta: np.ndarray  # (M, K) RMS over inputs of the std over vocab of student logits
    alignment: np.ndarray  # (M, K) cosine between student W and teacher W*
    teacher_beta: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) measured β*

    @property
    def tau(self) -> np.ndarray:
        """Dynamic time ``τ = lr · t``, ``(M, K)``."""
        return np.array([m.lr for m in self.members])[:, None] * self.steps[None, :]

    @property
    def finite(self) -> np.ndarray:
        """``(M,)`` True where the member's logged curves are finite (not diverged)."""
        return np.isfinite(self.test_loss).all(1) & np.isfinite(self.student_beta).all(1)

    def take(self, index: Sequence[int]) -> SweepResult:
        idx = list(index)
        return SweepResult([self.members[i] for i in idx], self.steps, self.test_loss[idx],
                           self.student_beta[idx], self.alignment[idx], self.teacher_beta[idx])

    def where(self, **match: object) -> SweepResult:
        """Members whose fields equal the given values, e.g. ``where(optimizer='sgd')``."""
        idx = [i for i, m in enumerate(self.members)
               if all(_close(getattr(m, k), v) for k, v in match.items())]
        return self.take(idx)

    def frame(self) -> pd.DataFrame:
        """Long table: one row per member and log step (the data behind the loss figures)."""
        tau = self.tau
        rows = []
        for i, m in enumerate(self.members):
            for k, step in enumerate(self.steps):
                rows.append({"optimizer": m.optimizer, "lr": m.lr, "temperature": m.temperature,
                             "seed": m.seed, "step": int(step), "tau": tau[i, k],
                             "test_loss": self.test_loss[i, k],
                             "student_beta": self.student_beta[i, k],
                             "alignment": self.alignment[i, k]})
        return pd.DataFrame(rows)

    @staticmethod
    def concat(parts: Sequence[SweepResult]) -> SweepResult:
        return SweepResult(
            [m for p in parts for m in p.members], parts[0].steps,
            np.concatenate([p.test_loss for p in parts]),
            np.concatenate([p.student_beta for p in parts]),
            np.concatenate([p.alignment for p in parts]),
            np.concatenate([p.teacher_beta for p in parts]),
        )


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, float(b), rel_tol=1e-9)
    return a == b


def cpu_chunk_members() -> int:
    """Members per chunk on a CPU: :data:`CPU_CHUNK_PER_THREAD` per torch thread."""
    return CPU_CHUNK_PER_THREAD * torch.get_num_threads()


def grid_members(
    optimizer: str, lrs: Sequence[float], temperatures: Sequence[float], seeds: Sequence[int]
) -> list[Member]:
    """The full lr × T × seed grid of one optimiser."""
    return [Member(optimizer, float(lr), float(t), int(s))  # type: ignore[arg-type]
            for s in seeds for t in temperatures for lr in lrs]


# ---- the batched program -----------------------------------------------------------------


def _logsumexp(logits: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """``ln Σ e^{logits}`` over the last dimension from ``probs = softmax(logits)``:
    ``max − ln max(probs)`` (``max probs ∈ [1/V, 1]``, so nothing cancels)."""
    return logits.amax(-1) - probs.amax(-1).log()


def head_gradient(x: torch.Tensor, t_w: torch.Tensor, w: torch.Tensor,
                  local: torch.Tensor) -> torch.Tensor:
    """``dL/dW`` of the softmax heads ``w`` (M, V, d) against their teachers
    ``t_w[local]`` (G, V, d) on one batch ``x`` (B, d): ``E[q x̂ᵀ] − E[p x̂ᵀ]``, the
    student's minus the teacher's expected output times input."""
    B, d = x.shape
    V = w.shape[1]
    p = torch.softmax((x @ t_w.reshape(-1, d).T).view(B, -1, V), dim=-1)  # (B, G, V)
    teacher = (p.view(B, -1).T @ x).view(-1, V, d) / B  # (G, V, d): E[p x̂ᵀ]
    q = torch.softmax((x @ w.reshape(-1, d).T).view(B, -1, V), dim=-1)  # (B, M, V)
    student = (q.view(B, -1).T @ x).view(-1, V, d) / B  # (M, V, d): E[q x̂ᵀ]
    return student - teacher[local]  # (M, V, d)


class ChunkProblem:
    """The fixed parts of one batched program: members sorted by (seed, T, lr), and per seed the
    slice of members, its (seed, T) teacher groups and its two random streams.

    Per seed the student logits of all its members are one plain matmul,
    ``x̂ (B, d) @ W[a:b].view(M_s·V, d)ᵀ -> (B, M_s·V)``, and the gradient another; on a CPU these
    2-D GEMMs are faster than a batched ``bmm`` over members and need no gathered copies of x̂.
    """

    def __init__(self, members: Sequence[Member], cfg: SweepConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.order = sorted(range(len(members)),
                            key=lambda i: (members[i].seed, members[i].temperature, members[i].lr))
        self.members = [members[i] for i in self.order]
        self.seeds = sorted({m.seed for m in self.members})
        self.groups = sorted({(m.seed, m.temperature) for m in self.members})  # (seed, T)
        V, d = cfg.vocab_size, cfg.n_embd
        w_star = {s: teacher_weight(s, d, V) for s in self.seeds}  # (V, d) each
        self.t_weight = torch.stack([w_star[s] / t for s, t in self.groups]).to(device)  # (G,V,d)
        self.w_star = torch.stack([w_star[m.seed] for m in self.members]).to(device)  # (M, V, d)
        self.segments = []  # per seed: member slice, group slice, member -> local group index
        for s in self.seeds:
            idx = [i for i, m in enumerate(self.members) if m.seed == s]
            gidx = [g for g, (gs, _) in enumerate(self.groups) if gs == s]
            local = torch.tensor([gidx.index(self.groups.index((s, self.members[i].temperature)))
                                  for i in idx], device=device)
            self.segments.append((slice(idx[0], idx[-1] + 1), slice(gidx[0], gidx[-1] + 1), local))
        self.train_gens = [generator(s, "train", device=device) for s in self.seeds]
        self.test_gens = [generator(s, "test", device=device) for s in self.seeds]

    def _batch(self, gen: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        cfg = self.cfg
        x = torch.randn(cfg.batch_size, cfg.n_embd, generator=gen, device=self.device)  # (B, d)
        return rmsnorm(x).to(dtype)

    def gradient(self, weight: torch.Tensor, out: torch.Tensor) -> None:
        """Write ``dL/dW`` of every member, on a fresh batch per seed, into ``out`` (M, V, d)."""
        for gen, (ms, gs, local) in zip(self.train_gens, self.segments, strict=True):
            x = self._batch(gen)  # (B, d)
            out[ms] = head_gradient(x, self.t_weight[gs], weight[ms], local)

    def evaluate(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Test KL (float64, mean of ``test_batches`` fresh batches per seed), student β and the
        cosine to the teacher, each ``(M,)``.

        KL is computed as ``Σ_v p (t − s) − lse(t) + lse(s)``: one softmax per member and none
        of the slow ``exp`` of very negative numbers that ``log_softmax``/``logsumexp`` take.
        β is the logit scale ``‖W − mean_v W‖_F / √V``: the RMS over inputs of the std over
        the vocabulary of the logits, in expectation over x̂ (``E[x̂ x̂ᵀ] = I``).
        """
        V, d, B = self.cfg.vocab_size, self.cfg.n_embd, self.cfg.batch_size
        w64 = weight.double()
        loss = torch.zeros(len(self.members), dtype=torch.float64, device=self.device)
        for _ in range(self.cfg.test_batches):
            for gen, (ms, gs, local) in zip(self.test_gens, self.segments, strict=True):
                x = self._batch(gen, torch.float64)  # (B, d)
                t = (x @ self.t_weight[gs].double().reshape(-1, d).T).view(B, -1, V)  # (B,G_s,V)
                s = (x @ w64[ms].reshape(-1, d).T).view(B, -1, V)  # (B, M_s, V)
                p = torch.softmax(t, dim=-1)  # (B, G_s, V)
                t_term = (p * t).sum(-1) - _logsumexp(t, p)  # (B, G_s)
                cross = (p[:, local] * s).sum(-1)  # (B, M_s)
                kl = t_term[:, local] - cross + _logsumexp(s, torch.softmax(s, -1))  # (B, M_s)
                loss[ms] += kl.mean(0) / self.cfg.test_batches
        centred = w64 - w64.mean(1, keepdim=True)  # (M, V, d)
        beta = centred.norm(dim=(1, 2)) / math.sqrt(V)
        w_star = self.w_star.double()
        cos = (w64 * w_star).sum((1, 2)) / (w64.norm(dim=(1, 2)) * w_star.norm(dim=(1, 2)))
        return loss, beta, torch.nan_to_num(cos, nan=0.0)

    def teacher_beta(self) -> np.ndarray:
        """β* of each member's teacher: ``‖W*/T − mean_v‖_F / √V`` (≈ 1/(√3 T))."""
        t = self.t_weight.double()
        beta = ((t - t.mean(1, keepdim=True)).norm(dim=(1, 2)) / math.sqrt(t.shape[1])).cpu()
        return np.array([beta[self.groups.index((m.seed, m.temperature))].item()
                         for m in self.members])

    def result(self, loss: torch.Tensor, beta: torch.Tensor, align: torch.Tensor,
               finite: np.ndarray) -> SweepResult:
        """Logs in the caller's member order."""
        back = np.argsort(self.order)
        loss_np = loss.cpu().numpy()
        loss_np[~finite] = np.nan
        return SweepResult([self.members[i] for i in back], self.cfg.log_steps(), loss_np[back],
                           beta.cpu().numpy()[back], align.cpu().numpy()[back],
                           self.teacher_beta()[back])


@torch.no_grad()
def train_chunk(members: Sequence[Member], cfg: SweepConfig,
                device: torch.device | str = "cpu") -> SweepResult:
    """Train ``members`` (one optimiser) as one batched program; see the module docstring."""
    device = torch.device(device)
    names = {m.optimizer for m in members}
    if len(names) != 1:
        raise ValueError(f"a chunk trains one optimiser, got {sorted(names)}")
    chunk = ChunkProblem(members, cfg, device)
    M, K = len(members), len(cfg.log_steps())
    weight = torch.zeros(M, cfg.vocab_size, cfg.n_embd, device=device)  # (M, V, d) zero init
    grad = torch.empty_like(weight)  # (M, V, d)
    lr = torch.tensor([m.lr for m in chunk.members], dtype=torch.float32, device=device)  # (M,)
    opt = make_optimizer(members[0].optimizer, [weight], lr)
    logs = torch.zeros(3, M, K, dtype=torch.float64, device=device)  # loss, β, cosine
    log_at = {int(s): k for k, s in enumerate(cfg.log_steps())}
    with flush_denormals(device):
        for step in range(1, cfg.steps + 1):
            chunk.gradient(weight, grad)
            opt.step(grads=[grad])
            if step in log_at:
                for row, value in zip(logs[:, :, log_at[step]], chunk.evaluate(weight),
                                      strict=True):
                    row.copy_(value)
    return chunk.result(*logs, finite=finite_members(weight).cpu().numpy())


def plan(members: Sequence[Member], chunk_members: int, device: torch.device | str
         ) -> list[list[int]]:
    """This topic's use of :func:`lib.core.sweep.plan_chunks`: one optimiser per chunk, members
    sorted by seed, temperature and lr (so a chunk shares data and teachers), at most
    ``chunk_members`` (0: all on CUDA, :func:`cpu_chunk_members` on a CPU)."""
    return plan_chunks(members, chunk_members, device, cpu_chunk_members(),
                       group=lambda m: m.optimizer, order=lambda m: (m.seed, m.temperature, m.lr))


def train_sweep(members: Sequence[Member], cfg: SweepConfig, device: torch.device | str = "cpu",
                chunk_members: int = 0) -> SweepResult:
    """Train every member in chunks of at most ``chunk_members`` (0: all at once on CUDA,
    :func:`cpu_chunk_members` on a CPU); a chunk holds one optimiser, its members sorted by
    seed, temperature and lr so it shares data and teachers. Results in the order of
    ``members``."""
    device = torch.device(device)
    if len(set(members)) != len(members):
        raise ValueError("train_sweep: members must be distinct")
    parts = [train_chunk([members[i] for i in idx], cfg, device)
             for idx in plan(members, chunk_members, device)]
    result = SweepResult.concat(parts)
    position = {m: i for i, m in enumerate(result.members)}
    return result.take([position[m] for m in members])


# ---- the reference: one model at a time, as the authors train it -------------------------


def train_alone(member: Member, cfg: SweepConfig,
                device: torch.device | str = "cpu") -> SweepResult:
    """Train one member the authors' way (``exp/exp-1.py``): a teacher and a zero-initialised
    student ``Head``, ``torch.optim.Adam``/``SGD``, autograd on
    :func:`lib.one_third.model.kl_to_teacher` (the authors' ``F.kl_div``). It draws the same
    batches as the sweep (same per-seed streams), so member k of a sweep must equal it."""
    device = torch.device(device)
    chunk = ChunkProblem([member], cfg, device)  # only for its test stream and evaluation
    teacher = Head(cfg.n_embd, cfg.vocab_size).to(device)
    student = Head(cfg.n_embd, cfg.vocab_size).to(device)
    with torch.no_grad():
        teacher.head.weight.copy_(teacher_weight(member.seed, cfg.n_embd, cfg.vocab_size))
        student.head.weight.zero_()
    cls = torch.optim.Adam if member.optimizer == "adam" else torch.optim.SGD
    opt = cls(student.parameters(), lr=member.lr)
    gen = generator(member.seed, "train", device=device)
    logs = torch.zeros(3, 1, len(cfg.log_steps()), dtype=torch.float64, device=device)
    log_at = {int(s): k for k, s in enumerate(cfg.log_steps())}
    for step in range(1, cfg.steps + 1):
        x = torch.randn(cfg.batch_size, cfg.n_embd, generator=gen, device=device)  # (B, d)
        with torch.no_grad():
            t_logits = teacher(x, member.temperature)  # (B, V)
        loss = kl_to_teacher(t_logits, student(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in log_at:
            with torch.no_grad():
                for row, value in zip(logs[:, :, log_at[step]],
                                      chunk.evaluate(student.head.weight[None]), strict=True):
                    row.copy_(value)
    ok = np.array([bool(torch.isfinite(student.head.weight).all())])
    return chunk.result(*logs, finite=ok)


def sweep_memory_bytes(n_members: int, cfg: SweepConfig, n_groups: int | None = None,
                       n_seeds: int | None = None, bytes_per_float: int = 4) -> int:
    """What one chunk holds at its peak, analytically (float32): student weights, Adam's two
    moments and the gradient (4 × M·V·d), student logits and probabilities (2 × M·B·V), the
    per-member inputs (M·B·d), the teacher logits/probabilities and gradient half per (seed, T)
    group (2 × G·B·V + G·V·d, G ≤ M) and the per-seed batches (S·B·d)."""
    M, V, d, B = n_members, cfg.vocab_size, cfg.n_embd, cfg.batch_size
    G = n_members if n_groups is None else n_groups
    S = G if n_seeds is None else n_seeds
    floats = 4 * M * V * d + 2 * M * B * V + M * B * d + 2 * G * B * V + G * V * d + S * B * d
    return floats * bytes_per_float
