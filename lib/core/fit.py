"""Power-law fits with honest uncertainty.

Convention: a power law is ``y = c * x**(-a)`` (+ an offset ``E`` where fitted), and ``a`` is
reported as the *exponent* (positive for a decreasing curve), as the papers do (``L ∝ m^{-α_m}``).

- :func:`fit_loglog`: least squares of ``log y`` on ``log x`` (scipy ``linregress``).
- :func:`fit_offset`: ``y = E + c x^{-a}`` by scipy ``least_squares`` on log residuals, with a
  robust loss if asked and several initialisations (offset fits are multi-modal).
- :func:`exponent_interval`: **the book's interval for an exponent**: the mean of per-seed
  exponents with a Student-t interval over seeds (coverage measured in
  ``tests/test_core_interval.py``: 95 % nominal covers 90–99 % of synthetic sweeps shaped like the
  chapters'); :func:`t_interval` is the same interval for any per-seed statistic.
- :func:`bootstrap_exponent`: a percentile bootstrap CI, kept for statistics with no per-seed
  form; with 2–5 seeds it under-covers (75–80 %), so claims use :func:`exponent_interval`.

Bad input is refused with a message, never dropped silently: non-positive values cannot be
fitted in log space (ValueError); non-finite points (diverged runs) are dropped and counted
(``n_dropped``); a fit that ends at a bound of its parameters says so (``at_bound``).
Local exponents and means over seeds are in :mod:`lib.core.report`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

from lib.core.report import geometric_mean


@dataclass(frozen=True)
class PowerLawFit:
    """Result of a power-law fit: y ≈ offset + prefactor * x**(-exponent)."""

    exponent: float
    prefactor: float
    offset: float
    r2: float
    stderr: float
    n: int
    n_dropped: int = 0
    at_bound: str = ""

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.offset + self.prefactor * np.asarray(x, dtype=float) ** (-self.exponent)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval (``None`` when there is none: one seed), how it
    was made, from how many seeds, and whether a fit behind it sits at a parameter bound."""

    estimate: float
    ci_low: float | None
    ci_high: float | None
    level: float
    method: str
    n_seeds: int
    n_dropped: int = 0
    at_bound: str = ""
    per_seed: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "ci_level": self.level, "ci_method": self.method, "n_seeds": self.n_seeds}

    def contains(self, value: float) -> bool:
        return self.ci_low is not None and self.ci_low <= value <= self.ci_high  # type: ignore

    def band(self) -> tuple[float, float] | None:
        """``(ci_low, ci_high)`` for a plot's CI band, or None when there is no interval."""
        return None if self.ci_low is None else (self.ci_low, self.ci_high)  # type: ignore

    def triple(self) -> tuple[float, float, float]:
        """``(estimate, ci_low, ci_high)`` for glued text and tables, NaN where there is no
        interval."""
        nan = float("nan")
        return (self.estimate, nan if self.ci_low is None else self.ci_low,
                nan if self.ci_high is None else self.ci_high)

    @classmethod
    def of(cls, estimate: float, ci_low: float | None, ci_high: float | None, method: str,
           level: float = 0.95, n_seeds: int | None = None) -> Interval:
        """An interval from loose numbers (a bootstrap's, a refit's): an end that is None or
        not finite, or a zero-width or inverted pair, means no interval."""
        ok = (ci_low is not None and ci_high is not None and np.isfinite(ci_low)
              and np.isfinite(ci_high) and ci_high > ci_low)
        low, high = (float(ci_low), float(ci_high)) if ok else (None, None)  # type: ignore
        return cls(float(estimate), low, high, level, method, n_seeds)  # type: ignore[arg-type]

    def claim_fields(self) -> dict[str, object]:
        """The fields :func:`lib.core.claims.decide` takes from an interval."""
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "ci_level": self.level if self.ci_low is not None else None,
                "ci_method": self.method, "n_seeds": self.n_seeds, "at_bound": self.at_bound}


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


def _clean(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Finite points of a log-log fit and how many non-finite ones were dropped. Non-positive
    finite values cannot be logged: they are an error of the caller, not a point to drop."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in shape: {x.shape} vs {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    bad = ok & ((x <= 0) | (y <= 0))
    if bad.any():
        raise ValueError(f"a power-law fit needs x > 0 and y > 0; got {int(bad.sum())} "
                         f"non-positive point(s), e.g. x={x[bad][0]:g}, y={y[bad][0]:g}")
    return x[ok], y[ok], int((~ok).sum())


def r_squared(y: np.ndarray, yhat: np.ndarray) -> float:
    """Coefficient of determination of ``yhat`` for ``y``."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def fit_loglog(x: np.ndarray, y: np.ndarray) -> PowerLawFit:
    """Fit ``log y = log c - a log x`` by ordinary least squares; R² is in log space."""
    x, y, dropped = _clean(x, y)
    if x.size < 3:
        raise ValueError(f"a power-law fit needs at least 3 finite positive points, got {x.size}"
                         " (two points always fit a line exactly)")
    if np.unique(x).size < 2:
        raise ValueError("a power-law fit needs at least 2 distinct x values")
    res = stats.linregress(np.log(x), np.log(y))
    return PowerLawFit(
        exponent=float(-res.slope),
        prefactor=float(np.exp(res.intercept)),
        offset=0.0,
        r2=float(res.rvalue**2),
        stderr=float(res.stderr),
        n=int(x.size),
        n_dropped=dropped,
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
    x, y, dropped = _clean(x, y)
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
    if best is None:
        raise RuntimeError("every start of the offset fit failed")
    log_c, a, e = best.x
    bounds = []
    if a <= 1e-6:
        bounds.append("exponent at 0: the data do not fall")
    if a >= 20.0 - 1e-6:
        bounds.append("exponent at its upper bound 20")
    if e_max > 0 and e >= e_max * (1 - 1e-6):
        bounds.append("offset at min(y): no power-law part left")
    fit = PowerLawFit(float(a), float(np.exp(log_c)), float(e), 0.0, float("nan"), int(x.size))
    r2 = r_squared(ly, np.log(fit.predict(x)))
    return PowerLawFit(fit.exponent, fit.prefactor, fit.offset, r2, float("nan"), fit.n,
                       dropped, "; ".join(bounds))


def half_checkpoint(steps: np.ndarray) -> int:
    """Index of the checkpoint nearest half the last one on a log scale (``steps`` increasing
    and positive): where the convergence test looks back from the end of training."""
    steps = np.asarray(steps, float)
    if steps.size < 2 or np.any(steps <= 0):
        raise ValueError("need ≥2 checkpoints at positive steps")
    half = int(np.argmin(np.abs(np.log(steps) - np.log(steps[-1] / 2))))
    if half == steps.size - 1:
        raise ValueError("no checkpoint before the last: cannot measure a change")
    return half


def last_doubling_change(steps: np.ndarray, values: np.ndarray) -> float:
    """v(S) − v(≈S/2): how much a quantity (an exponent, a loss) changed over the last doubling
    of training steps, taking the checkpoint of :func:`half_checkpoint` (the convergence test)."""
    values = np.asarray(values, float)
    if np.size(steps) != values.size:
        raise ValueError("need one value per checkpoint")
    return float(values[-1] - values[half_checkpoint(steps)])


def t_interval(values: np.ndarray, level: float = 0.95, method: str = "") -> Interval:
    """Mean of per-seed values with a Student-t interval, ``mean ± t_{n−1}·sd/√n``.

    Exact for normal per-seed errors and honest with 2–5 seeds, where a percentile bootstrap is
    not (its quantiles are the extreme seeds). One finite value gives no interval (``None``);
    non-finite values are dropped and counted."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    v = np.asarray(values, dtype=float).ravel()
    finite = v[np.isfinite(v)]
    dropped = int(v.size - finite.size)
    if finite.size == 0:
        return Interval(float("nan"), None, None, level, "no finite value", 0, dropped)
    mean = float(finite.mean())
    n = int(finite.size)
    name = method or f"Student t over {n} seeds"
    if n < 2:
        return Interval(mean, None, None, level, "one seed: no interval", n, dropped,
                        per_seed=tuple(finite))
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * finite.std(ddof=1) / np.sqrt(n))
    if half == 0:  # identical replicates (deterministic): no spread to estimate
        return Interval(mean, None, None, level, f"{n} identical seeds: no interval", n,
                        dropped, per_seed=tuple(finite))
    return Interval(mean, mean - half, mean + half, level, name, n, dropped,
                    per_seed=tuple(finite))


def exponent_interval(
    x: np.ndarray,
    y: np.ndarray,
    method: str = "loglog",
    level: float = 0.95,
    **fit_kwargs: object,
) -> Interval:
    """The exponent of ``y`` vs ``x``: one fit per seed, then :func:`t_interval` over seeds.

    ``y`` has shape (n_seeds, n_points). Points where any seed is non-finite (a diverged run)
    are dropped for every seed so each seed is fitted on the same x; ``n_dropped`` counts them.
    For 'loglog' the estimate equals the slope of the geometric-mean curve. With one seed the
    'loglog' interval is the OLS slope's standard error with ``t_{k−2}`` (point noise only); the
    'offset' form then has none. A per-seed fit at a parameter bound is reported in
    ``at_bound``."""
    fitter = {"loglog": fit_loglog, "offset": fit_offset}.get(method)
    if fitter is None:
        raise ValueError(f"method must be 'loglog' or 'offset', got {method!r}")
    x = np.asarray(x, float).ravel()
    y = np.atleast_2d(np.asarray(y, float))
    if y.ndim != 2 or y.shape[1] != x.size:
        raise ValueError(f"y must have shape (n_seeds, {x.size}), got {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y).all(axis=0)
    dropped = int((~keep).sum())
    xs, ys = x[keep], y[:, keep]
    fits = [fitter(xs, row, **fit_kwargs) for row in ys]  # type: ignore[arg-type]
    bounds = sorted({f.at_bound for f in fits if f.at_bound})
    slopes = np.array([f.exponent for f in fits])
    if len(fits) == 1 and method == "loglog":
        f = fits[0]
        half = float(stats.t.ppf((1 + level) / 2, f.n - 2) * f.stderr)
        if not (np.isfinite(half) and half > 0):
            return Interval(f.exponent, None, None, level, "one seed: no interval", 1, dropped)
        return Interval(f.exponent, f.exponent - half, f.exponent + half, level,
                        f"one seed: OLS slope s.e., t with {f.n - 2} d.o.f.", 1, dropped,
                        per_seed=(f.exponent,))
    iv = t_interval(slopes, level, method=f"Student t over {len(fits)} per-seed {method} fits")
    return Interval(iv.estimate, iv.ci_low, iv.ci_high, level, iv.method, iv.n_seeds,
                    dropped, "; ".join(bounds), iv.per_seed)


def _percentile(estimate: float, samples: list[float], level: float) -> Bootstrap:
    """The percentile interval of the finite bootstrap ``samples`` (NaN when there is none)."""
    s = np.asarray(samples)
    if s.size == 0:
        return Bootstrap(estimate, float("nan"), float("nan"), level, s)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return Bootstrap(estimate, float(lo), float(hi), level, s)


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
    return _percentile(est, samples, level)


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
        # the fit then rejects
        mean = geometric_mean(block, axis=0)
        xs, ms = (x, mean) if point_idx is None else (x[point_idx], mean[point_idx])
        return fitter(xs, ms, **fit_kwargs).exponent  # type: ignore[arg-type]

    rng = np.random.default_rng(seed + 1)
    if over == "seeds":
        if y.shape[0] < 2:
            raise ValueError("a bootstrap over seeds needs at least 2 seeds; with one seed use "
                             "exponent_interval (OLS s.e.) or over='points'")
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
        return _percentile(est, samples, level)
    raise ValueError(f"over must be 'seeds', 'points' or 'both', got {over!r}")
