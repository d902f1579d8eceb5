"""Closed-form pieces of the superposition theory (Liu, Liu & Gore, arXiv:2505.10465, §3–4).

- Weak superposition: the top ``k = φn`` features are represented perfectly and every other
  feature is replaced by its mean, so ``L_weak = Σ_{i>k} (<v²> p_i − <v>² p_i²) ≈ (4/3) Σ_{i>k}
  p_i`` (:func:`weak_loss`); with ``p_i ∝ i^{-α}`` and ``k ∝ m`` this gives ``L ∝ m^{-(α−1)}``.
- Strong superposition: every feature is represented and the loss is interference between
  overlapping rows. For random unit vectors in ``R^m`` the squared overlap follows
  ``Beta(1/2, (m−1)/2)``: mean exactly ``1/m`` (:func:`random_overlap_moments`), hence
  ``L ∝ 1/m``. The Welch bound (:func:`welch_bound`) is the smallest possible mean (and max)
  squared overlap of ``ν`` unit vectors in ``R^m``.
- Measurements on trained ``W``: the represented fraction ``φ_{1/2}`` (:func:`phi_half`) and
  the mean squared overlap of normalised rows (:func:`mean_squared_overlap`).
"""

from __future__ import annotations

import torch

from lib.superposition.data import V_MEAN, V_SQ_MEAN


def weak_loss(p: torch.Tensor, k: int | float, exact: bool = True) -> float:
    """Loss (paper normalisation) when the top ``k`` features are represented perfectly and the
    rest are predicted by their mean: ``Σ_{i>k} (<v²> p_i − <v>² p_i²)``; ``exact=False`` gives
    the paper's approximation ``(4/3) Σ_{i>k} p_i``. ``k`` is rounded to an integer."""
    tail = p[int(round(float(k))):].double()
    if exact:
        return float((V_SQ_MEAN * tail - V_MEAN**2 * tail**2).sum())
    return float(V_SQ_MEAN * tail.sum())


def trivial_loss(p: torch.Tensor) -> float:
    """The loss of predicting every feature by its mean (nothing represented)."""
    return weak_loss(p, 0)


def random_overlap_moments(m: int) -> tuple[float, float]:
    """Mean and variance of ``(u·w)²`` for independent uniform unit vectors in ``R^m``:
    ``Beta(1/2, (m−1)/2)`` has mean ``1/m`` and variance ``2(m−1)/(m²(m+2))``."""
    return 1.0 / m, 2.0 * (m - 1) / (m**2 * (m + 2))


def welch_bound(n_vectors: int, m: int) -> float:
    """Welch (1974) lower bound ``(ν − m)/(m(ν − 1))`` on the mean — and hence the maximum —
    squared overlap of ``ν`` unit vectors in ``R^m`` (0 when ``ν ≤ m``). An equiangular tight
    frame attains it; ``≈ 1/m`` when ``ν ≫ m``."""
    if n_vectors <= m:
        return 0.0
    return (n_vectors - m) / (m * (n_vectors - 1))


def weighted_welch_bound(p: torch.Tensor, m: int) -> float:
    """Lower bound on the frequency-weighted interference of unit vectors in ``R^m``,
    ``Σ_{i≠j} p_i p_j (ŵ_i·ŵ_j)² ≥ 1/m − Σ_i p_i²`` (with ``Σ p = 1``: the frame potential of the
    weighted frame ``Σ p_i ŵ_iŵ_iᵀ``, whose trace is 1, is at least ``1/m``; the diagonal
    contributes ``Σ p_i²``). It is the Welch bound of ``ν = 1/Σ p_i²`` equal-weight vectors up
    to a factor, and 0 once ``m ≥ ν``: at finite ``n`` a law with few heavy features (an
    exponential with a short scale) can fall faster than ``1/m``. Returns ``max(·, 0)``."""
    q = p.double() / p.double().sum()
    return max(1.0 / m - float((q**2).sum()), 0.0)


def effective_features(p: torch.Tensor) -> float:
    """The participation number ``ν = 1/Σ p_i²`` of a frequency law (``Σ p = 1``)."""
    q = p.double() / p.double().sum()
    return 1.0 / float((q**2).sum())


def welch_slope(p: torch.Tensor, widths) -> float:
    """Log-log slope (as a decay exponent) of :func:`weighted_welch_bound` over ``widths``: the
    width exponent that the bound alone implies at this finite ``n`` (1 when ``ν ≫ m``). NaN
    when the bound is 0 at one of the widths (``m ≥ ν``: the bound says nothing there)."""
    import numpy as np

    from lib.core.fit import fit_loglog

    m = np.asarray(list(widths), float)
    b = np.array([weighted_welch_bound(p, int(w)) for w in m])
    if np.any(b <= 0) or m.size < 3:
        return float("nan")
    return float(fit_loglog(m, b).exponent)


def random_unit_vectors(count: int, m: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` independent uniform unit vectors in ``R^m`` (float64), shape (count, m)."""
    v = torch.randn(count, m, generator=generator, dtype=torch.float64)
    return v / torch.linalg.vector_norm(v, dim=1, keepdim=True)


def row_norms(W: torch.Tensor) -> torch.Tensor:
    """``‖W_i‖`` for every feature (n,)."""
    return torch.linalg.vector_norm(W, dim=-1)


def phi_half(W: torch.Tensor) -> float:
    """Fraction of features represented, ``|{i : ‖W_i‖ > 1/2}| / n`` (paper's φ_{1/2})."""
    return float((row_norms(W) > 0.5).double().mean())


def mean_squared_overlap(W: torch.Tensor, min_norm: float = 0.5) -> float:
    """Mean of ``(Ŵ_i·Ŵ_j)²`` over pairs ``i ≠ j`` of represented rows (norm > ``min_norm``),
    rows normalised first (the quantity the paper compares with ``1/m``)."""
    norms = row_norms(W)
    keep = W[norms > min_norm].double()
    k = keep.shape[0]
    if k < 2:
        return float("nan")
    u = keep / torch.linalg.vector_norm(keep, dim=1, keepdim=True)  # (k, m)
    gram = u @ u.T  # (k, k)
    off = (gram**2).sum() - k  # the diagonal is exactly 1
    return float(off / (k * (k - 1)))
