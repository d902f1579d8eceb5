"""Scaling-law fits to the Chinchilla final losses.

Two functional forms, both fitted to the shipped file ``data/chinchilla_losses_with_shapes.csv``
(245 Chinchilla runs of Hoffmann et al. 2022, Fig. 4, as extracted by Besiroglu et al. 2024, joined
with each model's width and depth by Liu et al. 2026, arXiv 2602.05970; see ``data/README.md``):

- :func:`fit_four_term`: the width/depth/data law of Liu et al. (DepthScaling ``Scaling/fit-5``)
  and of the universality position paper (Liu and Gore, arXiv 2606.25008)::

      L = c_m m^(-α_m) + c_ℓ ℓ^(-α_ℓ) + c_D D^(-α_D) + E

  with m = ``d_model``, ℓ = ``n_layers`` and D = ``num_tokens``, fitted by least squares on
  ``log L`` (the authors' objective), exponents free or fixed (universality: 1, 1, 1/3).
- :func:`fit_chinchilla`: Hoffmann et al.'s Eq. 2, ``L = E + A/N^α + B/D^β``, fitted the way
  Besiroglu et al. (Epoch AI) refitted it: ``log L ≈ LSE(a − α log N, b − β log D, e)`` with a
  Huber loss (δ = 1e-3) summed over points, L-BFGS-B from a grid of 4,500 initialisations.

**Units.** Coefficients are reported in natural units: m in model dimensions, ℓ in layers, D in
tokens, N in parameters, so that ``m*/ℓ* = c_m / (2 c_ℓ)`` holds as written. The authors fitted
with ℓ·100 and D/10⁶; :meth:`FourTermResult.authors_units` converts
(``c_ℓ' = c_ℓ·100^α_ℓ``, ``c_D' = c_D·10^(−6 α_D)``). Internally every term is parametrised at the
geometric mean of its variable, ``t_k = exp(a_k − α_k (log x_k − log x̄_k))``, which decorrelates
amplitude and exponent and makes the least-squares problem well conditioned.

**Excluding high losses.** The authors drop the runs whose loss is not strictly below the
``k``-th highest loss (:func:`keep_mask`). The losses were read from the colour of each point in
Chinchilla's figure, so they are quantised (99 distinct values in 245 rows) and ties at the
threshold are dropped too: ``k = 5`` keeps 240 points (Epoch's fit), ``k = 40`` keeps 203 (the
40th-highest loss, 2.9987, is shared by three runs).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from lib.core.results import REPO_ROOT
from lib.core.threads import single_blas_thread

DATA_FILE = REPO_ROOT / "data" / "chinchilla_losses_with_shapes.csv"
COLUMNS = ("model_size", "FLOP", "loss", "num_tokens", "d_model", "n_layers")

EXPONENTS = ("alpha_m", "alpha_l", "alpha_D")
COEFFICIENTS = ("c_m", "c_l", "c_D")
FOUR_TERM_PARAMS = EXPONENTS + COEFFICIENTS + ("E",)
UNIVERSAL_EXPONENTS = {"alpha_m": 1.0, "alpha_l": 1.0, "alpha_D": 1.0 / 3.0}
#: The range the four-term fitter allows a free exponent (:meth:`_FourTermProblem.bounds`).
EXPONENT_BOUNDS = (0.0, 5.0)
CHINCHILLA_PARAMS = ("E", "A", "B", "alpha", "beta")

# Published fits (values as printed; standard errors in the second dict where given).
HOFFMANN_2022 = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Approach 3 fit
EPOCH_2024 = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
EPOCH_2024_SE = {"E": 0.03, "A": 124.58, "B": 1293.23, "alpha": 0.02, "beta": 0.02}
# DepthScaling Scaling/fit-5.ipynb (40 highest losses excluded; Jacobian SEs; c_ℓ in ℓ·100 units,
# c_D in D/1e6 units: the authors' units, see FourTermResult.authors_units).
LIU_DEPTH_FIT5 = {"alpha_m": 0.977, "alpha_l": 1.201, "alpha_D": 0.299, "E": 1.750,
                  "c_m": 333.4, "c_l": 1284.0, "c_D": 8.487}
LIU_DEPTH_FIT5_SE = {"alpha_m": 0.083, "alpha_l": 0.269, "alpha_D": 0.014, "E": 0.026}


def load_chinchilla() -> pd.DataFrame:
    """The 245 Chinchilla runs: model_size, FLOP, loss, num_tokens, d_model, n_layers."""
    frame = pd.read_csv(DATA_FILE)
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{DATA_FILE} lacks columns {sorted(missing)}")
    return frame[list(COLUMNS)].astype(float)


def keep_mask(loss: np.ndarray, exclude_top: int) -> np.ndarray:
    """True for the runs the authors keep: loss strictly below the ``exclude_top``-th highest
    loss (ties at the threshold are dropped as well). ``exclude_top = 0`` keeps everything."""
    loss = np.asarray(loss, float)
    if exclude_top < 0 or exclude_top > loss.size:
        raise ValueError(f"exclude_top must be in [0, {loss.size}], got {exclude_top}")
    if exclude_top == 0:
        return np.ones(loss.size, bool)
    threshold = np.sort(loss)[-exclude_top]
    return loss < threshold


def _one_blas_thread(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_blas_thread():
            return fn(*args, **kwargs)

    return wrapper


# ---- the four-term width/depth/data law --------------------------------------------------------


def four_term_loss(params: Mapping[str, float], m, l, D) -> np.ndarray:  # noqa: E741
    """``E + c_m m^-α_m + c_ℓ ℓ^-α_ℓ + c_D D^-α_D`` in natural units (broadcasts)."""
    return params["E"] + sum(four_term_parts(params, m, l, D).values())


def four_term_parts(params: Mapping[str, float], m, l, D) -> dict[str, np.ndarray]:  # noqa: E741
    """The width, depth and data terms of the four-term law, separately (nats)."""
    return {
        "width": params["c_m"] * np.asarray(m, float) ** (-params["alpha_m"]),
        "depth": params["c_l"] * np.asarray(l, float) ** (-params["alpha_l"]),
        "data": params["c_D"] * np.asarray(D, float) ** (-params["alpha_D"]),
    }


@dataclass(frozen=True)
class FourTermResult:
    """A four-term fit: estimates with percentile-bootstrap CIs (``ci_level``), Jacobian
    standard errors, and residual statistics on the points fitted."""

    estimate: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    stderr: dict[str, float]
    fixed: dict[str, float]  # exponents held fixed (empty: all free)
    n_points: int
    exclude_top: int
    rmse_log: float  # sqrt(mean (log L - log L̂)²)
    mean_rel_residual: float  # mean |L - L̂| / L
    max_rel_residual: float
    cost: float  # ½ Σ (log L - log L̂)²
    n_boot: int  # successful bootstrap refits
    ci_level: float = 0.95
    samples: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def n_free(self) -> int:
        return len(FOUR_TERM_PARAMS) - len(self.fixed)

    def predict(self, m, l, D) -> np.ndarray:  # noqa: E741
        return four_term_loss(self.estimate, m, l, D)

    def parts(self, m, l, D) -> dict[str, np.ndarray]:  # noqa: E741
        return four_term_parts(self.estimate, m, l, D)

    def authors_units(self, params: Mapping[str, float] | None = None) -> dict[str, float]:
        """Coefficients in the DepthScaling units (ℓ·100, D/10⁶): comparable with fit-5."""
        p = dict(self.estimate if params is None else params)
        p["c_l"] = p["c_l"] * 100.0 ** p["alpha_l"]
        p["c_D"] = p["c_D"] * 1e6 ** (-p["alpha_D"])
        return p

    def table(self) -> pd.DataFrame:
        """One row per parameter: estimate, CI, Jacobian SE, and whether it was fixed."""
        return pd.DataFrame(
            {
                "parameter": list(FOUR_TERM_PARAMS),
                "estimate": [self.estimate[k] for k in FOUR_TERM_PARAMS],
                "ci_low": [self.ci_low[k] for k in FOUR_TERM_PARAMS],
                "ci_high": [self.ci_high[k] for k in FOUR_TERM_PARAMS],
                "stderr": [self.stderr[k] for k in FOUR_TERM_PARAMS],
                "fixed": [k in self.fixed for k in FOUR_TERM_PARAMS],
            }
        )


def _fixed_exponents(exponents: Mapping[str, float] | Sequence[float | None] | None
                     ) -> dict[str, float]:
    """Normalise ``exponents`` (None, a dict over EXPONENTS, or a 3-tuple with None = free)."""
    if exponents is None:
        return {}
    if isinstance(exponents, Mapping):
        unknown = set(exponents) - set(EXPONENTS)
        if unknown:
            raise ValueError(f"unknown exponent names {sorted(unknown)}; use {EXPONENTS}")
        items = dict(exponents)
    else:
        if len(exponents) != 3:
            raise ValueError(f"exponents must have 3 entries (α_m, α_ℓ, α_D), got {exponents}")
        items = dict(zip(EXPONENTS, exponents, strict=True))
    fixed = {k: float(v) for k, v in items.items() if v is not None}
    for k, v in fixed.items():
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"fixed exponent {k} = {v} must be finite and >= 0")
    return fixed


class _FourTermProblem:
    """Least squares on log L with per-term amplitudes at the data's geometric means."""

    def __init__(self, logx: np.ndarray, loss: np.ndarray, fixed: Mapping[str, float]) -> None:
        self.logx = logx  # (3, n): log m, log ℓ, log D
        self.logy = np.log(loss)  # (n,)
        self.ref = logx.mean(axis=1)  # (3,)
        self.z = logx - self.ref[:, None]  # (3, n) centred logs
        self.free = np.array([k not in fixed for k in EXPONENTS])  # (3,)
        self.alpha_fixed = np.array([fixed.get(k, np.nan) for k in EXPONENTS])
        self.e_max = 0.999 * float(loss.min())

    # θ = [a_m, a_ℓ, a_D, (free α's), E]
    def alphas(self, theta: np.ndarray) -> np.ndarray:
        alpha = self.alpha_fixed.copy()
        alpha[self.free] = theta[3:3 + self.free.sum()]
        return alpha

    def terms(self, theta: np.ndarray) -> np.ndarray:
        return np.exp(theta[:3, None] - self.alphas(theta)[:, None] * self.z)  # (3, n)

    def residual(self, theta: np.ndarray) -> np.ndarray:
        return np.log(theta[-1] + self.terms(theta).sum(axis=0)) - self.logy

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        t = self.terms(theta)  # (3, n)
        pred = theta[-1] + t.sum(axis=0)  # (n,)
        cols = [t / pred, (-self.z * t / pred)[self.free], (1.0 / pred)[None]]
        return np.concatenate(cols, axis=0).T  # (n, p)

    def to_theta(self, p: Mapping[str, float]) -> np.ndarray:
        alpha = np.array([p[k] for k in EXPONENTS])
        a = np.log([p[k] for k in COEFFICIENTS]) - alpha * self.ref
        return np.concatenate([a, alpha[self.free], [min(p["E"], self.e_max * 0.999)]])

    def to_params(self, theta: np.ndarray) -> dict[str, float]:
        alpha = self.alphas(theta)
        c = np.exp(theta[:3] + alpha * self.ref)
        out = {k: float(v) for k, v in zip(EXPONENTS, alpha, strict=True)}
        out.update({k: float(v) for k, v in zip(COEFFICIENTS, c, strict=True)})
        out["E"] = float(theta[-1])
        return out

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        k = int(self.free.sum())
        lo = np.r_[[-30.0] * 3, [EXPONENT_BOUNDS[0]] * k, 0.0]
        hi = np.r_[[10.0] * 3, [EXPONENT_BOUNDS[1]] * k, self.e_max]
        return lo, hi

    def solve(self, start: np.ndarray) -> optimize.OptimizeResult:
        lo, hi = self.bounds()
        x0 = np.clip(start, lo + 1e-9, hi - 1e-9)
        return optimize.least_squares(self.residual, x0, jac=self.jacobian, bounds=(lo, hi),
                                      method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12,
                                      gtol=1e-12, max_nfev=2000)

    def grid_starts(self) -> list[np.ndarray]:
        """Exponent and offset guesses around the expected values, the excess loss split evenly
        over the terms (on the Chinchilla data, for any exclusion from 0 to 100 runs, all 54
        starts of a 3×3×3×2 grid reached the same minimum, so 16 suffice)."""
        y = np.exp(self.logy)
        grids = [(0.5, 1.5), (0.5, 1.5), (0.2, 0.5)]
        alpha_sets = itertools.product(*[g if f else (np.nan,) for g, f in zip(grids, self.free,
                                                                                strict=True)])
        starts = []
        for alphas in alpha_sets:
            free_alphas = [a for a in alphas if np.isfinite(a)]
            for frac in (0.5, 0.9):
                e0 = frac * self.e_max
                a0 = np.log(max(np.median(y) - e0, 1e-6) / 3.0)
                starts.append(np.r_[[a0] * 3, free_alphas, e0])
        return starts

    def stderr(self, theta: np.ndarray, cost: float) -> dict[str, float]:
        """Jacobian standard errors (σ² (JᵀJ)⁻¹, delta method to natural units)."""
        J = self.jacobian(theta)
        n, p = J.shape
        names = list(FOUR_TERM_PARAMS)
        out = {k: 0.0 for k in names}
        if n <= p:
            return {k: float("nan") for k in names}
        cov = (2.0 * cost / (n - p)) * np.linalg.pinv(J.T @ J)
        # natural params as functions of θ: α (free ones), c_k = exp(a_k + α_k ref_k), E
        alpha = self.alphas(theta)
        c = np.exp(theta[:3] + alpha * self.ref)
        G = np.zeros((7, p))  # d(natural)/dθ, rows in FOUR_TERM_PARAMS order
        free_idx = np.flatnonzero(self.free)
        for j, k in enumerate(free_idx):
            G[k, 3 + j] = 1.0  # α_k
            G[3 + k, 3 + j] = c[k] * self.ref[k]  # dc_k/dα_k
        for k in range(3):
            G[3 + k, k] = c[k]  # dc_k/da_k
        G[6, p - 1] = 1.0
        var = np.einsum("ip,pq,iq->i", G, cov, G)
        for i, k in enumerate(names):
            out[k] = float(np.sqrt(var[i])) if var[i] > 0 else 0.0
        return out


def exponent_at_bound(value: float, name: str = "exponent", slack: float = 0.01) -> str:
    """'' when a free exponent lies inside the fitter's range, else a text saying which bound it
    sits at (then the fit did not identify it: no estimate to judge)."""
    lo, hi = EXPONENT_BOUNDS
    if not np.isfinite(value):
        return ""
    if value <= lo + slack:
        return f"{name} = {value:.3g} at the lower bound {lo:g} of the fitter's range"
    if value >= hi - slack:
        return f"{name} = {value:.3g} at the upper bound {hi:g} of the fitter's range"
    return ""


def _frame_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    logx = np.log(frame[["d_model", "n_layers", "num_tokens"]].to_numpy(float).T)  # (3, n)
    return logx, frame["loss"].to_numpy(float)


def _solve_best(problem: _FourTermProblem, starts: Sequence[np.ndarray]
                ) -> optimize.OptimizeResult:
    best = None
    for s in starts:
        sol = problem.solve(s)
        if best is None or sol.cost < best.cost:
            best = sol
    assert best is not None
    return best


def _residual_stats(problem: _FourTermProblem, theta: np.ndarray) -> dict[str, float]:
    r = problem.residual(theta)
    y = np.exp(problem.logy)
    rel = np.abs(y - np.exp(problem.logy + r)) / y
    return {"rmse_log": float(np.sqrt(np.mean(r**2))), "mean_rel_residual": float(rel.mean()),
            "max_rel_residual": float(rel.max()), "cost": float(0.5 * np.sum(r**2))}


@_one_blas_thread
def fit_four_term_points(
    frame: pd.DataFrame,
    exponents: Mapping[str, float] | Sequence[float | None] | None = None,
    start: Mapping[str, float] | None = None,
) -> tuple[dict[str, float], float]:
    """One fit of the four-term law to every row of ``frame`` (no exclusion, no bootstrap).
    Returns the natural-unit parameters and the cost ½Σ(log-residual)². ``start`` warm-starts
    a single local solve; otherwise a grid of starts is tried and the best kept."""
    fixed = _fixed_exponents(exponents)
    logx, loss = _frame_arrays(frame)
    n_params = 7 - len(fixed)
    if loss.size <= n_params:
        raise ValueError(f"the four-term fit has {n_params} free parameters and needs more "
                         f"points than that; got {loss.size}")
    problem = _FourTermProblem(logx, loss, fixed)
    starts = [problem.to_theta({**start, **fixed})] if start else problem.grid_starts()
    sol = _solve_best(problem, starts)
    return problem.to_params(sol.x), float(sol.cost)


@_one_blas_thread
def fit_four_term(
    frame: pd.DataFrame,
    exponents: Mapping[str, float] | Sequence[float | None] | None = None,
    exclude_top: int = 40,
    n_boot: int = 200,
    seed: int = 0,
    ci_level: float = 0.95,
) -> FourTermResult:
    """Fit ``L = c_m m^-α_m + c_ℓ ℓ^-α_ℓ + c_D D^-α_D + E`` to the Chinchilla runs.

    ``frame`` has columns d_model, n_layers, num_tokens, loss (:func:`load_chinchilla`).
    ``exponents``: None (all free), or a dict over ``alpha_m``, ``alpha_l``, ``alpha_D`` (any
    subset) or a 3-tuple (None = free) of exponents to hold fixed, e.g. ``(1, 1, 1/3)``.
    ``exclude_top``: drop the highest-loss runs as the authors did (:func:`keep_mask`).
    Least squares on log L (the authors' objective) from a grid of starts; CIs are percentile
    bootstraps over points (``n_boot`` resamples, each refitted from the full-data estimate).
    """
    fixed = _fixed_exponents(exponents)
    kept = frame[keep_mask(frame["loss"].to_numpy(float), exclude_top)]
    logx, loss = _frame_arrays(kept)
    n_params = 7 - len(fixed)
    if loss.size <= n_params:
        raise ValueError(f"after excluding {exclude_top} runs, {loss.size} points remain; the "
                         f"four-term fit needs more than {n_params}")
    problem = _FourTermProblem(logx, loss, fixed)
    sol = _solve_best(problem, problem.grid_starts())
    estimate = problem.to_params(sol.x)
    stats = _residual_stats(problem, sol.x)

    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_boot):
        idx = rng.integers(0, loss.size, loss.size)
        sub = _FourTermProblem(logx[:, idx], loss[idx], fixed)
        try:
            bsol = sub.solve(sub.to_theta(estimate))
        except ValueError:
            continue
        if bsol.status > 0 and np.all(np.isfinite(bsol.x)):
            rows.append(sub.to_params(bsol.x))
    samples = pd.DataFrame(rows, columns=list(FOUR_TERM_PARAMS))
    q = ((1 - ci_level) / 2, (1 + ci_level) / 2)
    if len(samples) >= 2:
        lo = {k: float(samples[k].quantile(q[0])) for k in FOUR_TERM_PARAMS}
        hi = {k: float(samples[k].quantile(q[1])) for k in FOUR_TERM_PARAMS}
    else:
        lo = {k: float("nan") for k in FOUR_TERM_PARAMS}
        hi = dict(lo)
    for k, v in fixed.items():
        lo[k] = hi[k] = v
    return FourTermResult(
        estimate=estimate, ci_low=lo, ci_high=hi, stderr=problem.stderr(sol.x, sol.cost),
        fixed=fixed, n_points=int(loss.size), exclude_top=exclude_top, n_boot=len(samples),
        ci_level=ci_level, samples=samples, **stats,
    )


@_one_blas_thread
def held_out_validation(
    frame: pd.DataFrame,
    models: Mapping[str, Mapping[str, float] | Sequence[float | None] | None],
    exclude_top: int = 40,
    n_splits: int = 20,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """Fit each named model (``{"free": None, "universal": (1, 1, 1/3)}``) on the same random
    train/test splits of the kept runs (as the authors' ``held_out_validation.py``); one row per
    (split, model) with train and test mean squared log-residual and mean relative error."""
    kept = frame[keep_mask(frame["loss"].to_numpy(float), exclude_top)].reset_index(drop=True)
    n_test = int(round(test_fraction * len(kept)))
    if n_test < 1 or len(kept) - n_test < 8:
        raise ValueError(f"test_fraction={test_fraction} leaves too few train or test points "
                         f"out of {len(kept)}")
    rng = np.random.default_rng(seed)
    rows = []
    for split in range(n_splits):
        perm = rng.permutation(len(kept))
        test, train = kept.iloc[perm[:n_test]], kept.iloc[perm[n_test:]]
        for name, exps in models.items():
            params, _ = fit_four_term_points(train, exps)
            row = {"split": split, "model": name}
            for part, sub in (("train", train), ("test", test)):
                pred = four_term_loss(params, sub["d_model"], sub["n_layers"], sub["num_tokens"])
                y = sub["loss"].to_numpy(float)
                row[f"{part}_mse_log"] = float(np.mean((np.log(y) - np.log(pred)) ** 2))
                row[f"{part}_rel_error"] = float(np.mean(np.abs(y - pred) / y))
            rows.append(row)
    return pd.DataFrame(rows)


@_one_blas_thread
def exclusion_scan(
    frame: pd.DataFrame,
    excludes: Sequence[int],
    exponents: Mapping[str, float] | Sequence[float | None] | None = None,
    n_boot: int = 50,
    seed: int = 0,
) -> pd.DataFrame:
    """Refit for each number of excluded highest-loss runs (the authors' ``scanignore.py``):
    one row per ``exclude_top`` with the kept count and every parameter's estimate and CI."""
    rows = []
    for k in excludes:
        res = fit_four_term(frame, exponents, exclude_top=int(k), n_boot=n_boot, seed=seed)
        row: dict[str, float] = {"exclude_top": int(k), "n_points": res.n_points,
                                 "rmse_log": res.rmse_log}
        for p in FOUR_TERM_PARAMS:
            row[p] = res.estimate[p]
            row[f"{p}_lo"] = res.ci_low[p]
            row[f"{p}_hi"] = res.ci_high[p]
            row[f"{p}_se"] = res.stderr[p]
        rows.append(row)
    return pd.DataFrame(rows)


# ---- Hoffmann et al.'s form, refitted the Epoch AI way --------------------------------------


def _huber(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss of ``r`` and its derivative."""
    a = np.abs(r)
    small = a <= delta
    loss = np.where(small, 0.5 * r**2, delta * (a - 0.5 * delta))
    grad = np.where(small, r, delta * np.sign(r))
    return loss, grad


def chinchilla_objective(theta: np.ndarray, logn: np.ndarray, logd: np.ndarray,
                         logy: np.ndarray, delta: float = 1e-3) -> tuple[float, np.ndarray]:
    """Σ Huber_δ(LSE(a − α log N, b − β log D, e) − log L) and its gradient in
    θ = (a, b, e, α, β) (Besiroglu et al. 2024, Eq. 2)."""
    a, b, e, alpha, beta = theta
    z = np.stack([a - alpha * logn, b - beta * logd, np.full_like(logn, e)])  # (3, n)
    zmax = z.max(axis=0)
    w = np.exp(z - zmax)  # (3, n)
    s = w.sum(axis=0)
    lse = zmax + np.log(s)
    loss, g = _huber(lse - logy, delta)
    p = w / s  # softmax weights, (3, n)
    grad = np.array([
        np.sum(g * p[0]), np.sum(g * p[1]), np.sum(g * p[2]),
        -np.sum(g * p[0] * logn), -np.sum(g * p[1] * logd),
    ])
    return float(loss.sum()), grad


def epoch_grid(kind: str = "epoch") -> np.ndarray:
    """Initialisations (a, b, e, α, β). 'epoch': Epoch's full grid, a, b ∈ {0, 5, …, 25},
    e ∈ {−1, −.5, …, 1}, α, β ∈ {0, .5, …, 2} (4,500 starts); 'coarse': a, b ∈ {0, 10, 20},
    e ∈ {−1, 0.5}, α, β ∈ {0, 0.5, 1} (162 starts, for quick runs)."""
    if kind == "epoch":
        ab, es, exps = np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5), np.arange(0, 2.5, 0.5)
    elif kind == "coarse":
        ab, es, exps = np.array([0.0, 10.0, 20.0]), np.array([-1.0, 0.5]), np.array([0, 0.5, 1])
    else:
        raise ValueError(f"grid must be 'epoch' or 'coarse', got {kind!r}")
    return np.array(list(itertools.product(ab, ab, es, exps, exps)), float)


@dataclass(frozen=True)
class ChinchillaResult:
    """Refit of ``L = E + A/N^α + B/D^β``: estimates, percentile CIs, bootstrap SDs."""

    estimate: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    boot_sd: dict[str, float]
    n_points: int
    exclude_top: int
    n_starts: int
    n_starts_at_best: int  # starts that ended within 0.1% of the best objective
    objective: float
    n_boot: int
    ci_level: float = 0.95
    samples: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def predict(self, N, D) -> np.ndarray:
        p = self.estimate
        return p["E"] + p["A"] * np.asarray(N, float) ** (-p["alpha"]) + p["B"] * np.asarray(
            D, float) ** (-p["beta"])


def _chinchilla_natural(theta: np.ndarray) -> dict[str, float]:
    a, b, e, alpha, beta = theta
    return {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)),
            "alpha": float(alpha), "beta": float(beta)}


def _lbfgs(theta0: np.ndarray, args: tuple, polish: bool = False) -> optimize.OptimizeResult:
    """L-BFGS-B with scipy's default tolerances (as Epoch ran it); ``polish`` tightens them."""
    options = {"maxiter": 5000, "gtol": 1e-10, "ftol": 1e-15} if polish else {}
    return optimize.minimize(chinchilla_objective, theta0, args=args, jac=True,
                             method="L-BFGS-B", options=options)


@_one_blas_thread
def fit_chinchilla(
    frame: pd.DataFrame,
    exclude_top: int = 5,
    grid: str = "epoch",
    n_boot: int = 200,
    delta: float = 1e-3,
    seed: int = 0,
    ci_level: float = 0.95,
) -> ChinchillaResult:
    """Hoffmann et al.'s ``L = E + A/N^α + B/D^β`` fitted as Besiroglu et al. (2024) did:
    the 5 highest-loss runs dropped (240 kept), Huber (δ = 1e-3) on log L of the LSE form,
    L-BFGS-B from every start of :func:`epoch_grid`, best objective kept. The bootstrap
    resamples points and refits from the full-data optimum (Epoch started theirs from
    Hoffmann's values); CIs are percentiles, ``boot_sd`` the standard deviations Epoch report."""
    kept = frame[keep_mask(frame["loss"].to_numpy(float), exclude_top)]
    if len(kept) <= 5:
        raise ValueError(f"{len(kept)} points remain; the Chinchilla form has 5 parameters")
    logn = np.log(kept["model_size"].to_numpy(float))
    logd = np.log(kept["num_tokens"].to_numpy(float))
    logy = np.log(kept["loss"].to_numpy(float))
    args = (logn, logd, logy, delta)
    starts = epoch_grid(grid)
    best, objectives = None, []
    for s in starts:
        sol = _lbfgs(s, args)
        objectives.append(sol.fun if np.isfinite(sol.fun) else np.inf)
        if np.isfinite(sol.fun) and (best is None or sol.fun < best.fun):
            best = sol
    assert best is not None
    polished = _lbfgs(best.x, args, polish=True)
    best = polished if polished.fun <= best.fun else best
    n_best = int(np.sum(np.asarray(objectives) <= best.fun * (1 + 1e-3)))
    estimate = _chinchilla_natural(best.x)

    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_boot):
        idx = rng.integers(0, logy.size, logy.size)
        sol = _lbfgs(best.x, (logn[idx], logd[idx], logy[idx], delta), polish=True)
        if np.all(np.isfinite(sol.x)):
            rows.append(_chinchilla_natural(sol.x))
    samples = pd.DataFrame(rows, columns=list(CHINCHILLA_PARAMS))
    q = ((1 - ci_level) / 2, (1 + ci_level) / 2)
    nan = float("nan")
    enough = len(samples) >= 2
    lo = {k: float(samples[k].quantile(q[0])) if enough else nan for k in CHINCHILLA_PARAMS}
    hi = {k: float(samples[k].quantile(q[1])) if enough else nan for k in CHINCHILLA_PARAMS}
    sd = {k: float(samples[k].std()) if enough else nan for k in CHINCHILLA_PARAMS}
    return ChinchillaResult(
        estimate=estimate, ci_low=lo, ci_high=hi, boot_sd=sd, n_points=int(logy.size),
        exclude_top=exclude_top, n_starts=len(starts), n_starts_at_best=n_best,
        objective=float(best.fun),
        n_boot=len(samples), ci_level=ci_level, samples=samples,
    )


def nested_f_test(restricted: FourTermResult, full: FourTermResult) -> tuple[float, float]:
    """F statistic and p-value for freeing the exponents that ``restricted`` holds fixed, on
    the same points (least squares on log L). Assumes independent Gaussian log-residuals, which
    quantised losses and repeated model shapes do not quite satisfy: read it with the
    held-out comparison beside it."""
    from scipy import stats

    if restricted.n_points != full.n_points or restricted.exclude_top != full.exclude_top:
        raise ValueError("the two fits must use the same points")
    extra = full.n_free - restricted.n_free
    dof = full.n_points - full.n_free
    if extra <= 0 or dof <= 0:
        raise ValueError("the full model must have more free parameters than the restricted")
    rss_r, rss_f = 2 * restricted.cost, 2 * full.cost
    f_stat = ((rss_r - rss_f) / extra) / (rss_f / dof)
    return float(f_stat), float(stats.f.sf(f_stat, extra, dof))
