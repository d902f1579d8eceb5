"""Superposition in real language models (arXiv:2505.10465 §5): the "Real models" section of the
superposition chapter.

The statistic is the mean squared cosine overlap of the normalised LM-head / embedding rows,
against ``1/m`` (:func:`overlap_stats`, chunked so SmolLM2's 49,152 × 49,152 Gram matrix is never
held), measured on SmolLM2 and on the token embeddings of the self-trained GPT family across
widths; plus the distribution of row norms (is every token represented?).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lib.core.fit import Interval, exponent_interval, t_interval
from lib.real.train import FamilyResult, train_member

# ---- representation -----------------------------------------------------------------------


def overlap_stats(W: torch.Tensor, max_rows: int | None = None, chunk: int = 4096,
                  seed: int = 0) -> dict[str, float]:
    """Mean squared cosine ``⟨(ŵ_i·ŵ_j)²⟩`` and mean ``⟨|ŵ_i·ŵ_j|⟩`` over pairs ``i ≠ j`` of the
    normalised rows of ``W`` (V, m), and ``m``. With ``max_rows`` a uniform random subset of rows
    (seeded) is used: an unbiased estimate of the all-pairs mean at a fraction of the cost.
    Rows of zero norm are dropped. Accumulated in float64 over ``chunk × chunk`` blocks."""
    W = W.detach()
    norms = torch.linalg.vector_norm(W.double(), dim=1)
    W = W[norms > 0]
    if max_rows is not None and W.shape[0] > max_rows:
        g = torch.Generator().manual_seed(seed)
        W = W[torch.randperm(W.shape[0], generator=g)[:max_rows].to(W.device)]
    n, m = W.shape
    if n < 2:
        return {"mean_sq": float("nan"), "mean_abs": float("nan"), "m": m, "rows": n}
    U = F.normalize(W.float(), dim=1)  # (n, m)
    sq = ab = 0.0
    for i in range(0, n, chunk):
        G = U[i:i + chunk] @ U.T  # (c, n)
        sq += float((G.double() ** 2).sum())
        ab += float(G.double().abs().sum())
    pairs = n * (n - 1)
    # remove the diagonal (each entry is 1 up to rounding: subtract n exactly)
    return {"mean_sq": (sq - n) / pairs, "mean_abs": (ab - n) / pairs, "m": m, "rows": n}


def mean_direction_share(W: torch.Tensor) -> float:
    """Share of ``‖W‖_F²`` carried by the mean row, ``V ‖μ‖² / Σ_i ‖w_i‖²``: how much of an
    embedding is one direction common to every token (0 for centred rows, 1 for identical)."""
    W = W.detach().double()
    mu = W.mean(0)
    return float(W.shape[0] * mu.dot(mu) / (W**2).sum())


def row_norms(W: torch.Tensor) -> np.ndarray:
    """‖W_i‖ for every row (token) of an embedding / LM-head matrix."""
    return torch.linalg.vector_norm(W.detach().double(), dim=1).cpu().numpy()


# ---- SmolLM2 and the family ---------------------------------------------------------------


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
