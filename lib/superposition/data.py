"""Feature-frequency laws and sparse input batches of the superposition toy model.

Liu, Liu & Gore (arXiv:2505.10465, §2): ``x_i = u_i v_i`` with ``u_i ~ Bernoulli(p_i)`` and
``v_i ~ U(0, 2)``, features ranked so that ``p_i`` decreases, fresh data every step. As in the
authors' code (``exp/exp-10.py``, ``exp/exp-17.py``) ``p`` is normalised to ``Σ p_i = 1``, so a
sample has about one active feature: a batch is sparse, and the book draws it as a list of
``(sample, feature, value)`` entries instead of the authors' dense ``(B, n)`` matrix.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    vals[k]``. ``rows`` index samples, ``cols`` features (each pair appears once). With
    ``member`` set, entry ``k`` belongs to member ``member[k]`` only (one batch per member,
    :func:`stack_batches`); without, every member sees the whole batch."""

    rows: torch.Tensor  # (nnz,) int64
    cols: torch.Tensor  # (nnz,) int64
    vals: torch.Tensor  # (nnz,) float
    size: int
    n: int
    member: torch.Tensor | None = None  # (nnz,) int64

    def dense(self) -> torch.Tensor:
        """The ``(size, n)`` matrix (for the one-model loop and for tests)."""
        x = self.vals.new_zeros(self.size, self.n)
        x[self.rows, self.cols] = self.vals
        return x


def stack_batches(batches: Sequence[SparseBatch]) -> SparseBatch:
    """One batch per member (equal ``size`` and ``n``) as one batch whose entries carry their
    member's index."""
    member = torch.cat([torch.full_like(b.rows, k) for k, b in enumerate(batches)])
    return SparseBatch(torch.cat([b.rows for b in batches]), torch.cat([b.cols for b in batches]),
                       torch.cat([b.vals for b in batches]), batches[0].size, batches[0].n,
                       member)


def sample_sparse(
    p: torch.Tensor, batch: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> SparseBatch:
    """One batch of ``batch`` samples from the model's distribution (see
    :func:`sample_sparse_block`, of which this is the one-batch case)."""
    return sample_sparse_block(p, batch, 1, generator, dtype)[0]


def sample_sparse_block(
    p: torch.Tensor, batch: int, n_batches: int, generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
) -> list[SparseBatch]:
    """Draw ``n_batches`` batches of ``batch`` samples exactly from the model's distribution,
    never forming (B, n).

    Poisson thinning: ``u = 1{N ≥ 1}`` with ``N ~ Poisson(λ)``, ``λ = −log(1 − p)``, is exactly
    Bernoulli(p). For feature ``i`` draw the total count ``N_i ~ Poisson(S λ_i)`` over all
    ``S = n_batches · batch`` samples and drop each hit on a uniformly random sample: the counts
    per (sample, feature) are then independent Poisson(λ_i) (Poisson splitting), so the distinct
    (sample, feature) pairs hit are an exact draw of the Bernoulli mask. Cost ∝ S (about one
    active feature per sample) instead of the authors' S·n uniforms. Each active entry gets
    ``v ~ U(0, 2)``. ``p`` (n,) must be on the generator's device, with every ``p_i < 1``.

    The number of active entries is random, so the device must tell the host how many there
    are before the batches can be cut: one read per call, which is why the training loops draw
    :data:`SPARSE_BLOCK` batches at a time (:func:`sparse_stream`) instead of one per step.
    """
    n = p.numel()
    device = p.device
    total = batch * n_batches
    rate = -torch.log1p(-p.double()) * total  # (n,) expected hits per feature
    counts = torch.poisson(rate, generator=generator).long()  # (n,)
    cols = torch.repeat_interleave(torch.arange(n, device=device), counts)  # (K,)
    rows = torch.randint(0, total, (cols.numel(),), generator=generator, device=device)  # (K,)
    key = torch.unique(rows * n + cols)  # (nnz,) distinct pairs, sorted by sample
    vals = 2.0 * torch.rand(key.numel(), generator=generator, device=device, dtype=dtype)
    edges = torch.arange(n_batches + 1, device=device) * (batch * n)
    sizes = torch.searchsorted(key, edges).diff().tolist()  # the one host read
    out = []
    for k, (kk, vv) in enumerate(zip(key.split(sizes), vals.split(sizes), strict=True)):
        out.append(SparseBatch(kk // n - k * batch, kk % n, vv, batch, n))
    return out


SPARSE_BLOCK = 16  # batches drawn per call in the training loops (one host read per block)


def sparse_stream(p: torch.Tensor, batch: int, generator: torch.Generator,
                  dtype: torch.dtype = torch.float32,
                  block: int = SPARSE_BLOCK) -> Iterator[SparseBatch]:
    """An endless stream of batches, drawn ``block`` at a time (the same stream on every
    device type for a given generator state, whatever the number of steps taken from it)."""
    while True:
        yield from sample_sparse_block(p, batch, block, generator, dtype)


def sample_dense(p: torch.Tensor, batch: int, generator: torch.Generator) -> torch.Tensor:
    """The authors' draw (``exp-17.py``): ``(rand(B, n) < p) * rand(B, n) * 2``, dense."""
    n = p.numel()
    u = torch.rand(batch, n, generator=generator, device=p.device) < p
    return u * torch.rand(batch, n, generator=generator, device=p.device) * 2
