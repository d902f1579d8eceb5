"""From measurements to exponents, CIs and verdicts for the real-model page.

Fits reuse the book's fitters: :func:`lib.core.fit.bootstrap_exponent` for single power laws and
:func:`lib.universality.fits.fit_four_term` for the four-term law (the family's ``τ`` is passed in
the data column of that fitter).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lib.core.fit import Bootstrap, bootstrap, bootstrap_exponent, fit_offset
from lib.real.probes import overlap_stats
from lib.real.train import FamilyResult


def mean_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0,
            level: float = 0.95) -> Bootstrap:
    """Mean of ``values`` over the leading axis (windows, documents) with a percentile
    bootstrap CI."""
    v = np.asarray(values, float)
    return bootstrap(lambda rows: float(np.nanmean(rows)), v, n_boot, level, seed)


def ci_text(low: float, high: float, fmt: str = ".2f") -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "(no CI)"
    return f"[{low:{fmt}}, {high:{fmt}}]"


# ---- superposition ----------------------------------------------------------------------------


def subset_overlaps(W, rows: int, subsets: int, seed: int) -> pd.DataFrame:
    """The overlap statistic on ``subsets`` independent random row subsets of ``W`` (all rows
    once if ``rows`` is 0 or covers W): one row per subset."""
    if rows == 0 or rows >= W.shape[0]:
        return pd.DataFrame([{"subset": 0, **overlap_stats(W)}])
    return pd.DataFrame([{"subset": k, **overlap_stats(W, max_rows=rows, seed=seed + k)}
                         for k in range(subsets)])


def subset_mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of independent estimates and a normal-approximation CI (mean ± z·sd/√k); a single
    estimate (all rows used) has no sampling error and gets a zero-width CI."""
    v = np.asarray(values, float)
    est = float(v.mean())
    if v.size < 2:
        return est, est, est
    from scipy import stats

    half = float(stats.norm.ppf(0.5 + level / 2) * v.std(ddof=1) / math.sqrt(v.size))
    return est, est - half, est + half


def family_overlaps(result: FamilyResult) -> pd.DataFrame:
    """Mean squared overlap of the token-embedding (= LM-head) rows of every trained member,
    and of its initialisation's expectation 1/m."""
    rows = []
    for r in result.members:
        if r.diverged:
            continue
        s = overlap_stats(r.model.wte.weight)
        rows.append({"width": r.member.width, "depth": r.member.depth, "seed": r.member.seed,
                     "mean_sq": s["mean_sq"], "mean_abs": s["mean_abs"],
                     "m_times_mean_sq": s["mean_sq"] * r.member.width})
    return pd.DataFrame(rows)


def width_exponent_of_overlap(frame: pd.DataFrame, n_boot: int, seed: int) -> Bootstrap:
    """Exponent of the mean squared overlap against width, replicates = (depth, seed) pairs
    (resampled by the bootstrap)."""
    table = frame.pivot_table(index=["depth", "seed"], columns="width", values="mean_sq")
    return bootstrap_exponent(table.columns.to_numpy(float), table.to_numpy(float),
                              over="seeds", n_boot=n_boot, seed=seed)


# ---- one-third time ---------------------------------------------------------------------------


def tau_exponents(frame: pd.DataFrame, fit_from_step: int, n_boot: int, seed: int,
                  ci_for: set[tuple[int, int]] | None = None) -> pd.DataFrame:
    """For each (width, depth): ``L(τ) = L0 + c τ^-α`` fitted to the held-out loss at the
    evaluations from ``fit_from_step`` on (the Pythia fit of arXiv:2602.03685, least squares on
    log L with ``0 ≤ L0 < min L``). Members in ``ci_for`` (default: all) also get a bootstrap CI
    over seeds, or over points with one seed; the others a point estimate only (each offset fit
    costs ~50 ms, so CIs for every member of a large grid would dominate the page's cost).
    BLAS runs single-threaded: thousands of tiny solves are ~20× slower multi-threaded
    (measured in ``lib.universality.fits``)."""
    from lib.universality.fits import single_blas_thread

    rows = []
    f = frame[(frame.step >= fit_from_step) & ~frame.diverged]
    for (w, d), g in f.groupby(["width", "depth"]):
        table = g.pivot_table(index="seed", columns="tau", values="heldout_nats")
        x, y = table.columns.to_numpy(float), table.to_numpy(float)
        over = "seeds" if y.shape[0] > 1 else "points"
        boot = n_boot if ci_for is None or (int(w), int(d)) in ci_for else 0
        nan = float("nan")
        try:
            with single_blas_thread():
                if boot:
                    b = bootstrap_exponent(x, y, method="offset", over=over, n_boot=boot,
                                           seed=seed, n_starts=4)
                else:
                    gm = np.exp(np.nanmean(np.log(y), axis=0))
                    b = Bootstrap(fit_offset(x, gm, n_starts=4).exponent, nan, nan, 0.95,
                                  np.array([]))
        except (ValueError, RuntimeError):
            b = Bootstrap(nan, nan, nan, 0.95, np.array([]))
        rows.append({"width": w, "depth": d, "alpha_tau": b.estimate, "ci_low": b.ci_low,
                     "ci_high": b.ci_high, "n_points": x.size, "n_seeds": y.shape[0],
                     "over": over if boot else "none"})
    return pd.DataFrame(rows)


def unigram_entropy(tokens, vocab_size: int) -> float:
    """Entropy (nats) of the token frequencies of a stream: the loss of a model that predicts
    every token from its frequency alone."""
    counts = np.bincount(np.asarray(tokens).ravel(), minlength=vocab_size).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def beta_from_entropy(entropy: np.ndarray, vocab_size: int, n_boot: int, seed: int
                      ) -> tuple[float, float, float]:
    """Effective β* (:func:`lib.real.probes.effective_beta`) of the mean next-token entropy,
    with a CI from bootstrapping the windows (rows of ``entropy``)."""
    from lib.real.probes import gaussian_entropy_curve

    betas = np.geomspace(0.05, 200.0, 160)
    h = gaussian_entropy_curve(vocab_size, betas, n_draws=4, seed=seed)
    to_beta = lambda e: float(np.exp(np.interp(-e, -h, np.log(betas))))  # noqa: E731
    per_window = np.nanmean(np.asarray(entropy, float), axis=1)  # (W,)
    b = mean_ci(per_window, n_boot, seed)
    # entropy falls as β rises: the CI bounds swap
    return to_beta(b.estimate), to_beta(b.ci_high), to_beta(b.ci_low)


# ---- four-term law ------------------------------------------------------------------------------


def four_term_frame(frame: pd.DataFrame, fit_from_step: int) -> pd.DataFrame:
    """The family's evaluations as the four-term fitter's input: m = width, ℓ = depth,
    the data/time variable = τ (passed as ``num_tokens``), loss = held-out nats per token.
    Diverged members and evaluations before ``fit_from_step`` are left out."""
    f = frame[(frame.step >= fit_from_step) & ~frame.diverged].dropna(subset=["heldout_nats"])
    return pd.DataFrame({"d_model": f.width.astype(float), "n_layers": f.depth.astype(float),
                         "num_tokens": f.tau.astype(float), "loss": f.heldout_nats.astype(float)})


# ---- inverse depth ------------------------------------------------------------------------------


def middle_layers(n_updates: int, frac: float = 0.1) -> np.ndarray:
    """Indices of the 'middle' entries of a per-layer profile of length ``n_updates``: the
    first and last ``frac`` (at least one each) are left out, as the papers single out the
    first and last layers (they rotate the state by ≈ π/2)."""
    cut = max(1, int(round(frac * n_updates)))
    return np.arange(cut, n_updates - cut)


# ---- ES -----------------------------------------------------------------------------------------


def paired_gain(before: np.ndarray, after: np.ndarray, n_boot: int, seed: int) -> Bootstrap:
    """Mean reward gain ``after − before`` over the same prompts, CI by resampling prompts."""
    d = np.asarray(after, float) - np.asarray(before, float)
    return mean_ci(d, n_boot, seed)


def saturation_ratio(base: float, member_rewards: np.ndarray, n_small: int, n_large: int,
                     n_boot: int, seed: int, n_subsets: int = 200) -> Bootstrap:
    """``Δ*_{n_small} / Δ*_{n_large}`` of the best-of-N curve: 1 when the best-of-N gain has
    saturated by ``n_small``. CI by resampling the perturbation pool."""
    from lib.real.es import best_of_n

    r = np.asarray(member_rewards, float)

    def ratio(pool: np.ndarray) -> float:
        small, large = best_of_n(base, pool, [n_small, n_large], n_subsets, seed)
        return float(small / large) if large > 0 else float("nan")

    return bootstrap(ratio, r, n_boot, 0.95, seed)
