"""Optimal shape and compute-optimal frontier of the four-term law, derived symbolically and
checked numerically (Liu and Gore, arXiv 2606.25008; algebra re-derived in
``shared/notes/papers.md`` §1).

Both optimisations have the same structure: minimise ``c₁ x^(−a₁) + c₂ y^(−a₂)`` subject to
``x^k₁ y^k₂ = K``:

- **shape**: x = m (width), y = ℓ (depth), with non-embedding parameters ``N = 12 m² ℓ``
  (k₁ = 2, k₂ = 1, K = N/12);
- **frontier**: x = N, y = D at training compute ``C = 6 N D`` (k₁ = k₂ = 1, K = C/6).

In log variables u = log x, v = log y the stationarity condition of the Lagrangian,
``a₁ c₁ e^(−a₁u) / k₁ = a₂ c₂ e^(−a₂v) / k₂``, and the constraint ``k₁u + k₂v = log K`` are
*linear* in (u, v), so sympy solves them exactly for any exponents. The minimum is then an exact
power law in K: ``f* = c_K K^(−a₁a₂/(a₁k₂ + a₂k₁))``. With the universality exponents
(1, 1, 1/3): ``m*/ℓ* = c_m/(2c_ℓ)``, the size terms scale as ``N^(−1/3)``,
``D*/N* = (c_D/c_N)³`` and ``L − E ∝ C^(−1/6)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import sympy as sp
from scipy import optimize

from lib.core.threads import single_blas_thread
from lib.universality.fits import FOUR_TERM_PARAMS, four_term_parts

PARAMS_PER_LAYER_WIDTH2 = 12  # non-embedding parameters N ≈ 12 m² ℓ (attention 4m², MLP 8m²)
FLOP_PER_PARAM_TOKEN = 6  # training compute C ≈ 6 N D


@dataclass(frozen=True)
class TwoTermOptimum:
    """Symbolic minimiser of c1 x^-a1 + c2 y^-a2 subject to x^k1 y^k2 = K."""

    x: sp.Expr  # x*(K)
    y: sp.Expr  # y*(K)
    ratio: sp.Expr  # x*/y*
    value: sp.Expr  # f*(K)
    exponent: sp.Expr  # f* ∝ K^(-exponent)
    coefficient: sp.Expr  # f* = coefficient · K^(-exponent)


c1, c2, a1, a2, k1, k2, K = sp.symbols("c_1 c_2 a_1 a_2 k_1 k_2 K", positive=True)


@cache
def two_term_optimum() -> TwoTermOptimum:
    """Solve the constrained minimum in log variables (the equations are linear there)."""
    u, v = sp.symbols("u v", real=True)
    stationary = sp.Eq(sp.log(a1 * c1 / k1) - a1 * u, sp.log(a2 * c2 / k2) - a2 * v)
    constraint = sp.Eq(k1 * u + k2 * v, sp.log(K))
    sol = sp.solve([stationary, constraint], [u, v], dict=True)[0]
    x, y = sp.exp(sol[u]), sp.exp(sol[v])
    value = c1 * x ** (-a1) + c2 * y ** (-a2)
    exponent = sp.simplify(-sp.diff(sp.expand_log(sp.log(value), force=True), K) * K)
    coefficient = sp.simplify(value * K**exponent)
    return TwoTermOptimum(
        x=sp.simplify(x), y=sp.simplify(y), ratio=sp.simplify(x / y),
        value=sp.simplify(value), exponent=exponent, coefficient=coefficient,
    )


# ---- the two optimisations of the position paper, symbolically ----------------------------

c_m, c_l, c_D, c_N = sp.symbols("c_m c_ell c_D c_N", positive=True)
alpha_m, alpha_l, alpha_D, alpha_N = sp.symbols("alpha_m alpha_ell alpha_D alpha_N",
                                                positive=True)
N, C = sp.symbols("N C", positive=True)


@cache
def derive() -> dict[str, sp.Expr]:
    """Every closed form the chapter uses, general exponents first, then at (1, 1, 1/3).

    Keys: ``shape_ratio`` (m*/ℓ*), ``alpha_N`` (size exponent of the optimally shaped model),
    ``c_N`` (its coefficient), ``gamma`` (frontier exponent, L − E ∝ C^−γ), ``N_star``,
    ``D_star``, ``tokens_per_param`` (D*/N*), each also as ``..._universal``."""
    opt = two_term_optimum()
    shape = {c1: c_m, a1: alpha_m, c2: c_l, a2: alpha_l, k1: 2, k2: 1,
             K: N / PARAMS_PER_LAYER_WIDTH2}
    frontier = {c1: c_N, a1: alpha_N, c2: c_D, a2: alpha_D, k1: 1, k2: 1,
                K: C / FLOP_PER_PARAM_TOKEN}
    out: dict[str, sp.Expr] = {
        "shape_ratio": sp.simplify(opt.ratio.subs(shape)),
        "alpha_N": sp.simplify(opt.exponent.subs(shape)),
        # f* = coefficient · (N/12)^(−α_N) = c_N N^(−α_N)
        "c_N": sp.simplify(opt.coefficient.subs(shape)
                           * PARAMS_PER_LAYER_WIDTH2 ** opt.exponent.subs(shape)),
        "gamma": sp.simplify(opt.exponent.subs(frontier)),
        "N_star": sp.simplify(opt.x.subs(frontier)),
        "D_star": sp.simplify(opt.y.subs(frontier)),
        "tokens_per_param": sp.simplify(1 / opt.ratio.subs(frontier)),
    }
    universal = {alpha_m: 1, alpha_l: 1, alpha_D: sp.Rational(1, 3)}
    out["alpha_N_universal"] = sp.nsimplify(out["alpha_N"].subs(universal))
    uni_N = {**universal, alpha_N: out["alpha_N_universal"]}
    for key in ("shape_ratio", "c_N", "gamma", "N_star", "D_star", "tokens_per_param"):
        out[f"{key}_universal"] = sp.simplify(out[key].subs(uni_N))
    return out


def latex_derivation() -> list[tuple[str, str]]:
    """(left side, LaTeX right side) pairs of the key results, as the chapter prints them."""
    d = derive()
    return [
        (r"\alpha_N", sp.latex(d["alpha_N"])),
        (r"\frac{m^*}{\ell^*}\Big|_{1,1,1/3}", sp.latex(d["shape_ratio_universal"])),
        (r"c_N\Big|_{1,1,1/3}", sp.latex(d["c_N_universal"])),
        (r"\gamma", sp.latex(d["gamma"])),
        (r"\gamma\Big|_{1,1,1/3}", sp.latex(d["gamma_universal"])),
        (r"\frac{D^*}{N^*}\Big|_{1,1,1/3}", sp.latex(d["tokens_per_param_universal"])),
    ]


# ---- the same numbers, as fast numpy functions of fitted parameters -------------------------

_ARGS = (c_m, c_l, c_D, alpha_m, alpha_l, alpha_D, N, C)


@cache
def _lambdas() -> dict[str, object]:
    d = derive()
    subs = {alpha_N: d["alpha_N"], c_N: d["c_N"]}
    names = ("shape_ratio", "alpha_N", "c_N", "gamma", "N_star", "D_star")
    return {k: sp.lambdify(_ARGS, d[k].subs(subs), "numpy") for k in names}


def closed_form(params: Mapping[str, float] | pd.DataFrame, compute: float) -> pd.DataFrame:
    """Optimal shape and compute-optimal allocation at training compute ``compute`` from the
    symbolic closed forms, for one parameter set (a dict) or many (a frame of bootstrap
    samples): one row each, with alpha_N, c_N, gamma, N_star, D_star, tokens_per_param,
    shape_ratio (m*/ℓ* at N*; a constant c_m/(2c_ℓ) when α_m = α_ℓ), m_star, l_star, L_star."""
    frame = pd.DataFrame([params]) if isinstance(params, Mapping) else params
    n_rows = len(frame)
    cols = [frame[k].to_numpy(float) for k in ("c_m", "c_l", "c_D", "alpha_m", "alpha_l",
                                                "alpha_D")]
    f = _lambdas()

    def ev(name: str, n_value: np.ndarray) -> np.ndarray:
        value = f[name](*cols, n_value, np.full(n_rows, float(compute)))
        return np.broadcast_to(np.asarray(value, float), (n_rows,)).copy()

    out = pd.DataFrame({k: ev(k, np.ones(n_rows)) for k in ("alpha_N", "c_N", "gamma",
                                                              "N_star", "D_star")})
    out["tokens_per_param"] = out["D_star"] / out["N_star"]
    out["shape_ratio"] = ev("shape_ratio", out["N_star"].to_numpy())
    r = out["shape_ratio"].to_numpy()
    out["l_star"] = (out["N_star"] / (PARAMS_PER_LAYER_WIDTH2 * r**2)) ** (1 / 3)
    out["m_star"] = r * out["l_star"]
    arrays = {k: frame[k].to_numpy(float) for k in FOUR_TERM_PARAMS}
    parts = four_term_parts(arrays, out["m_star"].to_numpy(), out["l_star"].to_numpy(),
                            out["D_star"].to_numpy())
    out["L_star"] = arrays["E"] + sum(np.asarray(v) for v in parts.values())
    return out


def numeric_optimum(params: Mapping[str, float], compute: float) -> dict[str, float]:
    """Minimise the fitted four-term law directly over (m, ℓ) with N = 12 m²ℓ and
    D = C/(6N), by scipy (Nelder–Mead then L-BFGS-B in log m, log ℓ): the check on
    :func:`closed_form`."""
    p = params

    def loss(z: np.ndarray) -> float:
        m, l = np.exp(z)  # noqa: E741
        n = PARAMS_PER_LAYER_WIDTH2 * m**2 * l
        d = compute / (FLOP_PER_PARAM_TOKEN * n)
        return float(p["c_m"] * m ** -p["alpha_m"] + p["c_l"] * l ** -p["alpha_l"]
                     + p["c_D"] * d ** -p["alpha_D"])

    guess = closed_form(p, compute).iloc[0]
    # start far from the closed form (a 10× wider, 10× shallower model) so the check means
    # something, then polish
    z0 = np.log([guess["m_star"] * 10.0, guess["l_star"] / 10.0])
    with single_blas_thread():
        sol = optimize.minimize(loss, z0, method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
        sol = optimize.minimize(loss, sol.x, method="L-BFGS-B", options={"gtol": 1e-12})
    m, l = np.exp(sol.x)  # noqa: E741
    n = PARAMS_PER_LAYER_WIDTH2 * m**2 * l
    return {"m_star": float(m), "l_star": float(l), "shape_ratio": float(m / l),
            "N_star": float(n), "D_star": float(compute / (FLOP_PER_PARAM_TOKEN * n)),
            "L_star": float(p["E"] + sol.fun)}


def shape_excess(params: Mapping[str, float], m, l) -> np.ndarray:  # noqa: E741
    """Extra loss (nats) of shape (m, ℓ) over the optimal shape with the same N = 12 m²ℓ."""
    m, l = np.asarray(m, float), np.asarray(l, float)  # noqa: E741
    n = PARAMS_PER_LAYER_WIDTH2 * m**2 * l
    f = _lambdas()
    args = [params[k] for k in ("c_m", "c_l", "c_D", "alpha_m", "alpha_l", "alpha_D")]
    c_n, a_n = f["c_N"](*args, 1.0, 1.0), f["alpha_N"](*args, 1.0, 1.0)
    actual = params["c_m"] * m ** -params["alpha_m"] + params["c_l"] * l ** -params["alpha_l"]
    return actual - c_n * n ** (-a_n)
