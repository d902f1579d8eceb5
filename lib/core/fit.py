"""Power-law fits with honest uncertainty.

Convention: a power law is ``y = c * x**(-a)`` (+ an offset ``E`` where fitted), and ``a`` is
reported as the *exponent* (positive for a decreasing curve), as the papers do (``L ∝ m^{-α_m}``).

- :func:`fit_loglog`: least squares of ``log y`` on ``log x`` (scipy ``linregress``).
- :func:`fit_offset`: ``y = E + c x^{-a}`` by scipy ``least_squares`` on log residuals, with a
  robust loss if asked and several initialisations (offset fits are multi-modal).
- :func:`local_slopes`: the exponent between neighbouring points, to show where a fit is stable.
- :func:`bootstrap_exponent`: a CI by resampling seeds (rows) and/or points (columns).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class PowerLawFit:
    """Result of a power-law fit: y ≈ offset + prefactor * x**(-exponent)."""

    exponent: float
    prefactor: float
    offset: float
    r2: float
    stderr: float
    n: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.offset + self.prefactor * np.asarray(x, dtype=float) ** (-self.exponent)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Bootstrap:
    """A point estimate with a percentile bootstrap confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float
    level: float
    samples: np.ndarray

    def as_dict(self) -> dict[str, float]:
        return {
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_level": self.level,
        }

    def contains(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def _clean(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in shape: {x.shape} vs {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    return x[ok], y[ok]


def r_squared(y: np.ndarray, yhat: np.ndarray) -> float:
    """Coefficient of determination of ``yhat`` for ``y``."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def fit_loglog(x: np.ndarray, y: np.ndarray) -> PowerLawFit:
    """Fit ``log y = log c - a log x`` by ordinary least squares; R² is in log space."""
    x, y = _clean(x, y)
    if x.size < 2:
        raise ValueError("a power-law fit needs at least 2 finite positive points")
    res = stats.linregress(np.log(x), np.log(y))
    return PowerLawFit(
        exponent=float(-res.slope),
        prefactor=float(np.exp(res.intercept)),
        offset=0.0,
        r2=float(res.rvalue**2),
        stderr=float(res.stderr) if x.size > 2 else float("nan"),
        n=int(x.size),
    )


def fit_offset(
    x: np.ndarray,
    y: np.ndarray,
    loss: str = "linear",
    f_scale: float = 1.0,
    n_starts: int = 8,
    max_offset_frac: float = 0.999,
) -> PowerLawFit:
    """Fit ``y = E + c x^{-a}`` with ``0 <= E < min(y)``, minimising residuals in ``log y``.

    ``loss`` is passed to scipy ``least_squares`` ('linear', 'huber', 'soft_l1', ...). Several
    starting exponents are tried and the best cost kept. R² is computed in log space.
    """
    x, y = _clean(x, y)
    if x.size < 4:
        raise ValueError("an offset power-law fit needs at least 4 finite positive points")
    lx, ly = np.log(x), np.log(y)
    e_max = max_offset_frac * y.min()

    def resid(theta: np.ndarray) -> np.ndarray:
        log_c, a, e = theta
        return np.log(e + np.exp(log_c - a * lx)) - ly

    base = fit_loglog(x, y)
    best = None
    for a0 in np.unique(np.r_[max(base.exponent, 0.05), np.geomspace(0.1, 3.0, n_starts - 1)]):
        for frac in (0.0, 0.5):
            e0 = frac * e_max
            c0 = np.log(max(np.median(y - e0), 1e-12)) + a0 * np.median(lx)
            try:
                sol = optimize.least_squares(
                    resid,
                    x0=[c0, a0, e0],
                    bounds=([-np.inf, 0.0, 0.0], [np.inf, 20.0, e_max]),
                    loss=loss,
                    f_scale=f_scale,
                )
            except ValueError:
                continue
            if best is None or sol.cost < best.cost:
                best = sol
    assert best is not None
    log_c, a, e = best.x
    fit = PowerLawFit(float(a), float(np.exp(log_c)), float(e), 0.0, float("nan"), int(x.size))
    r2 = r_squared(ly, np.log(fit.predict(x)))
    return PowerLawFit(fit.exponent, fit.prefactor, fit.offset, r2, float("nan"), fit.n)


def local_slopes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exponents between neighbouring points, at their geometric mid-points (sorted by x)."""
    x, y = _clean(x, y)
    order = np.argsort(x)
    x, y = x[order], y[order]
    slopes = -np.diff(np.log(y)) / np.diff(np.log(x))
    return np.sqrt(x[1:] * x[:-1]), slopes


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    rows: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Bootstrap:
    """Percentile bootstrap of ``statistic(rows)`` resampling the leading axis with replacement.
    Resamples on which the statistic fails or is not finite are dropped."""
    rows = np.asarray(rows)
    rng = np.random.default_rng(seed)
    est = float(statistic(rows))
    samples = []
    for _ in range(n_boot):
        idx = rng.integers(0, rows.shape[0], rows.shape[0])
        try:
            v = float(statistic(rows[idx]))
        except (ValueError, RuntimeError, FloatingPointError):
            continue
        if np.isfinite(v):
            samples.append(v)
    s = np.asarray(samples)
    if s.size == 0:
        return Bootstrap(est, float("nan"), float("nan"), level, s)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return Bootstrap(est, float(lo), float(hi), level, s)


def bootstrap_exponent(
    x: np.ndarray,
    y: np.ndarray,
    method: str = "loglog",
    over: str = "seeds",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    **fit_kwargs: object,
) -> Bootstrap:
    """Exponent of ``y`` vs ``x`` with a bootstrap CI.

    ``y`` has shape (n_seeds, n_points) (a 1-D ``y`` is one seed). The estimate fits the
    geometric mean over seeds. ``over='seeds'`` resamples seeds; ``'points'`` resamples the
    (x, mean y) points; ``'both'`` resamples seeds then points. Non-finite entries (diverged
    runs) are ignored when averaging.
    """
    fitter = {"loglog": fit_loglog, "offset": fit_offset}[method]
    x = np.asarray(x, float)
    y = np.atleast_2d(np.asarray(y, float))
    if y.shape[1] != x.size:
        raise ValueError(f"y must have shape (n_seeds, {x.size}), got {y.shape}")

    def exponent_of(block: np.ndarray, point_idx: np.ndarray | None = None) -> float:
        # a resample may draw only diverged (NaN) replicates at a point: its mean is NaN, which
        # the fit then rejects, without numpy's "Mean of empty slice" warning in the notebook
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            logs = np.where(block > 0, np.log(np.where(block > 0, block, 1.0)), np.nan)
            mean = np.exp(np.nanmean(logs, axis=0))
        xs, ms = (x, mean) if point_idx is None else (x[point_idx], mean[point_idx])
        return fitter(xs, ms, **fit_kwargs).exponent  # type: ignore[arg-type]

    rng = np.random.default_rng(seed + 1)
    if over == "seeds":
        return bootstrap(exponent_of, y, n_boot, level, seed)
    if over == "points":
        est = exponent_of(y)
        stat = lambda idx: exponent_of(y, np.sort(idx.astype(int)))  # noqa: E731
        b = bootstrap(stat, np.arange(x.size), n_boot, level, seed)
        return Bootstrap(est, b.ci_low, b.ci_high, level, b.samples)
    if over == "both":
        est = exponent_of(y)
        samples = []
        for _ in range(n_boot):
            rows = y[rng.integers(0, y.shape[0], y.shape[0])]
            pts = np.sort(rng.integers(0, x.size, x.size))
            try:
                v = exponent_of(rows, pts)
            except (ValueError, RuntimeError):
                continue
            if np.isfinite(v):
                samples.append(v)
        s = np.asarray(samples)
        lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
        return Bootstrap(est, float(lo), float(hi), level, s)
    raise ValueError(f"over must be 'seeds', 'points' or 'both', got {over!r}")
