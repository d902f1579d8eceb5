"""Training dynamics with and without superposition: a *reconstruction* of the teacher-student
setup of Chen, Chen, Liu & Gore, "Superposition unifies power-law training dynamics"
(arXiv:2602.01045).

What the paper says (abstract and introduction, the only parts that could be read): in a
teacher-student framework, training *without* superposition is sequential (modes are fitted in
order of importance) and its loss exponent in time depends on the data statistics and the
channel importance; a *superposition bottleneck* makes the exponent ≈ 1 independent of both,
up to ten times faster. The architecture, loss weighting, optimiser and sizes could not be
read, so this module builds the closest defensible setup from the first paper's toy:

- data ``x_i = u_i v_i``, ``u_i ~ Bernoulli(p_i)``, ``p_i ∝ i^{-a}`` (Σ p = 1), ``v ~ U(0,2)``;
- the teacher is the identity on features, each output channel weighted by an importance
  ``I_i ∝ i^{-b}`` (``I_1 = 1``): loss ``L = <Σ_i I_i (y_i − x_i)²>`` (Elhage et al.'s loss);
- the student is ``y = ReLU(W Wᵀ x + b)`` with ``W ∈ R^{n×K}``, from a small init, trained by
  plain gradient descent on fresh batches with a constant learning rate;
- *no superposition*: ``K = n``, no decay (every feature can have its own direction);
- *superposition*: ``K < n`` with the weight-growth decay ``γ < 0`` of the first paper, which
  puts every feature in the ``K``-dimensional space at once (strong superposition).

Without superposition each row grows on its own: with ``s_i = ‖W_i‖²``,
``ds_i/dt = r_i s_i (1 − s_i)``, ``r_i = 8 η I_i p_i <v²>`` (logistic, small init ``s_0``), so
feature ``i`` is learned at ``t_i ≈ ln(1/s_0)/r_i`` and ``L(t) ≈ <v²> Σ_{i: t_i > t} I_i p_i ∝
t^{-(a+b−1)/(a+b)}`` (:func:`sequential_exponent`, :func:`sequential_loss_curve`). This
derivation is this book's, for this reconstruction.

With superposition a width-``K`` model cannot reach zero loss: its loss tends to a floor
``L_K`` (interference). The late-time exponent is therefore measured on ``L − L_K`` with
``L_K`` *measured*, never fitted: the superposition arm keeps training to
``reference_factor ×`` the analysed steps, and ``L_K`` is its mean loss over the last 10 % of
that longer run (:attr:`DynamicsRun.floor`). The exponent of ``L − L_K`` is fitted over
:data:`EXCESS_WINDOW` of the analysed steps; :func:`excess_rule_reading` says what this rule
reads for an exact power law (its bias, stated with the result).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lib.core.divergence import finite_members
from lib.core.ensemble import BatchedSGD
from lib.core.sweep import generator, plan_chunks
from lib.superposition.data import V_SQ_MEAN, frequencies, sparse_stream, stack_batches
from lib.superposition.model import loss_and_grads
from lib.superposition.optim import signed_decay_


@dataclass(frozen=True)
class DynamicsConfig:
    """What every member of the dynamics sweep shares: ``n`` features, bottleneck ``K``, sizes."""

    n: int = 128
    bottleneck: int = 16
    batch: int = 256
    steps: int = 4000
    init_scale: float = 0.1  # rows start with ‖W_i‖ ≈ init_scale (s_0 = init_scale²)
    fastest_rate: float = 0.5  # the logistic rate r_1 of the most important feature, per step
    gamma_super: float = -1.0
    dtype: torch.dtype = torch.float32
    reference_factor: int = 4  # the superposition arm runs this many × steps to measure L_K


ARMS = ("sequential", "superposition")

# Members per chunk on a CPU. Measured on 2 shared cores, 1 thread, the default sizes (n = 128,
# K = 16, B = 256, 2 settings × 3 seeds per arm) at 400 steps: 5.2-5.3 CPU s with one program
# per arm (6 members) against 7.4-7.8 s for the one-member loop it replaced.
CPU_CHUNK_MEMBERS = 8


@dataclass(frozen=True)
class DynamicsMember:
    """One run of the dynamics sweep: data exponent ``a``, importance exponent ``b``, seed, arm
    ("sequential": K = n, no decay; "superposition": K < n, γ < 0)."""

    a: float
    b: float
    seed: int
    arm: str

    def __post_init__(self) -> None:
        if self.arm not in ARMS:
            raise ValueError(f"arm must be one of {ARMS}, got {self.arm!r}")


def member_grid(settings: Sequence[tuple[float, float]],
                seeds: Sequence[int]) -> list[DynamicsMember]:
    """Both arms of every (a, b) setting for every seed."""
    return [DynamicsMember(float(a), float(b), int(s), arm)
            for s in seeds for a, b in settings for arm in ARMS]


def importance(n: int, b: float) -> torch.Tensor:
    """Channel importance ``I_i = i^{-b}`` (float64, ``I_1 = 1``)."""
    return torch.arange(1, n + 1, dtype=torch.float64) ** (-b)


def learning_rate(p: torch.Tensor, imp: torch.Tensor, fastest_rate: float) -> float:
    """Constant GD step ``η`` that gives the fastest feature the logistic rate ``fastest_rate``
    (``r_1 = 8 η I_1 p_1 <v²>``), so every setting is equally stable."""
    return fastest_rate / (8.0 * float((imp * p).max()) * V_SQ_MEAN)


def sequential_exponent(a: float, b: float) -> float:
    """Late-time exponent of ``L ∝ t^{-β}`` without superposition: ``β = (a + b − 1)/(a + b)``
    (for ``a + b > 1``; valid until the last feature is learned)."""
    return (a + b - 1.0) / (a + b)


def sequential_loss_curve(t: np.ndarray, p: torch.Tensor, imp: torch.Tensor, lr: float,
                          s0: float) -> np.ndarray:
    """``L(t) = <v²> Σ_i I_i p_i (1 − s_i(t))²`` with the logistic ``s_i(t)`` of independent
    features (no interference, bias ignored): the sequential-learning theory curve."""
    rate = (8.0 * lr * V_SQ_MEAN * imp * p).numpy()  # (n,)
    t = np.asarray(t, float)[:, None]  # (T, 1)
    s = 1.0 / (1.0 + (1.0 - s0) / s0 * np.exp(-rate * t))  # (T, n)
    return (V_SQ_MEAN * (imp * p).numpy() * (1.0 - s) ** 2).sum(1)


@dataclass
class DynamicsRun:
    """Loss curve of one arm: ``losses[t]`` (paper normalisation, every step), the final
    φ_{1/2}, and what defined it."""

    a: float
    b: float
    arm: str  # "sequential" (K = n) or "superposition" (K < n, γ < 0)
    width: int
    gamma: float
    lr: float
    losses: np.ndarray
    phi_half: float
    finite: bool
    seed: int = 0
    s0: float = 0.01  # initial squared row norm (init_scale²), for the theory curve
    n_features: int = 0
    floor: float = float("nan")  # L_K: mean loss over the last 10 % of the longer run (sup. arm)
    floor_steps: int = 0  # length of that longer run (0: none)


def train_chunk(members: Sequence[DynamicsMember], cfg: DynamicsConfig,
                device: torch.device) -> list[DynamicsRun]:
    """Train members of one arm together (a leading member dimension, plain batched GD).

    Member ``k`` draws its own data from the stream of (seed, a, b), shared by both arms of a
    setting, and its init from (seed, K), so it trains exactly as it would alone."""
    arms = {m.arm for m in members}
    if len(arms) != 1:
        raise ValueError(f"a chunk trains one arm, got {sorted(arms)}")
    arm, n, M = members[0].arm, cfg.n, len(members)
    K = n if arm == "sequential" else cfg.bottleneck
    gamma = 0.0 if arm == "sequential" else cfg.gamma_super
    ps = [frequencies("power", n, m.a) for m in members]
    imps = [importance(n, m.b) for m in members]
    lrs = [learning_rate(p, imp, cfg.fastest_rate) for p, imp in zip(ps, imps, strict=True)]
    W = torch.stack([torch.randn(n, K, generator=generator(m.seed, "dynamics_init", K),
                                 dtype=torch.float64) for m in members])
    W = (W * cfg.init_scale / math.sqrt(K)).to(device, cfg.dtype)  # (M, n, K), rows ≈ init_scale
    bias = torch.zeros(M, n, dtype=cfg.dtype, device=device)  # (M, n)
    lr_t = torch.tensor(lrs, dtype=cfg.dtype, device=device)  # (M,)
    gamma_t = torch.full((M,), gamma, dtype=cfg.dtype, device=device)
    opt = BatchedSGD([W, bias], lr_t)
    imp_dev = torch.stack(imps).to(device, cfg.dtype)  # (M, n)
    streams = [sparse_stream(p.to(device, torch.float32), cfg.batch,
                             generator(m.seed, "dynamics_data", m.a, m.b, device=device),
                             cfg.dtype) for m, p in zip(members, ps, strict=True)]
    total = cfg.steps * (cfg.reference_factor if arm == "superposition" else 1)
    losses = torch.empty(M, total, dtype=cfg.dtype, device=device)
    for step in range(total):
        batch = stack_batches([next(s) for s in streams])  # one batch per member
        loss, gW, gb = loss_and_grads(W, bias, batch, imp_dev)
        losses[:, step] = loss
        if gamma != 0.0:
            signed_decay_(W, gamma_t, lr_t)
        opt.step([gW * n, gb * n])  # gradient of the paper loss (sum over features)
    ok = finite_members(losses)
    phi = (torch.linalg.vector_norm(W, dim=2) > 0.5).double().mean(1).cpu()  # (M,)
    curves = losses.double().cpu().numpy()
    out = []
    for k, m in enumerate(members):
        floor, floor_steps = float("nan"), 0
        if total > cfg.steps:  # the reference: the same run, continued
            floor, floor_steps = float(curves[k, -max(1, total // 10):].mean()), total
        out.append(DynamicsRun(m.a, m.b, arm, K, gamma, lrs[k], curves[k, : cfg.steps],
                               float(phi[k]), bool(ok[k]), m.seed, cfg.init_scale**2, n, floor,
                               floor_steps))
    return out


def train_sweep(members: Sequence[DynamicsMember], cfg: DynamicsConfig, device: torch.device,
                chunk_members: int = 0) -> list[DynamicsRun]:
    """Every member, one arm per chunk (:func:`lib.core.sweep.plan_chunks`); runs in the order
    of ``members``."""
    runs: list = [None] * len(members)
    for idx in plan_chunks(members, chunk_members, device, CPU_CHUNK_MEMBERS,
                           group=lambda m: m.arm):
        for i, run in zip(idx, train_chunk([members[i] for i in idx], cfg, device), strict=True):
            runs[i] = run
    return runs


def log_binned(losses: np.ndarray, n_bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Average a per-step curve over log-spaced windows of steps: (geometric mid-step, mean)."""
    steps = losses.size
    edges = np.unique(np.geomspace(1, steps, n_bins + 1).astype(int))
    t = np.sqrt(edges[:-1] * edges[1:])
    y = np.array([losses[e0:e1].mean() for e0, e1 in zip(edges[:-1], edges[1:], strict=True)])
    return t, y


def time_to_reach(losses: np.ndarray, level: float, n_bins: int = 60) -> float:
    """First (log-binned) step at which the smoothed loss falls below ``level`` (NaN if never)."""
    t, y = log_binned(losses, n_bins)
    below = np.nonzero(y <= level)[0]
    return float(t[below[0]]) if below.size else float("nan")


#: The window of the analysed steps ``T`` over which the exponent of ``L − L_K`` is fitted, as
#: fractions of ``T``: it ends at ``T/3``, twelve times before the reference run's end (4T), so
#: that subtracting a floor measured at finite time biases the slope little
#: (:func:`excess_rule_reading`). Fixed before any run was looked at.
EXCESS_WINDOW = (1 / 30, 1 / 3)


def _window_fit(t: np.ndarray, y: np.ndarray, lo: float, hi: float):
    """Per-seed log-log exponents of ``y`` (seeds, bins) over ``lo ≤ t ≤ hi`` and their Student-t
    interval (:func:`lib.core.fit.exponent_interval`)."""
    from lib.core.fit import exponent_interval

    keep = (t >= lo) & (t <= hi)
    return exponent_interval(t[keep], y[:, keep]), keep


def excess_rule_reading(beta: float, steps: int, factor: int = 4,
                        window: tuple[float, float] = EXCESS_WINDOW, n_bins: int = 40) -> float:
    """What the ``L − L_K`` rule reads for an exact ``L(t) = L_K + t^{-β}``: ``L_K`` taken as
    the mean over the last 10 % of ``factor × steps``, the excess log-binned like the data and
    fitted over ``window``. The difference from ``β`` is the rule's bias."""
    from lib.core.fit import fit_loglog

    total = factor * steps
    tt = np.arange(1, total + 1, dtype=float)
    curve = tt ** (-beta)
    ref = float(curve[-max(1, total // 10):].mean())
    t, y = log_binned(curve[:steps] - ref, n_bins)
    keep = (t >= window[0] * steps) & (t <= window[1] * steps)
    return float(fit_loglog(t[keep], y[keep]).exponent)


def late_exponents(runs: Sequence[DynamicsRun], late_frac: float = 1 / 30,
                   n_bins: int = 40) -> list[dict]:
    """Late-time exponents per (a, b, arm), each a Student-t interval over seeds of per-seed
    log-log fits of the log-binned loss (:func:`lib.core.fit.exponent_interval`):

    - ``exponent``: of ``L`` itself over ``t ≥ late_frac · steps`` (the sequential arm's
      quantity; its floor is 0), with the sequential theory's asymptotic ``(a+b−1)/(a+b)`` and
      its slope over the same window at this finite ``n`` (``theory_window``, from
      :func:`sequential_loss_curve`);
    - ``excess_exponent`` (superposition arm): of ``L − L_K`` over :data:`EXCESS_WINDOW`, with
      each seed's own measured floor ``L_K`` (:attr:`DynamicsRun.floor`); ``excess_min`` is the
      smallest ``L − L_K`` in the window over seeds (must be > 0) and ``floor`` the mean ``L_K``.
    """
    from lib.core.fit import fit_loglog

    out = []
    keys = sorted({(r.a, r.b, r.arm) for r in runs})
    for a, b, arm in keys:
        group = [r for r in runs if (r.a, r.b, r.arm) == (a, b, arm) and r.finite]
        if not group:
            continue
        steps = group[0].losses.size
        binned = [log_binned(r.losses, n_bins) for r in group]
        t = binned[0][0]
        y = np.stack([yb for _, yb in binned])  # (seeds, bins)
        iv, late = _window_fit(t, y, late_frac * steps, np.inf)
        gm = np.exp(np.log(y[:, late]).mean(0))
        fit = fit_loglog(t[late], gm)
        p = frequencies("power", group[0].n_features, a)
        curve = sequential_loss_curve(t[late], p, importance(p.numel(), b), group[0].lr,
                                      group[0].s0)
        window = fit_loglog(t[late], curve).exponent
        row = {"a": a, "b": b, "arm": arm, "exponent": iv.estimate, "ci_low": iv.ci_low,
               "ci_high": iv.ci_high, "ci_method": iv.method, "r2": fit.r2,
               "theory_sequential": sequential_exponent(a, b), "theory_window": window,
               "n_seeds": len(group), "phi_half": float(np.mean([r.phi_half for r in group])),
               "phi_half_min": float(np.min([r.phi_half for r in group])),
               "final_loss": float(gm[-1]), "interval": iv,
               "excess_exponent": float("nan"), "excess_ci_low": None, "excess_ci_high": None,
               "excess_min": float("nan"), "floor": float("nan"), "excess_interval": None}
        floors = np.array([r.floor for r in group])
        if np.all(np.isfinite(floors)):
            lo, hi = EXCESS_WINDOW[0] * steps, EXCESS_WINDOW[1] * steps
            keep = (t >= lo) & (t <= hi)
            excess = y - floors[:, None]
            row["excess_min"] = float(excess[:, keep].min())
            row["floor"] = float(floors.mean())
            row["floor_steps"] = int(group[0].floor_steps)
            # a non-positive excess cannot be logged: that bin is dropped for every seed (and
            # the claim's premise "the floor lies below the curve" fails)
            excess = np.where(excess > 0, excess, np.nan)
            try:
                ev, _ = _window_fit(t, excess, lo, hi)
            except ValueError:  # fewer than 3 bins left
                ev = None
            if ev is not None:
                row.update(excess_exponent=ev.estimate, excess_ci_low=ev.ci_low,
                           excess_ci_high=ev.ci_high, excess_interval=ev)
        out.append(row)
    return out


def speedup(runs: Sequence[DynamicsRun], a: float, b: float, margin: float = 1.5) -> dict:
    """How many times fewer steps the superposition arm needs to reach a loss level that both
    arms reach: ``level = margin ×`` the larger of the two final (smoothed) losses, seeds
    averaged. Returns the level, both times and their ratio."""
    curves = {}
    for arm in ("sequential", "superposition"):
        group = [r.losses for r in runs if (r.a, r.b, r.arm) == (a, b, arm) and r.finite]
        curves[arm] = np.mean(group, axis=0) if group else None
    if any(c is None for c in curves.values()):
        return {"a": a, "b": b, "level": float("nan"), "t_sequential": float("nan"),
                "t_superposition": float("nan"), "speedup": float("nan")}
    finals = [log_binned(c)[1][-1] for c in curves.values()]
    level = margin * max(finals)
    t_seq = time_to_reach(curves["sequential"], level)
    t_sup = time_to_reach(curves["superposition"], level)
    return {"a": a, "b": b, "level": level, "t_sequential": t_seq, "t_superposition": t_sup,
            "speedup": t_seq / t_sup}
