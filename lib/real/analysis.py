"""From measurements to exponents, CIs and verdicts for the real-model page.

Fits reuse the book's fitters: :func:`lib.core.fit.bootstrap_exponent` for single power laws and
:func:`lib.universality.fits.fit_four_term` for the four-term law (the family's ``τ`` is passed in
the data column of that fitter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from lib.core.fit import (
    Bootstrap,
    Interval,
    bootstrap,
    exponent_interval,
    fit_offset,
    half_checkpoint,
    last_doubling_change,
    t_interval,
)
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


def subset_mean_ci(values: np.ndarray, level: float = 0.95) -> Interval:
    """Mean of independent estimates (one per random row subset) with the book's Student-t
    interval over them (:func:`lib.core.fit.t_interval`); a single estimate (all rows used) has
    no interval (``ci_low``/``ci_high`` None), never a zero-width one."""
    k = np.asarray(values, float).size
    return t_interval(values, level, method=f"Student t over {k} random row subsets")


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


def width_exponent_of_overlap(frame: pd.DataFrame) -> Interval:
    """Exponent of the mean squared overlap against width: one log-log fit per replicate, a
    (depth, seed) pair, and a Student-t interval over replicates
    (:func:`lib.core.fit.exponent_interval`)."""
    table = frame.pivot_table(index=["depth", "seed"], columns="width", values="mean_sq")
    return exponent_interval(table.columns.to_numpy(float), table.to_numpy(float))


def family_overlaps_at_step(result: FamilyResult, data, step: int, device) -> pd.DataFrame:
    """:func:`family_overlaps` of the same members after their first ``step`` updates, by
    training each again for ``step`` steps. With a constant learning rate after warm-up the
    run is the same as the first ``step`` steps of the family's (same init, same batches, no
    dropout); with a cosine schedule it is not, and this raises."""
    import dataclasses

    from lib.real.train import train_member

    cfg = result.config
    if cfg.schedule != "constant" and step < cfg.steps:
        raise ValueError("the family's schedule is not constant: a shorter run is not its "
                         "first steps, so the half-way embeddings cannot be rebuilt")
    short = dataclasses.replace(cfg, steps=step, n_evals=2)
    part = FamilyResult(short, [train_member(r.member, data, short, device)
                                for r in result.members if not r.diverged])
    return family_overlaps(part)


def represented_share(norms: np.ndarray, frac_of_median: float = 0.5,
                      level: float = 0.95) -> tuple[float, float, float, int]:
    """Share of token vectors with norm > ``frac_of_median`` × the median norm, with the
    Clopper–Pearson interval of a binomial share (the vocabulary read as a sample of tokens):
    (share, low, high, count below)."""
    from scipy import stats

    norms = np.asarray(norms, float)
    n = norms.size
    k = int((norms > frac_of_median * np.median(norms)).sum())
    a = (1 - level) / 2
    lo = float(stats.beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(stats.beta.ppf(1 - a, k + 1, n - k)) if k < n else 1.0
    return k / n, lo, hi, n - k


# ---- one-third time ---------------------------------------------------------------------------


def _tau_table(frame: pd.DataFrame, fit_from_step: int, width: int, depth: int,
               until_step: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """τ and the held-out loss ``(n_seeds, n_points)`` of one member, evaluations from
    ``fit_from_step`` (to ``until_step`` inclusive, if given), diverged runs left out."""
    f = frame[(frame.width == width) & (frame.depth == depth) & (frame.step >= fit_from_step)
              & ~frame.diverged]
    if until_step is not None:
        f = f[f.step <= until_step]
    table = f.pivot_table(index="seed", columns="tau", values="heldout_nats")
    return table.columns.to_numpy(float), table.to_numpy(float)


def tau_exponent_interval(frame: pd.DataFrame, fit_from_step: int, width: int, depth: int,
                          until_step: int | None = None) -> Interval:
    """``α_τ`` of one member by the book's interval: the offset fit ``L0 + c τ^-α`` per seed
    (least squares on log L, ``0 ≤ L0 < min L``), Student t over seeds
    (:func:`lib.core.fit.exponent_interval`; one seed: no interval). A fit that fails is a NaN
    estimate (``fit_failed``), a fit at a bound says so in ``at_bound``."""
    from lib.universality.fits import single_blas_thread

    x, y = _tau_table(frame, fit_from_step, width, depth, until_step)
    try:
        with single_blas_thread():
            return exponent_interval(x, y, method="offset", n_starts=4)
    except (ValueError, RuntimeError) as err:
        return Interval(float("nan"), None, None, 0.95, f"fit failed: {err}", int(y.shape[0]))


def tau_convergence(frame: pd.DataFrame, fit_from_step: int, width: int, depth: int,
                    steps: int) -> tuple[float, float, float]:
    """The convergence check of ``α_τ`` (rule fixed before the fit is seen): the exponent from
    the evaluations up to ``steps // 2`` against all of them; returns ``(moved, α_half,
    α_all)`` with ``moved = α_all − α_half`` (:func:`lib.core.fit.last_doubling_change`). NaN
    when either fit fails (then the premise fails too)."""
    half = tau_exponent_interval(frame, fit_from_step, width, depth, until_step=steps // 2)
    full = tau_exponent_interval(frame, fit_from_step, width, depth)
    if not (np.isfinite(half.estimate) and np.isfinite(full.estimate)):
        return float("nan"), half.estimate, full.estimate
    moved = last_doubling_change(np.array([steps // 2, steps], float),
                                 np.array([half.estimate, full.estimate]))
    return moved, half.estimate, full.estimate


def tau_exponents(frame: pd.DataFrame, fit_from_step: int, n_boot: int, seed: int,
                  ci_for: set[tuple[int, int]] | None = None) -> pd.DataFrame:
    """For each (width, depth): ``L(τ) = L0 + c τ^-α`` fitted to the held-out loss at the
    evaluations from ``fit_from_step`` on (the Pythia fit of arXiv:2602.03685, least squares on
    log L with ``0 ≤ L0 < min L``). Members in ``ci_for`` (default: all) get the book's interval
    (:func:`tau_exponent_interval`: Student t over seeds, none with one seed); the others a
    point estimate of the seed-mean curve only (each offset fit costs ~50 ms). ``n_boot`` and
    ``seed`` are unused (kept for callers). BLAS runs single-threaded: thousands of tiny solves
    are ~20× slower multi-threaded (measured in ``lib.universality.fits``)."""
    from lib.universality.fits import single_blas_thread

    rows = []
    f = frame[(frame.step >= fit_from_step) & ~frame.diverged]
    nan = float("nan")
    for (w, d), _ in f.groupby(["width", "depth"]):
        x, y = _tau_table(frame, fit_from_step, int(w), int(d))
        with_ci = ci_for is None or (int(w), int(d)) in ci_for
        at_bound, method = "", "point estimate (seed-mean curve)"
        if with_ci:
            iv = tau_exponent_interval(frame, fit_from_step, int(w), int(d))
            est, lo, hi, method, at_bound = (iv.estimate, iv.ci_low, iv.ci_high, iv.method,
                                             iv.at_bound)
        else:
            lo = hi = None
            try:
                with single_blas_thread():
                    gm = np.exp(np.nanmean(np.log(y), axis=0))
                    fit = fit_offset(x, gm, n_starts=4)
                est, at_bound = fit.exponent, fit.at_bound
            except (ValueError, RuntimeError):
                est = nan
        rows.append({"width": w, "depth": d, "alpha_tau": est,
                     "ci_low": nan if lo is None else lo, "ci_high": nan if hi is None else hi,
                     "n_points": x.size, "n_seeds": y.shape[0], "ci_method": method,
                     "at_bound": at_bound})
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
    with the Student-t interval over held-out windows (rows of ``entropy``; a percentile
    bootstrap over a handful of windows under-covers), mapped through the entropy curve.
    ``n_boot`` is unused (kept for callers). With one window the bounds are NaN."""
    from lib.real.probes import gaussian_entropy_curve

    betas = np.geomspace(0.05, 200.0, 160)
    h = gaussian_entropy_curve(vocab_size, betas, n_draws=4, seed=seed)
    to_beta = lambda e: float(np.exp(np.interp(-e, -h, np.log(betas))))  # noqa: E731
    per_window = np.nanmean(np.asarray(entropy, float), axis=1)  # (W,)
    iv = t_interval(per_window, method=f"Student t over {per_window.size} held-out windows")
    if iv.ci_low is None or iv.ci_high is None:
        return to_beta(iv.estimate), float("nan"), float("nan")
    # entropy falls as β rises: the CI bounds swap
    return to_beta(iv.estimate), to_beta(iv.ci_high), to_beta(iv.ci_low)


# ---- four-term law ------------------------------------------------------------------------------


def four_term_frame(frame: pd.DataFrame, fit_from_step: int) -> pd.DataFrame:
    """The family's evaluations as the four-term fitter's input: m = width, ℓ = depth,
    the data/time variable = τ (passed as ``num_tokens``), loss = held-out nats per token.
    Diverged members and evaluations before ``fit_from_step`` are left out."""
    f = frame[(frame.step >= fit_from_step) & ~frame.diverged].dropna(subset=["heldout_nats"])
    return pd.DataFrame({"d_model": f.width.astype(float), "n_layers": f.depth.astype(float),
                         "num_tokens": f.tau.astype(float), "loss": f.heldout_nats.astype(float)})


def half_run_step(steps: Iterable[int]) -> int:
    """The evaluation step nearest half the last one, on a log scale
    (:func:`lib.core.fit.half_checkpoint`): where a chapter's convergence check recomputes an
    exponent of the family (``steps``: the evaluation steps, e.g. ``frame.step`` or
    ``eval_steps(cfg)``)."""
    s = np.unique(np.asarray(list(steps), float))
    s = s[s > 0]
    return int(s[half_checkpoint(s)])


# ---- inverse depth ------------------------------------------------------------------------------


def middle_layers(n_updates: int, frac: float = 0.1) -> np.ndarray:
    """Indices of the 'middle' entries of a per-layer profile of length ``n_updates``: the
    first and last ``frac`` (at least one each) are left out, as the papers single out the
    first and last layers (they rotate the state by ≈ π/2)."""
    cut = max(1, int(round(frac * n_updates)))
    return np.arange(cut, n_updates - cut)


# ---- ES -----------------------------------------------------------------------------------------


def paired_gain(before: np.ndarray, after: np.ndarray, n_boot: int = 0, seed: int = 0
                ) -> Interval:
    """Mean reward gain ``after − before`` over the same prompts, with the book's Student-t
    interval over prompts (:func:`lib.core.fit.t_interval`; no interval when every prompt's
    change is the same, e.g. all 0). ``n_boot`` and ``seed`` are unused (kept for callers)."""
    d = np.asarray(after, float).ravel() - np.asarray(before, float).ravel()
    return t_interval(d, method=f"Student t over {d.size} prompts (paired)")


def saturation_ratio(base: float, member_rewards: np.ndarray, n_small: int, n_large: int,
                     n_boot: int, seed: int, n_subsets: int = 200) -> Bootstrap:
    """``Δ*_{n_small} / Δ*_{n_large}`` of the best-of-N curve: 1 when the best-of-N gain has
    saturated by ``n_small``. CI by resampling the perturbation pool (percentile bootstrap over
    its M members, M ≥ 60 where the chapter judges it). A centred Gaussian ΔR gives
    :func:`gaussian_saturation_ratio`, the control a claim must beat."""
    from lib.real.es import best_of_n

    r = np.asarray(member_rewards, float)

    def ratio(pool: np.ndarray) -> float:
        small, large = best_of_n(base, pool, [n_small, n_large], n_subsets, seed)
        return float(small / large) if large > 0 else float("nan")

    return bootstrap(ratio, r, n_boot, 0.95, seed)


def gaussian_saturation_ratio(n_small: int, n_large: int) -> float:
    """``E[max of n_small] / E[max of n_large]`` for i.i.d. centred Gaussians: the saturation
    ratio that light tails give whatever the model (0.90 for 30 vs 50, 0.75 for 30 vs 240)."""
    from lib.es.geometry import gaussian_expected_max

    m = gaussian_expected_max(max(n_small, n_large))
    return float(m[n_small - 1] / m[n_large - 1])
