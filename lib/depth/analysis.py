"""From a trained sweep to exponents: α_ℓ in ``L ∝ ℓ^{−α_ℓ}`` with a bootstrap CI over teacher
replicates, its drift with training steps (the convergence test), and verdicts.

The paper's warning (arXiv 2602.05970, §3): an unconverged student of the tied (smooth) teacher
can show α_ℓ ≈ 1 although its converged exponent is much larger. So an exponent is only judged
against the paper if it has stopped moving: :func:`drift` measures how much it changed over the
last doubling of training steps, and :func:`verdict` returns ``not_reached`` when that exceeds a
tolerance (stating what the judge would have said).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from lib.core.claims import Verdict, judge
from lib.core.fit import Bootstrap, bootstrap_exponent
from lib.depth.sweep import SweepResult


def loss_matrix(result: SweepResult, rho: float, temperature: float | None = None,
                checkpoint: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Depths (n_depths,) and test losses (n_replicates, n_depths) of the members with this ρ
    (and temperature, for KL) at one checkpoint; diverged members are NaN."""
    sel = [i for i, m in enumerate(result.members)
           if m.rho == rho and (temperature is None or m.temperature == temperature)]
    if not sel:
        raise ValueError(f"no member with rho={rho}, temperature={temperature}")
    depths = np.array(sorted({result.members[i].depth for i in sel}))
    reps = sorted({result.members[i].replicate for i in sel})
    y = np.full((len(reps), depths.size), np.nan)
    for i in sel:
        m = result.members[i]
        if result.ok[i]:
            y[reps.index(m.replicate), int(np.searchsorted(depths, m.depth))] = (
                result.test_loss[i, checkpoint])
    return depths, y


def fitted_members(result: SweepResult, rho: float, temperature: float | None = None,
                   checkpoint: int = -1) -> int:
    """How many members enter the fit of :func:`depth_exponent`: the finite entries of
    :func:`loss_matrix` (diverged members are NaN there and left out)."""
    return int(np.isfinite(loss_matrix(result, rho, temperature, checkpoint)[1]).sum())


def depth_exponent(result: SweepResult, rho: float, temperature: float | None = None,
                   checkpoint: int = -1, n_boot: int = 1000, seed: int = 0) -> Bootstrap:
    """α_ℓ from a log-log fit of the replicate-geometric-mean loss against depth, with a
    percentile bootstrap that resamples replicates and depths (``over='both'``)."""
    depths, y = loss_matrix(result, rho, temperature, checkpoint)
    if np.isfinite(y).any(axis=0).sum() < 2:  # fewer than 2 depths with a finite loss
        return Bootstrap(math.nan, math.nan, math.nan, 0.95, np.array([]))
    with warnings.catch_warnings():
        # a resample that drew only the diverged replicates of a depth averages an all-NaN
        # column; lib.core.fit drops that point, but numpy warns about it first
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        return bootstrap_exponent(depths, y, over="both", n_boot=n_boot, seed=seed)


def exponent_trajectory(result: SweepResult, rho: float, temperature: float | None = None,
                        n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """α_ℓ and its CI at every checkpoint: how the fitted exponent moves with training."""
    rows = []
    for c, step in enumerate(result.checkpoints):
        b = depth_exponent(result, rho, temperature, c, n_boot, seed)
        rows.append({"rho": rho, "step": int(step), "alpha": b.estimate,
                     "ci_low": b.ci_low, "ci_high": b.ci_high})
    return pd.DataFrame(rows)


def drift(trajectory: pd.DataFrame) -> float:
    """α(S) − α(≈S/2): the change of the exponent over the last doubling of steps (the
    checkpoint nearest S/2 on a log scale)."""
    steps = trajectory["step"].to_numpy(float)
    alpha = trajectory["alpha"].to_numpy(float)
    half = int(np.argmin(np.abs(np.log(steps) - np.log(steps[-1] / 2))))
    return float(alpha[-1] - alpha[half])


def verdict(b: Bootstrap, paper: float, tol: float, moved: float, converge_tol: float
            ) -> tuple[Verdict, str]:
    """``judge`` if the exponent has converged (|drift| ≤ converge_tol), else ``not_reached``
    (also when there is no finite exponent at all, e.g. every student diverged)."""
    v, why = judge(b.estimate, b.ci_low, b.ci_high, paper, tol)
    if not math.isfinite(b.estimate):
        return v, why
    if not math.isfinite(moved) or abs(moved) > converge_tol:
        return "not_reached", (
            f"not converged: α moved by {moved:+.2f} over the last doubling of steps "
            f"(> {converge_tol:g}); at this snapshot the judge would say '{v}' ({why})")
    return v, why


