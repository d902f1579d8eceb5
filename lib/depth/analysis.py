"""From a trained sweep to exponents: α_ℓ in ``L ∝ ℓ^{−α_ℓ}`` with the book's interval (one
log-log fit per teacher replicate, Student t over the replicates:
:func:`lib.core.fit.exponent_interval`), its change with training steps (the convergence
premise), and the layer-ablation contrast.

The paper's warning (arXiv 2602.05970, §3): an unconverged student of the tied (smooth) teacher
can show α_ℓ ≈ 1 although its converged exponent is much larger. So an exponent is only judged
against the paper if it has stopped moving: :func:`drift` measures how much it changed over the
last doubling of training steps (:func:`lib.core.fit.last_doubling_change`), and the chapter
passes it to :func:`lib.core.claims.converged` as a premise of the claim; the verdict itself is
decided by :func:`lib.core.claims.judge` alone.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lib.core.fit import Interval, exponent_interval, last_doubling_change, t_interval
from lib.depth.sweep import SweepResult

MIN_DEPTHS = 3  # a log-log fit needs at least three depths with a finite loss


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


def fitted_depths(y: np.ndarray) -> np.ndarray:
    """(n_depths,) True where every replicate kept a finite loss: the depths
    :func:`lib.core.fit.exponent_interval` fits (it drops a depth where any replicate diverged,
    so that every replicate is fitted on the same depths)."""
    return np.isfinite(y).all(axis=0)


def fitted_members(result: SweepResult, rho: float, temperature: float | None = None,
                   checkpoint: int = -1) -> int:
    """How many members enter the fit of :func:`depth_exponent`: the entries of
    :func:`loss_matrix` at the depths where every replicate stayed finite (or 0 when fewer than
    three such depths are left and there is no fit)."""
    _, y = loss_matrix(result, rho, temperature, checkpoint)
    keep = fitted_depths(y)
    return int(y.shape[0] * keep.sum()) if keep.sum() >= MIN_DEPTHS else 0


def no_fit(n_seeds: int, why: str) -> Interval:
    """An interval with no finite estimate (judged 'fit_failed': the students diverged)."""
    return Interval(math.nan, None, None, 0.95, why, n_seeds)


def depth_exponent(result: SweepResult, rho: float, temperature: float | None = None,
                   checkpoint: int = -1) -> Interval:
    """α_ℓ: one log-log fit of loss against depth per teacher replicate, then a Student-t
    interval over the replicates (the book's interval). NaN (no fit) when fewer than three
    depths kept a finite loss in every replicate."""
    depths, y = loss_matrix(result, rho, temperature, checkpoint)
    if fitted_depths(y).sum() < MIN_DEPTHS:
        return no_fit(y.shape[0], "no fit: fewer than 3 depths where no student diverged")
    return exponent_interval(depths, y, method="loglog")


def exponent_trajectory(result: SweepResult, rho: float, temperature: float | None = None
                        ) -> pd.DataFrame:
    """α_ℓ and its interval at every checkpoint: how the fitted exponent moves with training."""
    rows = []
    for c, step in enumerate(result.checkpoints):
        b = depth_exponent(result, rho, temperature, c)
        alpha, low, high = b.triple()
        rows.append({"rho": rho, "step": int(step), "alpha": alpha, "ci_low": low,
                     "ci_high": high})
    return pd.DataFrame(rows)


def drift(trajectory: pd.DataFrame) -> float:
    """α(S) − α(≈S/2): the change of the exponent over the last doubling of steps (the
    checkpoint nearest S/2 on a log scale); NaN when either end has no fit, or when no
    checkpoint lies nearer S/2 than S (then convergence cannot be measured: not reached)."""
    try:
        return last_doubling_change(trajectory["step"].to_numpy(float),
                                    trajectory["alpha"].to_numpy(float))
    except ValueError:
        return math.nan


def shuffle_contrast(ablations: pd.DataFrame, column: str = "shuffle_middle") -> Interval:
    """The layer-ablation contrast between the tied and the independent teacher's students:
    per replicate index k, ``log(1 + r_{ρ=1,k}) − log(1 + r_{ρ=0,k})`` with ``r`` the relative
    loss rise of the ablation (``L_ablated/L − 1``), i.e. the log of the ratio of the two
    ablated-to-trained loss ratios; then a Student-t interval over k. The replicates of the two
    teachers are independent, so the differences of index-paired replicates are independent
    draws of the contrast. NaN (no interval) where a replicate is missing (diverged)."""
    per = {}
    for rho in (0.0, 1.0):
        f = ablations[ablations.rho == rho].set_index("replicate")[column]
        per[rho] = np.log1p(f.astype(float))
    reps = sorted(set(per[0.0].index) & set(per[1.0].index))
    if not reps:
        return no_fit(0, "no replicate with both teachers' students finite")
    diff = np.array([per[1.0][k] - per[0.0][k] for k in reps])
    return t_interval(diff, method=f"Student t over {len(reps)} replicate pairs")


def loss_drift(result: SweepResult, rho: float, temperature: float | None, depth: int) -> float:
    """Relative change ``L(S)/L(≈S/2) − 1`` over the last doubling of steps of the test loss of
    the members at ``depth`` (geometric mean over the replicates that stayed finite): the
    plateau premise of the probes. NaN when every such member diverged."""
    sel = [i for i, m in enumerate(result.members)
           if m.rho == rho and m.depth == depth and result.ok[i]
           and (temperature is None or m.temperature == temperature)]
    if not sel:
        return math.nan
    log_mean = np.log(result.test_loss[sel]).mean(axis=0)  # (C,)
    try:
        return float(np.expm1(last_doubling_change(result.checkpoints, log_mean)))
    except ValueError:  # no checkpoint near S/2: convergence cannot be measured
        return math.nan
