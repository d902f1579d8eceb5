"""The chapter's experiments as functions that return plain arrays and tables.

- :func:`monte_carlo_sweep`: Eq. 14 for several N × replicates, in device-sized member chunks.
- :func:`quadratic_table`: plateau (Eq. 19) and t_peak (Eq. 25) against the Monte Carlo.
- :func:`es_on_quadratic`: the real ES update (z-scored) on the same quadratic.
- :func:`geometry_sweep`: ΔR pools and best-of-N curves for low-rank and isotropic curvature.
- :func:`network_es_sweep`, :func:`network_curvature`, :func:`best_of_n_probe`: the digits MLP.
- :func:`decay_statistic`, :func:`saturation_bootstrap`: the measured criteria of the claims.
- :func:`t_peak_interval`, :func:`slope_interval`, :func:`flat_in_dim_interval`,
  :func:`decay_interval`: the book's interval (Student t over independent replicates, seeds or
  pools; :func:`lib.core.fit.t_interval`) for each judged statistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lib.core.fit import Interval, bootstrap, t_interval
from lib.core.sweep import generator, plan_chunks, seed_for
from lib.es import geometry, quadratic
from lib.es.curvature import participation_ratio, squared_curvature_trace, top_eigenvalues
from lib.es.estimator import Member, train_sweep
from lib.es.network import MLP, DigitsTask, expected_accuracy, pretrain, reward_fn

# Members (N, replicate) per Monte Carlo chunk on CPU. Measured (2 shared cores, 1 thread; 2,100
# members of the 128-mode toy, 300 steps): 2.0-2.8 s for chunks of 32 to 2,100, flat within the
# noise, against ~8x longer for one member at a time (benchmarks/bench_es.py). 256 members hold
# a 256 kB float64 state, small enough to stay in cache.
CPU_MC_MEMBERS = 256


# ---- the quadratic model ----------------------------------------------------------------------


@dataclass
class MonteCarlo:
    """Monte Carlo of Eq. 14: per N, the mean and standard error of J_t over replicates
    (P, T+1), the per-replicate plateau (P, R) and per-replicate early curves (P, R, keep+1)."""

    pop_sizes: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    plateau: np.ndarray
    early: np.ndarray


def monte_carlo_sweep(spec: quadratic.Spectrum, alpha: float, sigma: float,
                      pop_sizes: Sequence[int], replicates: int, steps: int, plateau_from: int,
                      seed: int, device: torch.device, keep_steps: int = 400,
                      chunk_members: int = 0) -> MonteCarlo:
    """Run every (N, replicate) member of the sweep, at most ``chunk_members`` per tensor
    program (0: all on CUDA, :data:`CPU_MC_MEMBERS` on a CPU). Each chunk has its own generator
    seeded from (seed, chunk index), so the random stream depends on the chunk size; the
    statistics do not."""
    quadratic.check_stable(spec, alpha)
    members = torch.tensor([n for n in pop_sizes for _ in range(replicates)])
    plan = plan_chunks(members.tolist(), chunk_members, device, CPU_MC_MEMBERS)
    keep = min(keep_steps, steps)
    sums = torch.zeros(len(pop_sizes), steps + 1, dtype=torch.float64)
    squares = torch.zeros_like(sums)
    plateau = torch.empty(len(members), dtype=torch.float64)
    early = torch.empty(len(members), keep + 1, dtype=torch.float64)
    for c, idx in enumerate(plan):
        start, block = idx[0], members[idx[0]: idx[-1] + 1]  # consecutive members
        gen = generator(seed, "monte_carlo", c, device=device)
        rewards = quadratic.simulate(spec, alpha, sigma, block, steps, gen).cpu()  # (m, T+1)
        idx = torch.arange(start, start + len(block)) // replicates  # which N
        sums.index_add_(0, idx, rewards)
        squares.index_add_(0, idx, rewards * rewards)
        plateau[start: start + len(block)] = rewards[:, plateau_from:].mean(1)
        early[start: start + len(block)] = rewards[:, : keep + 1]
    mean = sums / replicates
    var = (squares / replicates - mean**2).clamp_min(0) * replicates / (replicates - 1)
    p = len(pop_sizes)
    return MonteCarlo(np.asarray(pop_sizes), mean.numpy(), (var / replicates).sqrt().numpy(),
                      plateau.reshape(p, replicates).numpy(),
                      early.reshape(p, replicates, keep + 1).numpy())


def exact_curves(spec: quadratic.Spectrum, alpha: float, sigma: float,
                 pop_sizes: Sequence[int], steps: int) -> np.ndarray:
    """The exact expected reward (Eq. 18) for every N: (P, steps+1)."""
    return np.stack([quadratic.expected_reward(spec, alpha, sigma, n, steps) for n in pop_sizes])


def quadratic_table(spec: quadratic.Spectrum, alpha: float, sigma: float, mc: MonteCarlo,
                    batches: int) -> pd.DataFrame:
    """Per N: the plateau gap by Eq. 19 and by simulation (mean ± s.e. over replicates), the
    peak time by Eq. 25, by the exact curve (integer argmax) and by simulation (the argmax of
    each of ``batches`` disjoint batches of replicates, Student t over the batches:
    :func:`t_peak_interval`)."""
    rows = []
    for i, n in enumerate(mc.pop_sizes):
        gap_sim = spec.j_star - mc.plateau[i]  # (R,)
        exact = quadratic.expected_reward(spec, alpha, sigma, int(n), mc.early.shape[2] - 1)
        tp = t_peak_interval(mc.early[i], batches)
        lo = tp.ci_low if tp.ci_low is not None else float("nan")
        hi = tp.ci_high if tp.ci_high is not None else float("nan")
        rows.append({
            "N": int(n),
            "gap_formula": quadratic.plateau_gap(spec, alpha, sigma, int(n)),
            "gap_sim": float(gap_sim.mean()),
            "gap_sim_se": float(gap_sim.std(ddof=1) / np.sqrt(len(gap_sim))),
            "t_peak_eq25": quadratic.t_peak_two_block(spec, alpha, sigma, int(n)),
            "t_peak_exact": float(np.argmax(exact)),
            "t_peak_sim": tp.estimate,
            "t_peak_sim_lo": lo,
            "t_peak_sim_hi": hi,
        })
    table = pd.DataFrame(rows)
    table["gap_ratio"] = table["gap_sim"] / table["gap_formula"]
    return table


def mc_agreement(mc: MonteCarlo, exact: np.ndarray) -> pd.DataFrame:
    """How often the Monte Carlo mean lies within 2 and 3 standard errors of the exact curve
    (t >= 1; at t = 0 both are the deterministic start)."""
    z = (mc.mean[:, 1:] - exact[:, 1:]) / mc.sem[:, 1:]
    return pd.DataFrame({"N": mc.pop_sizes, "within_2se": (np.abs(z) < 2).mean(1),
                         "within_3se": (np.abs(z) < 3).mean(1), "max_abs_z": np.abs(z).max(1)})


def es_on_quadratic(spec: quadratic.Spectrum, alpha: float, sigma: float,
                    pop_sizes: Sequence[int], replicates: int, iters: int, seed: int,
                    device: torch.device, log_every: int = 1, chunk_members: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The real ES update (z-scored, ``θ ← θ + α mean(zε)``) on the quadratic ``J = 1 − ½ Σ λ θ²``
    from the same start. Returns the logged steps and the rewards (P, replicates, n_logs)."""
    lam, x0 = spec.expand(device)
    runs = [Member(n, seed_for(seed, "es_quadratic", n, r))
            for n in pop_sizes for r in range(replicates)]
    res = train_sweep(quadratic.quadratic_reward(lam, spec.j_star), x0, runs, alpha, sigma,
                      iters, log_every, chunk_members=chunk_members)
    logs = res.logs["reward"].cpu().numpy().reshape(len(pop_sizes), replicates, -1)
    return res.steps.numpy(), logs


# ---- geometry -------------------------------------------------------------------------------


def geometry_sweep(dims: Sequence[int], k: int, lam: float, r0: float, sigma: float,
                   pool_size: int, n_pools: int, n_max: int, materialise_max_dim: int,
                   seed: int, device: torch.device) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ΔR pools for both curvatures at every D. Returns (curves, pools): best-of-N over
    headroom per (kind, D, pool, N), and per (kind, D, pool) the improving fraction and the
    mean and std of ΔR."""
    curves, pools = [], []
    for kind in ("low_rank", "isotropic"):
        for dim in dims:
            land = geometry.Landscape(kind, int(dim), k, lam, r0)
            gen = generator(seed, "geometry", kind, int(dim), device=device)
            draws = geometry.sample_delta_r(land, sigma, pool_size * n_pools, gen,
                                            materialise=dim <= materialise_max_dim)
            pool = draws.reshape(n_pools, pool_size)  # (S, M)
            best = (geometry.best_of_n(pool, n_max) / land.headroom).cpu().numpy()  # (S, n_max)
            p_imp = geometry.improving_fraction(pool).cpu().numpy()
            for s in range(n_pools):
                pools.append({"kind": kind, "D": int(dim), "pool": s, "p_imp": p_imp[s],
                              "mean_dR": float(pool[s].mean()), "std_dR": float(pool[s].std()),
                              "materialised": dim <= materialise_max_dim})
                curves.extend({"kind": kind, "D": int(dim), "pool": s, "N": n + 1,
                               "best_over_headroom": best[s, n]} for n in range(n_max))
    return pd.DataFrame(curves), pd.DataFrame(pools)


def slope_interval(curves: pd.DataFrame, kind: str, n: int) -> Interval:
    """Slope of the best-of-``n`` (over headroom) against log10 D, one fit per pool index, with a
    Student-t interval over the pools. Pools at different D are independent draws, so pool s
    across the D's is one independent replicate of the whole sweep."""
    sel = curves[(curves["kind"] == kind) & (curves["N"] == n)]
    table = sel.pivot(index="pool", columns="D", values="best_over_headroom")  # (S, dims)
    return flat_in_dim_interval(table.columns.to_numpy(float), table.to_numpy(),
                                method=f"Student t over {len(table)} pools (one slope each)")


def flat_in_dim_interval(dims: np.ndarray, best: np.ndarray, method: str = "") -> Interval:
    """Slope of a best-of-N gain against log10 D: ``best`` is (replicates, len(dims)), one
    independent replicate per row; one least-squares slope per row, Student t over rows."""
    logd = np.log10(np.asarray(dims, float))
    best = np.atleast_2d(np.asarray(best, float))
    if best.shape[1] != logd.size or logd.size < 2:
        raise ValueError(f"need ≥2 dimensions and rows of {logd.size} values, got {best.shape}")
    slopes = np.polyfit(logd, best.T, 1)[0]  # (replicates,)
    return t_interval(slopes, method=method or f"Student t over {len(slopes)} replicates")


def t_peak_interval(early: np.ndarray, batches: int) -> Interval:
    """Peak step of the Monte Carlo mean: the replicates (R, T) are split into ``batches``
    disjoint groups, each group's mean curve gives one argmax, and the book's Student-t interval
    is taken over the groups (independent replicates of the statistic)."""
    early = np.asarray(early, float)
    reps = early.shape[0]
    if not 2 <= batches <= reps:
        raise ValueError(f"need 2 <= batches <= replicates = {reps}, got {batches}")
    groups = np.array_split(np.arange(reps), batches)
    peaks = [float(np.argmax(early[g].mean(0))) for g in groups]
    return t_interval(np.asarray(peaks),
                      method=f"Student t over {batches} disjoint batches of replicates")


def decay_interval(curves: np.ndarray, final_frac: float = 0.2, smooth: int = 5) -> Interval:
    """The peak-to-final drop of :func:`decay_statistic` with a Student-t interval over seeds.

    The peak window is located once, on the smoothed seed-mean curve; each seed's drop is its
    own mean over that window minus its own mean over the last ``final_frac`` of the logs. The
    mean of the per-seed drops is therefore exactly :func:`decay_statistic` of the seed mean."""
    curves = np.asarray(curves, float)
    n_logs = curves.shape[1]
    smooth = max(1, min(smooth, n_logs))
    mean = curves.mean(0)
    start = int(np.argmax(np.convolve(mean, np.ones(smooth) / smooth, mode="valid")))
    tail = max(1, int(round(final_frac * n_logs)))
    drops = curves[:, start: start + smooth].mean(1) - curves[:, -tail:].mean(1)
    return t_interval(drops, method=f"Student t over {len(drops)} seeds (per-seed drop at the "
                                    "seed-mean peak)")


def saturation_bootstrap(best: np.ndarray, frac: float, n_ref: int, n_boot: int, seed: int):
    """N_sat of the pool-mean best-of-N curve (S pools × n_max), bootstrap over pools."""
    return bootstrap(lambda rows: geometry.saturation_n(rows.mean(0), frac, n_ref), best,
                     n_boot, seed=seed)


# ---- the real network ----------------------------------------------------------------------


def network_es_sweep(mlp: MLP, theta0: torch.Tensor, task: DigitsTask, alpha: float,
                     sigma: float, pop_sizes: Sequence[int], seeds: int, iters: int,
                     log_every: int, seed: int, chunk_members: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor]:
    """ES fine-tuning of the pretrained network on the shifted task for every (N, seed), batched
    (:func:`lib.es.estimator.train_sweep`). Returns the logged iterations, the center's
    reward on the reward set and on the held-out shifted digits, each (P, seeds, n_logs), and
    the final parameters (P, seeds, D)."""
    runs = [Member(n, seed_for(seed, "es_network", n, s)) for n in pop_sizes for s in range(seeds)]
    evals = {"reward": reward_fn(mlp, task.x_reward, task.y_reward),
             "test": reward_fn(mlp, task.x_test, task.y_test)}
    res = train_sweep(evals["reward"], theta0, runs, alpha, sigma, iters, log_every, evals,
                      chunk_members)
    shape = (len(pop_sizes), seeds, -1)
    return (res.steps.numpy(), res.logs["reward"].cpu().numpy().reshape(shape),
            res.logs["test"].cpu().numpy().reshape(shape),
            res.theta.reshape(len(pop_sizes), seeds, -1))


@dataclass
class Curvature:
    """Top eigenvalues of C = −∇²R by magnitude, Hutchinson tr(C²) (± s.e.), the share of it
    the top k carry, and their participation ratio."""

    eigenvalues: np.ndarray
    trace_sq: float
    trace_sq_se: float

    @property
    def top_share(self) -> float:
        return float(np.sum(self.eigenvalues**2) / self.trace_sq)

    @property
    def participation(self) -> float:
        return participation_ratio(self.eigenvalues)


def network_curvature(mlp: MLP, theta: torch.Tensor, task: DigitsTask, top_k: int, probes: int,
                      seed: int) -> Curvature:
    """Curvature of the reward at ``theta`` in float64 (Lanczos on HVPs, Hutchinson)."""
    th = theta.double()
    x, y = task.x_reward.double(), task.y_reward

    def f(t: torch.Tensor) -> torch.Tensor:
        return expected_accuracy(mlp, t[None], x, y)[0]

    eigs = top_eigenvalues(f, th, top_k, seed=seed)
    gen = torch.Generator(device=th.device).manual_seed(seed)
    tr2, se = squared_curvature_trace(f, th, probes, gen)
    return Curvature(eigs, tr2, se)


def best_of_n_probe(mlp: MLP, theta0: torch.Tensor, task: DigitsTask, sigma: float,
                    pool_size: int, n_pools: int, n_max: int, seed: int,
                    max_nets: int = 1024) -> tuple[np.ndarray, np.ndarray, float]:
    """The paper's App. G probe on the digits network: pools of ΔR = R(θ0 + σε) − R(θ0) over
    the reward set. Returns the best-of-N curves over headroom (S, n_max), the pools of ΔR
    (S, M), and R(θ0). Networks are scored ``max_nets`` at a time."""
    f = reward_fn(mlp, task.x_reward, task.y_reward)
    gen = torch.Generator(device=theta0.device).manual_seed(seed)
    r0 = f(theta0[None])[0]
    total = pool_size * n_pools
    deltas = torch.empty(total, dtype=theta0.dtype, device=theta0.device)
    for start in range(0, total, max_nets):
        m = min(max_nets, total - start)
        eps = torch.randn(m, theta0.numel(), generator=gen, device=theta0.device,
                          dtype=theta0.dtype)
        deltas[start: start + m] = f(theta0[None] + sigma * eps) - r0
    pool = deltas.reshape(n_pools, pool_size)
    headroom = float(1 - r0)
    best = (geometry.best_of_n(pool, n_max) / headroom).cpu().numpy()
    return best, pool.cpu().numpy(), float(r0)


def pretrained(hidden: int, task: DigitsTask, steps: int, lr: float, seed: int
               ) -> tuple[MLP, torch.Tensor]:
    """A digits MLP of width ``hidden`` pretrained on the clean images."""
    mlp = MLP(hidden)
    return mlp, pretrain(mlp, task, steps, lr, seed)


def decay_statistic(curves: np.ndarray, final_frac: float = 0.2, smooth: int = 5) -> float:
    """Peak-to-final drop of the seed-mean curve (seeds, n_logs): the maximum of its running
    mean over ``smooth`` log points minus its mean over the last ``final_frac`` of the logs."""
    mean = np.nanmean(curves, axis=0)
    smooth = max(1, min(smooth, len(mean)))
    running = np.convolve(mean, np.ones(smooth) / smooth, mode="valid")
    final = mean[-max(1, int(round(final_frac * len(mean)))):].mean()
    return float(running.max() - final)


def peak_position(curves: np.ndarray, smooth: int = 5) -> int:
    """Log index (centre of the window) where the smoothed seed-mean curve peaks."""
    mean = np.nanmean(curves, axis=0)
    smooth = max(1, min(smooth, len(mean)))
    running = np.convolve(mean, np.ones(smooth) / smooth, mode="valid")
    return int(np.argmax(running)) + smooth // 2
