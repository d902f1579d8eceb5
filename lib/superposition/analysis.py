"""From trained sweeps to tables and exponents: final losses, φ_{1/2}, overlaps, width
exponents with a bootstrap over seeds, local slopes, and the (γ, α) phase-diagram fits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lib.core.fit import Bootstrap, bootstrap_exponent, fit_loglog, local_slopes
from lib.superposition.sweep import SweepResult, member_p
from lib.superposition.theory import mean_squared_overlap, phi_half, row_norms, weak_loss


def law_name(law: str, alpha: float, scale: float) -> str:
    """A short label for a frequency law, e.g. 'power α=1.2', 'exponential', 'linear'."""
    if law == "power":
        return f"power α={alpha:g}"
    return law


def results_frame(results: Sequence[SweepResult], n: int, overlaps: bool = False) -> pd.DataFrame:
    """One row per member: law, α, γ, width, seed, final loss (NaN if diverged), φ_{1/2},
    the weak-regime prediction at the measured φ_{1/2} and, if asked, the mean squared
    overlap of represented rows."""
    rows = []
    for r in results:
        mem = r.member
        phi = phi_half(r.W)
        norms = row_norms(r.W)
        p = member_p(mem, n)
        row = {
            "law": law_name(mem.law, mem.alpha, mem.scale),
            "alpha": mem.alpha if mem.law == "power" else float("nan"),
            "gamma": mem.gamma,
            "width": mem.width,
            "seed": mem.seed,
            "final_loss": r.final_loss,
            "finite": r.finite,
            "phi_half": phi,
            "n_represented": int(round(phi * n)),
            "mean_represented_norm": float(norms[norms > 0.5].mean()) if phi > 0 else float("nan"),
            "weak_prediction": weak_loss(p, phi * n, exact=False),
            "weak_prediction_exact": weak_loss(p, phi * n, exact=True),
        }
        if overlaps:
            row["mean_sq_overlap"] = mean_squared_overlap(r.W)
        rows.append(row)
    return pd.DataFrame(rows)


def loss_matrix(frame: pd.DataFrame, value: str = "final_loss") -> tuple[np.ndarray, np.ndarray]:
    """(widths, values) with values of shape (n_seeds, n_widths) for one group of a frame."""
    table = frame.pivot_table(index="seed", columns="width", values=value, aggfunc="mean",
                              dropna=False)
    return table.columns.to_numpy(dtype=float), table.to_numpy(dtype=float)


def width_exponent(frame: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                   min_width: int = 0) -> tuple[Bootstrap, float]:
    """Exponent of ``L ∝ m^{-α_m}`` for one group (log-log OLS on the geometric mean over
    seeds), a percentile bootstrap CI over seeds, and the R² of the point fit. Widths below
    ``min_width`` are left out (as the authors do for m < 32 at n = 10240)."""
    sub = frame[frame["width"] >= min_width]
    x, y = loss_matrix(sub)
    boot = bootstrap_exponent(x, y, over="seeds", n_boot=n_boot, seed=seed)
    gm = np.exp(np.nanmean(np.log(np.where(y > 0, y, np.nan)), axis=0))
    ok = np.isfinite(gm)
    r2 = fit_loglog(x[ok], gm[ok]).r2 if ok.sum() >= 2 else float("nan")
    return boot, r2


def local_slope_frame(frame: pd.DataFrame, group: str = "law") -> pd.DataFrame:
    """Local exponents between neighbouring widths of each group (geometric mean over seeds)."""
    out = []
    for name, sub in frame.groupby(group, sort=False):
        x, y = loss_matrix(sub)
        gm = np.exp(np.nanmean(np.log(np.where(y > 0, y, np.nan)), axis=0))
        ok = np.isfinite(gm)
        if ok.sum() < 2:
            continue
        mid, slope = local_slopes(x[ok], gm[ok])
        out += [{group: name, "width_mid": a, "local_exponent": s} for a, s in zip(mid, slope,
                                                                                  strict=True)]
    return pd.DataFrame(out)


def phase_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Width exponent and its R² for every (γ, α) cell of a phase-diagram sweep (one seed or
    the geometric mean over seeds), with the cell's mean φ_{1/2}."""
    rows = []
    for (gamma, alpha), sub in frame.groupby(["gamma", "alpha"]):
        x, y = loss_matrix(sub)
        gm = np.exp(np.nanmean(np.log(np.where(y > 0, y, np.nan)), axis=0))
        ok = np.isfinite(gm)
        if ok.sum() >= 2:
            fit = fit_loglog(x[ok], gm[ok])
            expo, r2 = fit.exponent, fit.r2
        else:
            expo, r2 = float("nan"), float("nan")
        rows.append({"gamma": gamma, "alpha": alpha, "exponent": expo, "r2": r2,
                     "phi_half": float(sub["phi_half"].mean())})
    return pd.DataFrame(rows)


def ci_text(low: float, high: float, fmt: str = ".2f") -> str:
    """'[low, high]' for prose and tables ('[n/a]' when the CI is undefined)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "[n/a]"
    return f"[{low:{fmt}}, {high:{fmt}}]"


def verdict_summary(verdicts: dict[str, str]) -> str:
    """'held for A, B; partly for C' from a {name: verdict} mapping (prose for the page)."""
    order = ["held", "partly", "not_held", "not_reached"]
    words = {"held": "held", "partly": "partly held", "not_held": "did not hold",
             "not_reached": "was not reached"}
    parts = []
    for v in order:
        names = [k for k, val in verdicts.items() if val == v]
        if names:
            parts.append(f"{words[v]} for {', '.join(names)}")
    return "; ".join(parts)
