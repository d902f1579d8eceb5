"""The ES update of "Evolution Strategies at Scale" (Qiu et al., arXiv:2509.24372), batched.

One iteration of the authors' code (VsonicV/es-fine-tuning-paper, ``es_ops.apply_update`` and
``reward_shaping.z_score``): draw N Gaussian perturbations ``ε_n``, score ``θ + σ ε_n``, z-score
the N rewards with their population standard deviation (+1e-8), and move

    θ ← θ + α · (1/N) Σ_n z_n ε_n            (no 1/σ: σ only sets the probe scale).

Here many *runs* (population size, seed) advance together: every run's population is a slice of
one (R, N_max, D) tensor; runs with a smaller N are padded and the padded rows are masked out of
the z-score and the update, so a padded run equals the run alone (tested). Each run draws its
noise from its own ``torch.Generator``, which is what makes that equality exact. Names and chunk
planner are the shared ones of :mod:`lib.core.sweep`.

:func:`naive_gradient` is the paper's own "naive" estimator (Liang et al., Eq. 1),
``ĝ = (1/(Nσ)) Σ r_n ε_n`` with raw rewards, kept for the unbiasedness test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lib.core.sweep import plan_chunks

RewardFn = Callable[[torch.Tensor], torch.Tensor]  # (M, D) -> (M,)

# Measured on 2 shared CPU cores, 1 thread (torch 2.13; benchmarks/bench_es.py shows the same
# sweep against the loop): the chapter's default network sweep (1,075 perturbed width-32 MLPs per
# iteration, 30 iterations) took 1.2-1.3 s in chunks of 30, 100 or 200 networks, 1.65 s in
# chunks of 400 and 2.3 s all at once (the activations fall out of cache). Runs are grouped by
# population size so padding wastes little. On CUDA every run goes in one program.
CPU_NETS_PER_CHUNK = 200


@dataclass(frozen=True)
class Member:
    """One ES run of a sweep: its population size N and the seed of its noise."""

    pop_size: int
    seed: int


@dataclass
class SweepResult:
    """Logged center rewards of each run (R, n_logs) at ``steps``; final parameters (R, D)."""

    runs: list[Member]
    steps: torch.Tensor  # (n_logs,)
    logs: dict[str, torch.Tensor]  # name -> (R, n_logs)
    theta: torch.Tensor  # (R, D)


def zscore(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """z-scores over the valid entries of each row: (R, N) -> (R, N), zero where masked.
    Population std (ddof 0) plus 1e-8, as in the authors' ``z_score``."""
    m = mask.to(rewards.dtype)
    n = m.sum(1, keepdim=True)  # (R, 1)
    mean = (rewards * m).sum(1, keepdim=True) / n
    centred = (rewards - mean) * m
    std = (centred.pow(2).sum(1, keepdim=True) / n).sqrt()
    return centred / (std + 1e-8)


def es_direction(z: torch.Tensor, eps: torch.Tensor, pop_sizes: torch.Tensor) -> torch.Tensor:
    """``(1/N) Σ_n z_n ε_n`` per run: z (R, N), eps (R, N, D) -> (R, D)."""
    return torch.einsum("rn,rnd->rd", z, eps) / pop_sizes[:, None].to(eps.dtype)


def naive_gradient(rewards: torch.Tensor, eps: torch.Tensor, sigma: float) -> torch.Tensor:
    """The paper's Eq. 1: ``ĝ = (1/(Nσ)) Σ_n r_n ε_n`` with raw rewards; (R, N), (R, N, D) ->
    (R, D). Unbiased for ∇R on a quadratic (Stein's lemma)."""
    return torch.einsum("rn,rnd->rd", rewards, eps) / (eps.shape[1] * sigma)


def expected_zscore_norm(pop_size: int) -> float:
    """``E[s_N]``: the mean population std (ddof 0) of N standard normals,
    ``√(2/N) Γ(N/2) / Γ((N−1)/2)``. For a linear reward the expected ES direction is
    ``E[s_N] · ∇R/‖∇R‖`` (the z-score removes the gradient's length), so the expected step is
    ``α E[s_N]`` along the unit gradient."""
    n = pop_size
    return math.sqrt(2 / n) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))


def train_chunk(
    reward_fn: RewardFn,
    theta0: torch.Tensor,
    runs: Sequence[Member],
    alpha: float,
    sigma: float,
    iters: int,
    log_every: int = 1,
    eval_fns: dict[str, RewardFn] | None = None,
) -> SweepResult:
    """Run every ES run of ``runs`` from ``theta0`` (D,) in one batched program.

    ``reward_fn`` scores a batch of parameter vectors (M, D) -> (M,); ``eval_fns`` (default:
    ``{"reward": reward_fn}``) are applied to the centers every ``log_every`` iterations (and at
    0 and at the end) into preallocated logs. Diverged runs (non-finite) keep going as NaN and
    are reported by the caller.
    """
    device, dtype = theta0.device, theta0.dtype
    eval_fns = eval_fns or {"reward": reward_fn}
    n_runs, dim = len(runs), theta0.numel()
    pops = torch.tensor([r.pop_size for r in runs], device=device)  # (R,)
    n_max = max(r.pop_size for r in runs)
    mask = torch.arange(n_max, device=device)[None, :] < pops[:, None]  # (R, N_max)
    padded = any(r.pop_size < n_max for r in runs)
    # flat positions of the real (unpadded) perturbations, computed once: indexing with them
    # each step needs no host read, unlike a boolean mask (whose result size is data)
    real = torch.tensor([r * n_max + i for r, run in enumerate(runs) for i in range(run.pop_size)],
                        device=device)  # (Σ N_r,)
    gens = [torch.Generator(device=device).manual_seed(r.seed) for r in runs]
    theta = theta0.reshape(1, dim).repeat(n_runs, 1)  # (R, D)
    eps = torch.zeros(n_runs, n_max, dim, device=device, dtype=dtype)  # (R, N_max, D)
    rewards = torch.zeros(n_runs, n_max, device=device, dtype=dtype)  # (R, N_max)
    log_steps = sorted(set(range(0, iters + 1, log_every)) | {iters})
    logs = {k: torch.empty(n_runs, len(log_steps), device=device, dtype=dtype) for k in eval_fns}
    slot = 0
    for t in range(iters + 1):
        if t == log_steps[slot]:
            with torch.no_grad():
                for name, fn in eval_fns.items():
                    logs[name][:, slot] = fn(theta)
            slot += 1
        if t == iters:
            break
        for r, (gen, run) in enumerate(zip(gens, runs, strict=True)):
            torch.randn(run.pop_size, dim, generator=gen, out=eps[r, : run.pop_size])
        with torch.no_grad():
            perturbed = theta[:, None, :] + sigma * eps  # (R, N_max, D)
            if padded:
                flat = perturbed.reshape(-1, dim).index_select(0, real)  # (Σ N_r, D)
                rewards.view(-1).index_copy_(0, real, reward_fn(flat))
            else:
                rewards = reward_fn(perturbed.reshape(-1, dim)).reshape(n_runs, n_max)
            z = zscore(rewards, mask)  # (R, N_max)
            theta = theta + alpha * es_direction(z, eps, pops)
    return SweepResult(list(runs), torch.tensor(log_steps), logs, theta)


def train_sweep(
    reward_fn: RewardFn,
    theta0: torch.Tensor,
    members: Sequence[Member],
    alpha: float,
    sigma: float,
    iters: int,
    log_every: int = 1,
    eval_fns: dict[str, RewardFn] | None = None,
    chunk_members: int = 0,
    nets_per_chunk: int = CPU_NETS_PER_CHUNK,
) -> SweepResult:
    """:func:`train_chunk` over chunks (:func:`lib.core.sweep.plan_chunks`): runs sorted by
    population size, at most ``chunk_members`` runs a chunk (0: all), and on a CPU at most
    ``nets_per_chunk`` perturbed models (a single large run gets its own chunk). Results come
    back in the order of ``members``."""
    on_cpu = theta0.device.type != "cuda"
    plan = plan_chunks(members, chunk_members, theta0.device, max(1, len(members)),
                       order=lambda r: r.pop_size,
                       fits=lambda c: not on_cpu or sum(r.pop_size for r in c) <= nets_per_chunk)
    parts = [(g, train_chunk(reward_fn, theta0, [members[i] for i in g], alpha, sigma, iters,
                             log_every, eval_fns)) for g in plan]
    inverse = torch.empty(len(members), dtype=torch.long)
    inverse[torch.tensor([i for g, _ in parts for i in g])] = torch.arange(len(members))
    inverse = inverse.to(theta0.device)
    logs = {k: torch.cat([p.logs[k] for _, p in parts])[inverse] for k in parts[0][1].logs}
    theta = torch.cat([p.theta for _, p in parts])[inverse]
    return SweepResult(list(members), parts[0][1].steps, logs, theta)
