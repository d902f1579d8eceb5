"""Exponents, collapse and decay shape of the logged loss curves (chapter ``one_third_time``).

All fits use the *test* loss against dynamic time ``τ = lr · t`` and a window of τ (late enough
to be past the optimiser's transient, early enough to be before the finite-β* floor). Exponents
are positive for a decreasing curve (``L ∝ τ^{-α}``), CIs come from a bootstrap over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from lib.core.claims import judge_above
from lib.core.fit import bootstrap, bootstrap_exponent, fit_loglog, r_squared
from lib.one_third.sweep import SweepResult


@dataclass(frozen=True)
class WindowFit:
    """An exponent fitted in a τ window, with its bootstrap CI over seeds."""

    estimate: float
    ci_low: float
    ci_high: float
    r2: float
    n_points: int
    n_seeds: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


NAN_FIT = WindowFit(float("nan"), float("nan"), float("nan"), float("nan"), 0, 0)


def seed_curves(result: SweepResult, **match: object) -> tuple[np.ndarray, np.ndarray]:
    """``τ`` ``(K,)`` and the finite seeds' test losses ``(n_seeds, K)`` of one (opt, lr, T)."""
    sub = result.where(**match)
    ok = sub.finite
    if sub.test_loss.shape[0] == 0:
        raise ValueError(f"no member matches {match}")
    lrs = {m.lr for m in sub.members}
    if len(lrs) != 1:
        raise ValueError(f"{match} selects several learning rates: {sorted(lrs)}")
    return sub.tau[0], sub.test_loss[ok]


def geometric_mean(losses: np.ndarray) -> np.ndarray:
    """Geometric mean over seeds (rows), ignoring non-positive/non-finite entries."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(losses > 0, np.log(np.where(losses > 0, losses, 1.0)), np.nan)
        return np.exp(np.nanmean(logs, axis=0))


def in_window(tau: np.ndarray, window: Sequence[float], loss: np.ndarray | None = None,
              loss_floor: float = 0.0) -> np.ndarray:
    """Boolean mask of τ inside ``[lo, hi]`` (and, if given, loss above ``loss_floor``)."""
    lo, hi = window
    mask = (tau >= lo) & (tau <= hi)
    if loss is not None:
        mask &= np.all(np.atleast_2d(loss) > loss_floor, axis=0)
    return mask


def window_fit(tau: np.ndarray, losses: np.ndarray, window: Sequence[float],
               n_boot: int = 1000, seed: int = 0, loss_floor: float = 0.0) -> WindowFit:
    """Exponent of the seed-mean curve in ``window`` with a bootstrap over seeds (over points
    when there is a single seed). Needs 3 points in the window, else NaN."""
    losses = np.atleast_2d(losses)
    if losses.shape[0] == 0:
        return NAN_FIT
    mask = in_window(tau, window, losses, loss_floor)
    if mask.sum() < 3:
        return WindowFit(*([float("nan")] * 4), int(mask.sum()), losses.shape[0])
    x, y = tau[mask], losses[:, mask]
    over = "seeds" if y.shape[0] >= 2 else "points"
    boot = bootstrap_exponent(x, y, over=over, n_boot=n_boot, seed=seed)
    fit = fit_loglog(x, geometric_mean(y))
    return WindowFit(boot.estimate, boot.ci_low, boot.ci_high, fit.r2, int(mask.sum()),
                     y.shape[0])


def fixed_effects_exponent(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """One exponent shared by several curves, each with its own prefactor: least squares of
    ``log L`` on ``log τ`` after removing each curve's means (a collapse in τ means the curves
    are the same power law; this does not even need the prefactors to agree). Returns
    ``(exponent, within-curve R²)``."""
    dx, dy = [], []
    for x, y in curves:
        lx, ly = np.log(x), np.log(y)
        dx.append(lx - lx.mean())
        dy.append(ly - ly.mean())
    dxa, dya = np.concatenate(dx), np.concatenate(dy)
    slope = float(dxa @ dya / (dxa @ dxa))
    return -slope, r_squared(dya, slope * dxa)


def pooled_fit(result: SweepResult, optimizer: str, lrs: Sequence[float], temperature: float,
               window: Sequence[float], n_boot: int = 1000, seed: int = 0,
               loss_floor: float = 0.0) -> WindowFit:
    """Common exponent of the curves of several learning rates at one temperature in a τ
    window (:func:`fixed_effects_exponent` on seed means), bootstrap over seeds (the same
    resampled seeds for every lr). Learning rates with fewer than 3 points in the window are
    left out; with one lr this is the plain window fit."""
    blocks = []
    for lr in lrs:
        tau, losses = seed_curves(result, optimizer=optimizer, lr=lr, temperature=temperature)
        mask = in_window(tau, window, losses, loss_floor)
        if mask.sum() >= 3 and losses.shape[0] > 0:
            blocks.append((tau[mask], losses[:, mask]))
    if not blocks:
        return NAN_FIT
    n_seeds = min(b[1].shape[0] for b in blocks)
    blocks = [(t, y[:n_seeds]) for t, y in blocks]

    def stat(seed_idx: np.ndarray) -> float:
        idx = seed_idx.astype(int)
        return fixed_effects_exponent([(t, geometric_mean(y[idx])) for t, y in blocks])[0]

    all_idx = np.arange(n_seeds)
    est, r2 = fixed_effects_exponent([(t, geometric_mean(y)) for t, y in blocks])
    if n_seeds >= 2:
        boot = bootstrap(stat, all_idx, n_boot=n_boot, seed=seed)
        lo, hi = boot.ci_low, boot.ci_high
    else:  # one seed: resample points of the single curve(s)
        x = np.concatenate([t for t, _ in blocks])
        y = np.concatenate([yy[0] for _, yy in blocks])
        b = bootstrap_exponent(x, y, over="points", n_boot=n_boot, seed=seed)
        lo, hi = b.ci_low, b.ci_high
    return WindowFit(est, lo, hi, r2, int(sum(t.size for t, _ in blocks)), n_seeds)


def smoothed_local_slopes(tau: np.ndarray, loss: np.ndarray, span: int = 4
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``−Δ ln L / Δ ln τ`` over ``span`` log points, at the geometric mid-points (a local
    exponent that is not dominated by test-loss noise between neighbouring points)."""
    ok = np.isfinite(loss) & (loss > 0) & (tau > 0)
    lt, ll = np.log(tau[ok]), np.log(loss[ok])
    if lt.size <= span:
        return np.zeros(0), np.zeros(0)
    slope = -(ll[span:] - ll[:-span]) / (lt[span:] - lt[:-span])
    return np.exp(0.5 * (lt[span:] + lt[:-span])), slope


def local_slopes_vs_loss(tau: np.ndarray, loss: np.ndarray, span: int = 4
                         ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`smoothed_local_slopes` against the loss at the same mid-points (geometric mean
    of the two ends): the local exponent as a function of L does not depend on how fast the
    optimiser moves along the curve, so Adam, SGD and the ansatz can be compared directly."""
    ok = np.isfinite(loss) & (loss > 0) & (tau > 0)
    lt, ll = np.log(tau[ok]), np.log(loss[ok])
    if lt.size <= span:
        return np.zeros(0), np.zeros(0)
    slope = -(ll[span:] - ll[:-span]) / (lt[span:] - lt[:-span])
    return np.exp(0.5 * (ll[span:] + ll[:-span])), slope


def collapse_r2(curves: Sequence[tuple[np.ndarray, np.ndarray]], degree: int = 3) -> float:
    """How well several curves ``(x, L)`` fall on *one* curve: R² of a single polynomial of
    degree ``degree`` in ``log x`` fitted to ``log L`` of all points together. Curves that
    collapse in x give R² near 1; curves shifted along x give less (the paper compares
    collapse in τ against collapse in steps the same way for Pythia)."""
    xs = np.concatenate([np.log(x) for x, _ in curves])
    ys = np.concatenate([np.log(y) for _, y in curves])
    ok = np.isfinite(xs) & np.isfinite(ys)
    if ok.sum() <= degree + 1:
        return float("nan")
    coef = np.polyfit(xs[ok], ys[ok], degree)
    return r_squared(ys[ok], np.polyval(coef, xs[ok]))


# ---- exponent map ---------------------------------------------------------------------------


def exponent_map(result: SweepResult, optimizer: str, decades: float = 1.0,
                 loss_floor: float = 1e-9, n_boot: int = 300, seed: int = 0) -> pd.DataFrame:
    """One row per (lr, T) cell of ``optimizer``: the exponent fitted on the last ``decades``
    decades of the run (τ ∈ [τ_end·10^-decades, τ_end], points above ``loss_floor``) with a
    seed bootstrap, its R², whether the loss reached the floor (converged: exponential, no
    power law) and how many seeds diverged."""
    sub = result.where(optimizer=optimizer)
    rows = []
    for lr in sorted({m.lr for m in sub.members}):
        for temp in sorted({m.temperature for m in sub.members}):
            cell = sub.where(lr=lr, temperature=temp)
            if not cell.members:
                continue
            tau, losses = cell.tau[0], cell.test_loss[cell.finite]
            converged = bool(losses.size and np.nanmin(geometric_mean(losses)) < loss_floor)
            window = (tau[-1] * 10 ** (-decades), tau[-1])
            fit = window_fit(tau, losses, window, n_boot=n_boot, seed=seed, loss_floor=loss_floor)
            rows.append({"optimizer": optimizer, "lr": lr, "temperature": temp,
                         "exponent": fit.estimate, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                         "r2": fit.r2, "n_points": fit.n_points, "n_seeds": fit.n_seeds,
                         "converged": converged,
                         "diverged": int((~cell.finite).sum()),
                         "final_loss": float(geometric_mean(losses)[-1]) if losses.size
                         else float("nan")})
    return pd.DataFrame(rows)


# ---- exponential versus power-law decay ------------------------------------------------------


def decay_shape(tau: np.ndarray, loss: np.ndarray, loss_floor: float = 1e-9,
                start: float = 0.0) -> dict[str, float]:
    """Which law fits a decaying curve better, from τ ≥ ``start`` until it first falls below
    ``loss_floor``: R² of ``log L`` against ``τ`` (a straight line: exponential decay) and
    against ``log τ`` (a power law), the fitted rate and exponent, and the last local exponent
    (huge for an exponential, ≈ α for a power law)."""
    ok = np.isfinite(loss) & (loss > 0) & (tau > 0) & (tau >= start)
    below = np.flatnonzero(ok & (loss < loss_floor))
    end = below[0] + 1 if below.size else loss.size
    keep = ok.copy()
    keep[end:] = False
    t, y = tau[keep], loss[keep]
    out = {"n_points": int(t.size), "reached_floor": bool(below.size),
           "r2_exponential": float("nan"), "r2_power": float("nan"), "rate": float("nan"),
           "power_exponent": float("nan"), "last_local_exponent": float("nan"),
           "loss_drop_decades": float("nan")}
    if t.size < 4:
        return out
    lin = stats.linregress(t, np.log(y))
    pw = stats.linregress(np.log(t), np.log(y))
    out.update(r2_exponential=float(lin.rvalue**2), r2_power=float(pw.rvalue**2),
               rate=float(-lin.slope), power_exponent=float(-pw.slope),
               last_local_exponent=float(-np.log(y[-1] / y[-2]) / np.log(t[-1] / t[-2])),
               loss_drop_decades=float(np.log10(y[0] / y[-1])))
    return out


def decay_table(result: SweepResult, loss_floor: float = 1e-9, start: float = 0.0
                ) -> pd.DataFrame:
    """:func:`decay_shape` of every finite member, one row each."""
    rows = []
    for i, m in enumerate(result.members):
        if not result.finite[i]:
            continue
        rows.append({"optimizer": m.optimizer, "lr": m.lr, "temperature": m.temperature,
                     "seed": m.seed, **decay_shape(result.tau[i], result.test_loss[i],
                                                   loss_floor, start)})
    return pd.DataFrame(rows)


def exponential_verdict(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                        min_drop_decades: float = 2.0) -> dict[str, object]:
    """Verdict on "the loss converges exponentially, with no power law" from the
    :func:`decay_table` rows of the hot-teacher runs, by a measured criterion:

    - ``not_reached`` if the runs did not fall ``min_drop_decades`` decades (not converged);
    - else :func:`lib.core.claims.judge_above` on ``ΔR² = R²(exponential) − R²(power law)``
      (mean over runs, 95% bootstrap CI over runs) against 0: ``held`` if the whole CI is
      above 0, downgraded to ``partly`` if some run did not reach the loss floor.
    """
    rows = table.dropna(subset=["r2_exponential", "r2_power"])
    out: dict[str, object] = {"estimate": float("nan"), "ci_low": float("nan"),
                              "ci_high": float("nan"), "n_runs": int(len(rows))}
    if rows.empty or float(rows.loss_drop_decades.median()) < min_drop_decades:
        out.update(verdict="not_reached",
                   note=f"the hot runs fell less than {min_drop_decades:g} decades: not converged")
        return out
    delta = (rows.r2_exponential - rows.r2_power).to_numpy()
    boot = bootstrap(lambda d: float(np.mean(d)), delta, n_boot=n_boot, seed=seed)
    verdict, note = judge_above(boot.estimate, boot.ci_low, boot.ci_high, 0.0)
    if verdict == "held" and not bool(rows.reached_floor.all()):
        verdict, note = "partly", note + ", but some run did not reach the loss floor"
    elif verdict == "held":
        note += ": an exponential fits better than a power law, and every run reached the floor"
    out.update(estimate=boot.estimate, ci_low=boot.ci_low, ci_high=boot.ci_high,
               verdict=verdict, note=note)
    return out
