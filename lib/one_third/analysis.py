"""Exponents, collapse and decay shape of the logged loss curves (chapter ``one_third_time``).

All fits use the *test* loss against dynamic time ``τ = lr · t`` and a window of τ (late enough
to be past the optimiser's transient, early enough to be before the finite-β* floor). Exponents
are positive for a decreasing curve (``L ∝ τ^{-α}``). Intervals are the book's
(:func:`lib.core.fit.exponent_interval`, :func:`lib.core.fit.t_interval`): one fit per seed, a
Student-t interval over the seeds (teacher and data), never a percentile bootstrap over 2–5 seeds.

The peaked-regime claims are judged at *every* learning rate that passes the regime test
(:func:`regime_table`, a rule fixed before the exponents are seen) in one τ window:
:func:`every_lr_interval` (the exponent equals the target at every passing lr: an
intersection-union test) and :func:`lr_spread` (the exponents of one seed agree across lrs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from lib.core.claims import Premise, Tolerance
from lib.core.fit import Interval, exponent_interval, fit_loglog, r_squared, t_interval
from lib.core.report import geometric_mean, local_slopes
from lib.one_third.sweep import SweepResult


@dataclass(frozen=True)
class WindowFit:
    """An exponent fitted in a τ window: the book's interval over seeds (NaN bounds when there
    is none), the R² of the seed-mean curve, and the per-seed exponents."""

    estimate: float
    ci_low: float
    ci_high: float
    r2: float
    n_points: int
    n_seeds: int
    per_seed: tuple[float, ...] = ()
    ci_method: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def interval(self) -> Interval:
        """The :class:`lib.core.fit.Interval` behind this fit (for ``run.claim``)."""
        has_ci = np.isfinite(self.ci_low) and np.isfinite(self.ci_high)
        return Interval(self.estimate, self.ci_low if has_ci else None,
                        self.ci_high if has_ci else None, 0.95, self.ci_method, self.n_seeds,
                        per_seed=self.per_seed)


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


def in_window(tau: np.ndarray, window: Sequence[float], loss: np.ndarray | None = None,
              loss_floor: float = 0.0) -> np.ndarray:
    """Boolean mask of τ inside ``[lo, hi]`` (and, if given, loss above ``loss_floor``)."""
    lo, hi = window
    mask = (tau >= lo) & (tau <= hi)
    if loss is not None:
        mask &= np.all(np.atleast_2d(loss) > loss_floor, axis=0)
    return mask


def window_fit(tau: np.ndarray, losses: np.ndarray, window: Sequence[float],
               loss_floor: float = 0.0) -> WindowFit:
    """Exponent in ``window``: one log-log fit per seed, Student-t interval over the seeds
    (:func:`lib.core.fit.exponent_interval`; one seed: the OLS slope's standard error). Needs 3
    points in the window where every seed is above ``loss_floor``, else NaN."""
    losses = np.atleast_2d(losses)
    if losses.shape[0] == 0:
        return NAN_FIT
    mask = in_window(tau, window, losses, loss_floor)
    if mask.sum() < 3:
        return WindowFit(*([float("nan")] * 4), int(mask.sum()), losses.shape[0])
    x, y = tau[mask], losses[:, mask]
    iv = exponent_interval(x, y, method="loglog")
    fit = fit_loglog(x, geometric_mean(y))
    return WindowFit(*iv.triple(), fit.r2, int(mask.sum()),
                     iv.n_seeds, tuple(iv.per_seed), iv.method)


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
               window: Sequence[float], loss_floor: float = 0.0) -> WindowFit:
    """Common exponent of the curves of several learning rates at one temperature in a τ
    window (:func:`fixed_effects_exponent`), one per seed, Student-t interval over the seeds.
    Learning rates with fewer than 3 points in the window are left out; with one lr this is
    the plain window fit. Pooling hides a dependence on the lr: the claims use
    :func:`every_lr_interval` and :func:`lr_spread` instead."""
    blocks = []
    for lr in lrs:
        tau, losses = seed_curves(result, optimizer=optimizer, lr=lr, temperature=temperature)
        mask = in_window(tau, window, losses, loss_floor)
        if mask.sum() >= 3 and losses.shape[0] > 0:
            blocks.append((tau[mask], losses[:, mask]))
    if not blocks:
        return NAN_FIT
    n_seeds = min(b[1].shape[0] for b in blocks)
    per_seed = [fixed_effects_exponent([(t, y[s]) for t, y in blocks])[0]
                for s in range(n_seeds)]
    iv = t_interval(np.array(per_seed), method=f"Student t over {n_seeds} per-seed pooled fits")
    r2 = fixed_effects_exponent([(t, geometric_mean(y[:n_seeds])) for t, y in blocks])[1]
    return WindowFit(*iv.triple(), r2,
                     int(sum(t.size for t, _ in blocks)), n_seeds, tuple(per_seed), iv.method)


# ---- the peaked regime at every learning rate ----------------------------------------------


def regime_table(result: SweepResult, optimizer: str, temperature: float,
                 window: Sequence[float], c0: float, loss_floor: float = 0.0) -> pd.DataFrame:
    """One row per learning rate of ``optimizer`` at ``temperature``: the regime test and the
    window fit. The regime test (fixed before any exponent is seen, the same for every lr):

    1. no seed diverged;
    2. at least 3 logged points in the τ ``window`` with every seed above ``loss_floor``;
    3. the student's β at the window start (mean over seeds) exceeds ``c0`` (past the
       high-temperature phase of the transient).

    ``passes`` is True when all three hold; ``fails`` names the first that does not. The fit
    (:func:`window_fit`) is reported for every lr with points, passing or not."""
    sub = result.where(optimizer=optimizer, temperature=temperature)
    rows = []
    for lr in sorted({m.lr for m in sub.members}):
        cell = sub.where(lr=lr)
        tau, losses = cell.tau[0], cell.test_loss[cell.finite]
        f = window_fit(tau, losses, window, loss_floor)
        start = int(np.searchsorted(tau, window[0]))
        beta = cell.student_beta[cell.finite]
        beta_start = float(beta[:, start].mean()) if start < tau.size and beta.size \
            else float("nan")
        diverged = int((~cell.finite).sum())
        if diverged:
            fails = f"{diverged} seed(s) diverged"
        elif f.n_points < 3:
            fails = f"{f.n_points} point(s) in the τ window (τ ≤ {tau[-1]:.3g})"
        elif not beta_start > c0:
            fails = f"β at the window start {beta_start:.2f} ≤ c0 = {c0:.2f}"
        else:
            fails = ""
        rows.append({"optimizer": optimizer, "lr": lr, "tau_max": float(tau[-1]),
                     "points": f.n_points, "beta_start": beta_start, "diverged": diverged,
                     "passes": not fails, "fails": fails, "exponent": f.estimate,
                     "ci_low": f.ci_low, "ci_high": f.ci_high, "r2": f.r2,
                     "n_seeds": f.n_seeds, "per_seed": f.per_seed, "ci_method": f.ci_method})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Composite:
    """The interval a claim 'at every passing learning rate' is judged on (see
    :func:`every_lr_interval`)."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    decided_by: str
    n_seeds: int
    method: str


def every_lr_interval(table: pd.DataFrame, target: float, tol: Tolerance) -> Composite:
    """'The exponent equals ``target`` within ``tol`` at every passing lr' as one interval, so
    that the book's rule (:func:`lib.core.claims.judge`) gives the intersection-union verdict:

    - some passing lr's CI lies wholly outside the band: that lr's estimate and CI (the rule
      then says *not held*: at that lr the claim fails);
    - else, some passing lr has no CI (one seed): the worst estimate with no CI (*partly*);
    - else the hull of the passing lrs' CIs with the estimate farthest from ``target``: the
      rule says *held* only if every CI lies inside the band, *partly* otherwise.

    Needs at least one passing row (the chapter's premise)."""
    rows = table[table.passes]
    if rows.empty:
        raise ValueError("no learning rate passes the regime test")
    half = tol.half_width(target)
    lo_band, hi_band = target - half, target + half
    n = int(rows.n_seeds.min())
    far = rows.loc[(rows.exponent - target).abs().idxmax()]
    method = f"hull of the per-lr Student-t intervals over {n} seeds ({len(rows)} lrs)"
    finite = rows[np.isfinite(rows.ci_low) & np.isfinite(rows.ci_high)]
    outside = finite[(finite.ci_high < lo_band) | (finite.ci_low > hi_band)]
    if len(outside):
        r = outside.loc[(outside.exponent - target).abs().idxmax()]
        return Composite(float(r.exponent), float(r.ci_low), float(r.ci_high),
                         f"lr = {r.lr:g} (its CI lies outside the band)", n,
                         f"Student t over {n} seeds at lr = {r.lr:g}")
    if len(finite) < len(rows):
        return Composite(float(far.exponent), None, None,
                         "a passing lr has no interval (one seed)", n, method)
    return Composite(float(far.exponent), float(finite.ci_low.min()), float(finite.ci_high.max()),
                     f"all {len(rows)} passing lrs", n, method)


def lr_spread(table: pd.DataFrame) -> Interval:
    """How much the exponent depends on the learning rate: per seed, the largest over the
    smallest of that seed's exponents across the passing lrs (1 = independent of the lr), with
    the Student-t interval over seeds. Seeds are paired across lrs (same teacher and data).
    Needs ≥ 2 passing lrs with the same seeds."""
    rows = table[table.passes]
    if len(rows) < 2:
        raise ValueError("the spread across learning rates needs ≥ 2 passing learning rates")
    per = np.array([list(p) for p in rows.per_seed], float)  # (lrs, seeds)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(per.min(0) > 0, per.max(0) / per.min(0), np.nan)
    return t_interval(ratio, method=f"Student t over {per.shape[1]} seeds of max/min across "
                                    f"{per.shape[0]} lrs")


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
                 loss_floor: float = 1e-9) -> pd.DataFrame:
    """One row per (lr, T) cell of ``optimizer``: the exponent fitted on the last ``decades``
    decades of the run (τ ∈ [τ_end·10^-decades, τ_end], points above ``loss_floor``) with the
    Student-t interval over seeds, its R², whether the loss reached the floor (converged:
    exponential, no power law) and how many seeds diverged."""
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
            fit = window_fit(tau, losses, window, loss_floor=loss_floor)
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
               last_local_exponent=float(local_slopes(t[-2:], y[-2:])[1][0]),
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


def exponential_evidence(table: pd.DataFrame, min_drop_decades: float = 2.0
                         ) -> tuple[Interval, Premise, dict[str, float]]:
    """The evidence for "the loss converges exponentially, with no power law" from the
    :func:`decay_table` rows of the hot-teacher runs (one or several optimisers):

    - the statistic: ``ΔR² = R²(log L vs τ) − R²(log L vs log τ)`` per run, averaged over the
      optimisers of a seed, then the Student-t interval over seeds (runs of one seed share
      teacher and data, so seeds are the replicates); judged one-sided, above 0;
    - the premise: every run fell at least ``min_drop_decades`` decades (else the shape of a
      barely-moving curve says nothing: not converged).

    Also returns the fraction of runs that reached the loss floor and the number of runs."""
    rows = table.dropna(subset=["r2_exponential", "r2_power"])
    name = f"every hot run fell ≥ {min_drop_decades:g} decades"
    if rows.empty:
        nan = float("nan")
        return (Interval(nan, None, None, 0.95, "no run", 0),
                Premise(name, False, "no run"),
                {"n_runs": 0, "reached_floor": nan, "min_drop": nan})
    delta = (rows.r2_exponential - rows.r2_power).groupby(rows.seed).mean()
    iv = t_interval(delta.to_numpy(), method=f"Student t over {delta.size} seeds "
                                               "(ΔR² averaged over the optimisers of a seed)")
    drop = float(rows.loss_drop_decades.min())
    premise = Premise(name, drop >= min_drop_decades,
                      f"smallest fall {drop:.2f} decades over {len(rows)} runs")
    return iv, premise, {"n_runs": int(len(rows)), "min_drop": drop,
                         "reached_floor": float(rows.reached_floor.mean())}
