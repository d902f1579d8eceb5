"""One-third time on real language models (arXiv:2602.03685 §5): the "Real models" section of
the one-third-time chapter.

- The self-trained GPT family: the held-out loss against the integrated learning rate
  ``τ = Σ η_t``, fitted by ``L0 + c τ^-α`` per member (:func:`tau_exponents`), with the
  convergence check of the claim's member (:func:`tau_convergence`).
- SmolLM2's next-token logits: how peaked its predictions are, as an *effective inverse
  temperature* β*, the β at which i.i.d. Gaussian logits over the same vocabulary have the
  model's mean entropy (:func:`gaussian_entropy_curve`, :func:`effective_beta`,
  :func:`beta_from_entropy`), against ``c0 = √(2 ln V)``; also the per-position logit spread.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from lib.core.fit import Interval, exponent_interval, fit_offset, last_doubling_change, t_interval
from lib.core.threads import single_blas_thread

# ---- next-token logits --------------------------------------------------------------------


def entropy_nats(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last axis, in nats (float32 or wider)."""
    logp = torch.log_softmax(logits if logits.dtype == torch.float64 else logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def gaussian_entropy_curve(vocab_size: int, betas: np.ndarray, n_draws: int = 8,
                           seed: int = 0) -> np.ndarray:
    """Mean entropy (nats) of softmax(β z) for z ~ N(0, I_V), at each β (Monte Carlo over
    ``n_draws`` vectors; the one-third paper's i.i.d. Gaussian model of logits, test-6)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n_draws, vocab_size, generator=g, dtype=torch.float64)  # (D, V)
    out = [float(entropy_nats(float(b) * z).mean()) for b in betas]
    return np.asarray(out)


def effective_beta(mean_entropy: float | np.ndarray, vocab_size: int,
                   betas: np.ndarray | None = None, **kw) -> np.ndarray:
    """The β at which i.i.d. Gaussian logits over ``vocab_size`` have this mean entropy
    (monotone interpolation of :func:`gaussian_entropy_curve` in log β)."""
    betas = np.geomspace(0.05, 200.0, 400) if betas is None else betas
    h = gaussian_entropy_curve(vocab_size, betas, **kw)  # decreasing in β
    target = np.atleast_1d(np.asarray(mean_entropy, float))
    out = np.exp(np.interp(-target, -h, np.log(betas), left=np.nan, right=np.nan))
    return out


def c0(vocab_size: int) -> float:
    """``√(2 ln V)``: the largest of V standard Gaussians; β* ≫ c0 is the paper's peaked regime."""
    return math.sqrt(2.0 * math.log(vocab_size))


@torch.no_grad()
def logit_statistics(model, windows: torch.Tensor, batch: int = 4,
                     skip_first: int = 1) -> dict[str, np.ndarray]:
    """Per-position statistics of the next-token logits of an HF causal LM on token windows
    (W, T): entropy (nats), standard deviation of the logits over the vocabulary, the gap
    between the top two logits, and the target's loss. ``skip_first`` leading positions of each
    window (no context) are left out. Arrays have shape (W, T − skip_first [− 1 for loss])."""
    ent, std, gap, nll = [], [], [], []
    for i in range(0, windows.shape[0], batch):
        ids = windows[i:i + batch]
        logits = model(ids, use_cache=False).logits.float()  # (b, T, V)
        ent.append(entropy_nats(logits)[:, skip_first:].cpu())
        std.append(logits.std(-1)[:, skip_first:].cpu())
        top2 = logits.topk(2, dim=-1).values
        gap.append((top2[..., 0] - top2[..., 1])[:, skip_first:].cpu())
        lp = torch.log_softmax(logits[:, :-1], -1)
        nll.append(-lp.gather(-1, ids[:, 1:, None]).squeeze(-1)[:, skip_first:].cpu())
    cat = lambda xs: torch.cat(xs).numpy()  # noqa: E731
    return {"entropy": cat(ent), "logit_std": cat(std), "top_gap": cat(gap), "nll": cat(nll)}


# ---- the family's loss against τ ----------------------------------------------------------


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
    are ~20× slower multi-threaded (:func:`lib.core.threads.single_blas_thread`)."""
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
    """Effective β* (:func:`effective_beta`) of the mean next-token entropy,
    with the Student-t interval over held-out windows (rows of ``entropy``; a percentile
    bootstrap over a handful of windows under-covers), mapped through the entropy curve.
    ``n_boot`` is unused (kept for callers). With one window the bounds are NaN."""
    betas = np.geomspace(0.05, 200.0, 160)
    h = gaussian_entropy_curve(vocab_size, betas, n_draws=4, seed=seed)
    to_beta = lambda e: float(np.exp(np.interp(-e, -h, np.log(betas))))  # noqa: E731
    per_window = np.nanmean(np.asarray(entropy, float), axis=1)  # (W,)
    iv = t_interval(per_window, method=f"Student t over {per_window.size} held-out windows")
    if iv.ci_low is None or iv.ci_high is None:
        return to_beta(iv.estimate), float("nan"), float("nan")
    # entropy falls as β rises: the CI bounds swap
    return to_beta(iv.estimate), to_beta(iv.ci_high), to_beta(iv.ci_low)
