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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lib.core.divergence import finite_members
from lib.core.ensemble import BatchedSGD
from lib.superposition.data import V_SQ_MEAN, frequencies, sparse_stream
from lib.superposition.model import loss_and_grads
from lib.superposition.optim import signed_decay_


@dataclass(frozen=True)
class DynamicsConfig:
    """One teacher-student comparison: ``n`` features, bottleneck ``K``, (a, b) settings."""

    n: int = 128
    bottleneck: int = 16
    batch: int = 256
    steps: int = 4000
    init_scale: float = 0.1  # rows start with ‖W_i‖ ≈ init_scale (s_0 = init_scale²)
    fastest_rate: float = 0.5  # the logistic rate r_1 of the most important feature, per step
    gamma_super: float = -1.0
    seed: int = 0
    dtype: torch.dtype = torch.float32


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


def train_arm(a: float, b: float, arm: str, cfg: DynamicsConfig,
              device: torch.device) -> DynamicsRun:
    """Train one arm of one (a, b) setting; both arms of a setting see the same data."""
    n = cfg.n
    K = n if arm == "sequential" else cfg.bottleneck
    gamma = 0.0 if arm == "sequential" else cfg.gamma_super
    p = frequencies("power", n, a)
    imp = importance(n, b)
    lr = learning_rate(p, imp, cfg.fastest_rate)
    g_init = torch.Generator().manual_seed(cfg.seed * 1000 + K)
    W = (torch.randn(1, n, K, generator=g_init, dtype=torch.float64) * cfg.init_scale
         / math.sqrt(K)).to(device, cfg.dtype)  # (1, n, K), rows of norm ≈ init_scale
    bias = torch.zeros(1, n, dtype=cfg.dtype, device=device)  # (1, n)
    lr_t = torch.full((1,), lr, dtype=cfg.dtype, device=device)
    gamma_t = torch.full((1,), gamma, dtype=cfg.dtype, device=device)
    opt = BatchedSGD([W, bias], lr_t)
    imp_dev = imp.to(device, cfg.dtype).unsqueeze(0)  # (1, n)
    p_dev = p.to(device, torch.float32)
    gen = torch.Generator(device=device).manual_seed(cfg.seed * 7919 + int(1000 * a + 10 * b))
    losses = torch.empty(cfg.steps, dtype=cfg.dtype, device=device)
    stream = sparse_stream(p_dev, cfg.batch, gen, cfg.dtype)
    for step in range(cfg.steps):
        batch = next(stream)
        loss, gW, gb = loss_and_grads(W, bias, batch, imp_dev)
        losses[step] = loss[0]
        if gamma != 0.0:
            signed_decay_(W, gamma_t, lr_t)
        opt.step([gW * n, gb * n])  # gradient of the paper loss (sum over features)
    ok = bool(finite_members(losses.unsqueeze(0))[0])
    phi = float((torch.linalg.vector_norm(W[0], dim=1) > 0.5).double().mean())
    return DynamicsRun(a, b, arm, K, gamma, lr, losses.double().cpu().numpy(), phi, ok, cfg.seed,
                       cfg.init_scale**2, n)


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


def run_dynamics(settings: Sequence[tuple[float, float]], cfg: DynamicsConfig,
                 device: torch.device) -> list[DynamicsRun]:
    """Both arms for every (a, b) setting."""
    return [train_arm(a, b, arm, cfg, device) for a, b in settings
            for arm in ("sequential", "superposition")]


def late_exponents(runs: Sequence[DynamicsRun], late_frac: float = 1 / 30, n_bins: int = 40,
                   n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """Late-time exponent of ``L ∝ t^{-β}`` per (a, b, arm): log-log fit of the log-binned
    loss over steps ``t ≥ late_frac · steps`` (geometric mean over seeds), a bootstrap CI over
    seeds and time bins, R² of the fit; the sequential theory's asymptotic ``(a+b−1)/(a+b)``
    and its slope over the same window at this finite ``n`` (``theory_window``, from
    :func:`sequential_loss_curve`); and the exponent after subtracting a fitted loss floor."""
    from lib.core.fit import bootstrap_exponent, fit_loglog, fit_offset

    out = []
    keys = sorted({(r.a, r.b, r.arm) for r in runs})
    for a, b, arm in keys:
        group = [r for r in runs if (r.a, r.b, r.arm) == (a, b, arm) and r.finite]
        if not group:
            continue
        binned = [log_binned(r.losses, n_bins) for r in group]
        t = binned[0][0]
        y = np.stack([yb for _, yb in binned])  # (seeds, bins)
        late = t >= late_frac * group[0].losses.size
        boot = bootstrap_exponent(t[late], y[:, late], over="both", n_boot=n_boot, seed=seed)
        gm = np.exp(np.log(y[:, late]).mean(0))
        fit = fit_loglog(t[late], gm)
        p = frequencies("power", group[0].n_features, a)
        curve = sequential_loss_curve(t[late], p, importance(p.numel(), b), group[0].lr,
                                      group[0].s0)
        window = fit_loglog(t[late], curve).exponent
        try:
            floor = fit_offset(t[late], gm).exponent
        except (ValueError, RuntimeError):
            floor = float("nan")
        out.append({"a": a, "b": b, "arm": arm, "exponent": boot.estimate,
                    "ci_low": boot.ci_low, "ci_high": boot.ci_high, "r2": fit.r2,
                    "theory_sequential": sequential_exponent(a, b),
                    "theory_window": window, "exponent_above_floor": floor,
                    "n_seeds": len(group),
                    "phi_half": float(np.mean([r.phi_half for r in group])),
                    "final_loss": float(gm[-1])})
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
