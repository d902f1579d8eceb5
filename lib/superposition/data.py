"""Feature-frequency laws and sparse input batches of the superposition toy model.

Liu, Liu & Gore (arXiv:2505.10465, §2): ``x_i = u_i v_i`` with ``u_i ~ Bernoulli(p_i)`` and
``v_i ~ U(0, 2)``, features ranked so that ``p_i`` decreases, fresh data every step. As in the
authors' code (``exp/exp-10.py``, ``exp/exp-17.py``) ``p`` is normalised to ``Σ p_i = 1``, so a
sample has about one active feature: a batch is sparse, and the book draws it as a list of
``(sample, feature, value)`` entries instead of the authors' dense ``(B, n)`` matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LAWS = ("power", "exponential", "linear")

# Moments of v ~ U(0, 2): <v> = 1, <v²> = 4/3 (they enter the weak-regime loss formula).
V_MEAN = 1.0
V_SQ_MEAN = 4.0 / 3.0


def frequencies(law: str, n: int, alpha: float = 1.0, scale: float = 400.0) -> torch.Tensor:
    """Feature frequencies ``p_i`` (float64, decreasing, ``Σ p_i = 1``) of a named law.

    - ``power``: ``p_i ∝ i^{-alpha}`` (the paper's α; exp-17 uses α = 1.2, exp-10 α ∈ [0, 2]);
    - ``exponential``: ``p_i ∝ exp(-(i-1)/scale)`` (exp-17: scale 1000 'exponential',
      400 'exponential1', at n = 10240);
    - ``linear``: ``p_i ∝ (n - i + 1)/n`` (exp-17 'linear').
    """
    i = torch.arange(1, n + 1, dtype=torch.float64)
    if law == "power":
        p = i ** (-alpha)
    elif law == "exponential":
        p = torch.exp(-(i - 1) / scale)
    elif law == "linear":
        p = (n - i + 1) / n
    else:
        raise ValueError(f"frequency law {law!r} is unknown; allowed: {', '.join(LAWS)}")
    return p / p.sum()


@dataclass(frozen=True)
class SparseBatch:
    """A batch of ``size`` samples stored by its nonzero entries: ``x[rows[k], cols[k]] =
    vals[k]``. ``rows`` index samples, ``cols`` features (each pair appears once)."""

    rows: torch.Tensor  # (nnz,) int64
    cols: torch.Tensor  # (nnz,) int64
    vals: torch.Tensor  # (nnz,) float
    size: int
    n: int

    def dense(self) -> torch.Tensor:
        """The ``(size, n)`` matrix (for the one-model loop and for tests)."""
        x = self.vals.new_zeros(self.size, self.n)
        x[self.rows, self.cols] = self.vals
        return x


def sample_sparse(
    p: torch.Tensor, batch: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> SparseBatch:
    """Draw ``batch`` samples exactly from the model's distribution, never forming (B, n).

    Poisson thinning: ``u = 1{N ≥ 1}`` with ``N ~ Poisson(λ)``, ``λ = −log(1 − p)``, is exactly
    Bernoulli(p). For feature ``i`` draw the total count ``N_i ~ Poisson(B λ_i)`` over the batch
    and drop each hit on a uniformly random sample: the counts per (sample, feature) are then
    independent Poisson(λ_i) (Poisson splitting), so the distinct (sample, feature) pairs hit
    are an exact draw of the Bernoulli mask. Cost ∝ B (about one active feature per sample)
    instead of the authors' B·n uniforms. Each active entry gets ``v ~ U(0, 2)``.
    ``p`` (n,) must be on the generator's device, with every ``p_i < 1``.
    """
    n = p.numel()
    device = p.device
    rate = -torch.log1p(-p.double()) * batch  # (n,) expected hits per feature
    counts = torch.poisson(rate, generator=generator).long()  # (n,)
    cols = torch.repeat_interleave(torch.arange(n, device=device), counts)  # (K,)
    rows = torch.randint(0, batch, (cols.numel(),), generator=generator, device=device)  # (K,)
    key = torch.unique(cols * batch + rows)  # (nnz,) sorted distinct pairs
    cols, rows = key // batch, key % batch
    vals = 2.0 * torch.rand(key.numel(), generator=generator, device=device, dtype=dtype)
    return SparseBatch(rows, cols, vals, batch, n)


def sample_dense(p: torch.Tensor, batch: int, generator: torch.Generator) -> torch.Tensor:
    """The authors' draw (``exp-17.py``): ``(rand(B, n) < p) * rand(B, n) * 2``, dense."""
    n = p.numel()
    u = torch.rand(batch, n, generator=generator, device=p.device) < p
    return u * torch.rand(batch, n, generator=generator, device=p.device) * 2
