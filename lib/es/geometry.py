"""Why a population of ~30 can suffice in millions of dimensions: the geometry of improving
perturbations (Liang et al., arXiv:2602.00170, §5).

Reward ``R(θ) = 1 − ½ θᵀHθ`` probed at ``θ0`` with ``R(θ0) = R0``; a perturbation ``σε``,
``ε ~ N(0, I_D)``, changes it by

    ΔR(ε) = −σ (Hθ0)ᵀε − ½ σ² εᵀHε.

Two curvatures with the same headroom ``1 − R0`` and the same trace ``tr H = k λ``:

- ``low_rank``: ``H = U diag(λ) Uᵀ`` with k stiff directions. Rotating the basis changes nothing
  in the distribution of ΔR (ε is isotropic), so WLOG ``U`` = the first k coordinates. ΔR depends
  only on ``Uᵀε`` (the paper's cylinder set, Eqs. 8–9), so its law is the same for every D.
- ``isotropic``: ``H = (kλ/D) I``; the signal ``(Hθ0)ᵀε`` shrinks like ``D^{-1/2}`` while the
  curvature penalty ``−½σ² (kλ/D) ‖ε‖²`` stays ≈ ``−½σ²kλ``: the chance of improving falls with D.

ΔR is exact in the projections, so for any D it can be drawn from its sufficient statistics
(``Uᵀε`` for low rank; ``uᵀε`` and ``‖ε‖² = (uᵀε)² + χ²_{D−1}`` for isotropic, ``u = θ0/‖θ0‖``).
:func:`sample_delta_r` can also materialise ε ∈ R^D in row chunks; a test checks both laws agree.

Best-of-N (Eq. 10): ``Δ*_N = E[max_{i≤N} ΔR_i]``, normalised by the headroom (Eq. 54). From a pool
of M draws it is computed exactly over all size-N subsets (:func:`best_of_n`), where the paper
averages ≈2000 random subsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

Kind = Literal["low_rank", "isotropic"]


@dataclass(frozen=True)
class Landscape:
    """A quadratic reward in D dimensions with its probe point: ``kind``, ``k`` stiff directions of
    curvature ``lam`` (low rank) or the same trace spread over D (isotropic), ``R(θ0) = r0``."""

    kind: Kind
    dim: int
    k: int
    lam: float
    r0: float

    def __post_init__(self) -> None:
        if self.kind not in ("low_rank", "isotropic"):
            raise ValueError(f"kind must be 'low_rank' or 'isotropic', got {self.kind!r}")
        if not (1 <= self.k <= self.dim):
            raise ValueError(f"need 1 <= k <= dim, got k={self.k}, dim={self.dim}")
        if not (self.r0 < 1 and self.lam > 0):
            raise ValueError("need r0 < 1 (headroom) and lam > 0")

    @property
    def headroom(self) -> float:
        return 1.0 - self.r0

    @property
    def curvature(self) -> float:
        """Eigenvalue of each curved direction: λ (low rank) or kλ/D (isotropic)."""
        return self.lam if self.kind == "low_rank" else self.k * self.lam / self.dim

    @property
    def n_curved(self) -> int:
        return self.k if self.kind == "low_rank" else self.dim

    @property
    def theta0_norm(self) -> float:
        """``‖θ0‖`` with θ0 spread evenly over the curved directions and ½ c ‖θ0‖² = 1 − R0."""
        return math.sqrt(2 * self.headroom / self.curvature)

    @property
    def signal_std(self) -> float:
        """Std of the linear term ``σ‖Hθ0‖ Z`` per unit σ: ``‖Hθ0‖ = c ‖θ0‖``."""
        return self.curvature * self.theta0_norm


def delta_r_from_stats(land: Landscape, sigma: float, proj: torch.Tensor,
                       sq_norm: torch.Tensor) -> torch.Tensor:
    """ΔR from ``proj = uᵀε`` along the gradient direction and ``sq_norm = εᵀ P ε`` (the squared
    norm of ε in the curved subspace)."""
    return -sigma * land.signal_std * proj - 0.5 * sigma**2 * land.curvature * sq_norm


def sample_delta_r(land: Landscape, sigma: float, n: int, generator: torch.Generator,
                   materialise: bool = False, max_elements: int | None = None) -> torch.Tensor:
    """``n`` draws of ΔR (float64, on the generator's device).

    ``materialise=False`` draws the sufficient statistics exactly; ``True`` draws every ε ∈ R^D in
    chunks of rows (at most ``max_elements`` numbers at a time) and evaluates ΔR from ε itself.
    """
    dev = generator.device
    f64 = torch.float64
    if not materialise:
        if land.kind == "low_rank":
            e = torch.randn(n, land.k, generator=generator, device=dev, dtype=f64)  # (n, k)
            proj = e.sum(1) / math.sqrt(land.k)  # u = θ0/‖θ0‖ is uniform on the k coords
            return delta_r_from_stats(land, sigma, proj, (e * e).sum(1))
        proj = torch.randn(n, generator=generator, device=dev, dtype=f64)
        chi2 = _chi2(land.dim - 1, n, generator)
        return delta_r_from_stats(land, sigma, proj, proj * proj + chi2)
    out = torch.empty(n, dtype=f64, device=dev)
    if max_elements is None:  # 16 MB of noise at a time on CPU (cache-friendly), 1 GB on CUDA
        max_elements = 1 << 28 if dev.type == "cuda" else 1 << 22
    rows = max(1, max_elements // land.dim)
    u_scale = 1 / math.sqrt(land.n_curved)
    for start in range(0, n, rows):
        m = min(rows, n - start)
        eps = torch.randn(m, land.dim, generator=generator, device=dev, dtype=torch.float32)
        curved = eps[:, : land.k] if land.kind == "low_rank" else eps  # (m, n_curved)
        proj = curved.sum(1, dtype=f64) * u_scale
        sq = curved.double().pow(2).sum(1)
        out[start: start + m] = delta_r_from_stats(land, sigma, proj, sq)
    return out


def _chi2(dof: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """Exact χ² draws (numpy's gamma sampler) seeded from ``generator``, on its device."""
    if dof == 0:
        return torch.zeros(n, dtype=torch.float64, device=generator.device)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    draws = np.random.default_rng(seed).chisquare(dof, n)
    return torch.tensor(draws, dtype=torch.float64, device=generator.device)


def best_of_n(pool: torch.Tensor, n_max: int) -> torch.Tensor:
    """Exact ``E[max of N draws]`` for N = 1..n_max from each pool (S, M) -> (S, n_max).

    With the pool sorted ascending, ``E[max_N] = Σ_{j=N}^{M} x_(j) C(j−1, N−1) / C(M, N)``: the
    average of the maximum over all size-N subsets (unbiased for i.i.d. draws)."""
    s, m = pool.shape
    if n_max > m:
        raise ValueError(f"n_max = {n_max} exceeds the pool size {m}")
    x = pool.double().sort(dim=1).values  # (S, M)
    j = torch.arange(1, m + 1, dtype=torch.float64, device=pool.device)[None, :]  # (1, M)
    n = torch.arange(1, n_max + 1, dtype=torch.float64, device=pool.device)[:, None]  # (n_max, 1)
    lgam = torch.lgamma
    log_choose_j = lgam(j) - lgam(n) - lgam((j - n + 1).clamp_min(1))  # log C(j−1, N−1)
    log_choose_m = math.lgamma(m + 1) - lgam(n + 1) - lgam(m - n + 1)  # log C(M, N)
    w = torch.where(j >= n, (log_choose_j - log_choose_m).exp(), 0.0)  # (n_max, M)
    return x @ w.T  # (S, n_max)


def improving_fraction(pool: torch.Tensor) -> torch.Tensor:
    """``p_imp = Pr(ΔR > 0)`` per pool: (S, M) -> (S,)."""
    return (pool > 0).double().mean(1)


def saturation_n(curve: np.ndarray, frac: float = 0.9, n_ref: int = 50) -> float:
    """The smallest N (linearly interpolated) at which the best-of-N curve reaches ``frac`` of its
    value at ``n_ref``; ``curve[i]`` is the value at N = i + 1. NaN if ``curve[n_ref-1] <= 0``
    (no improving perturbation expected even at n_ref)."""
    curve = np.asarray(curve, float)
    target = frac * curve[n_ref - 1]
    if not np.isfinite(target) or target <= 0:
        return float("nan")
    above = np.nonzero(curve[:n_ref] >= target)[0]
    i = int(above[0])
    if i == 0:
        return 1.0
    lo, hi = curve[i - 1], curve[i]
    return float(i + (target - lo) / (hi - lo))  # between N = i and N = i + 1


def gaussian_expected_max(n_max: int, points: int = 20001) -> np.ndarray:
    """``E[max of N standard normals]`` for N = 1..n_max by quadrature: the reference best-of-N
    curve of a Gaussian ΔR (its saturation N is a property of Gaussian tails alone)."""
    from scipy import stats

    z = np.linspace(-10, 10, points)
    cdf, pdf = stats.norm.cdf(z), stats.norm.pdf(z)
    n = np.arange(1, n_max + 1)[:, None]
    return np.trapezoid(z * n * cdf ** (n - 1) * pdf, z, axis=1)
