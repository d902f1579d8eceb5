"""The paper's minimal model: stochastic ascent on a quadratic reward, mode by mode.

Liang et al. (arXiv:2602.00170, §4 and App. A) take the reward near a maximiser to be
``J(x) = J* − ½ xᵀ C x`` (Eq. 13) and model fine-tuning as the linear recursion (Eq. 7 = Eq. 14)

    x_{t+1} = (I − α C) x_t + (α σ / √N) ξ_t,        ξ_t ~ N(0, I_D),

whose noise ``σ²/N`` stands for the variance of an N-sample gradient estimate (a modelling choice
of the paper, not derived from its estimator). In the eigenbasis of ``C`` every mode ``i`` is an
AR(1) process ``x ← a_i x + b ξ`` with ``a_i = 1 − αλ_i`` and ``b = ασ/√N`` (Eq. 15), so the
expected reward has a closed form (Eqs. 16–21):

    E[x_t] = a^t x_0,   Var[x_t] = a^{2t} v_0 + b² (1 − a^{2t}) / (1 − a²),
    E[J_t] = J* − ½ Σ_i λ_i (E[x_t]² + Var[x_t]).

A spectrum is given as ``(λ_i, x0_i, count_i)`` blocks, so 10⁴ identical flat modes cost one
row. Everything here is float64 and device-agnostic; the Monte Carlo is batched over a leading
member dimension (population sizes × replicates) and the modes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Spectrum:
    """Blocks of identical modes: curvature ``lam[i]``, start ``x0[i]`` (start variance
    ``v0[i]``, 0 = deterministic start), ``count[i]`` modes each; ``j_star`` is the maximum."""

    lam: tuple[float, ...]
    x0: tuple[float, ...]
    count: tuple[int, ...]
    v0: tuple[float, ...] | None = None
    j_star: float = 1.0

    def __post_init__(self) -> None:
        n = len(self.lam)
        if not (len(self.x0) == len(self.count) == n) or (self.v0 and len(self.v0) != n):
            raise ValueError("lam, x0, count (and v0) must have one entry per block")
        if any(c < 1 for c in self.count) or any(v < 0 for v in self.lam):
            raise ValueError("counts must be >= 1 and curvatures >= 0")

    @classmethod
    def two_block(cls, n_stiff: int, lam_stiff: float, x0_stiff: float,
                  n_flat: int, lam_flat: float, x0_flat: float) -> Spectrum:
        """The paper's Fig. 3 shape: ``n_stiff`` modes at ``lam_stiff``, ``n_flat`` at
        ``lam_flat``."""
        return cls((lam_stiff, lam_flat), (x0_stiff, x0_flat), (n_stiff, n_flat))

    @property
    def dim(self) -> int:
        return int(sum(self.count))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        v0 = self.v0 if self.v0 is not None else (0.0,) * len(self.lam)
        return (np.asarray(self.lam, float), np.asarray(self.x0, float),
                np.asarray(self.count, float), np.asarray(v0, float))

    def expand(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Per-mode curvatures and starts, each of shape (D,), float64."""
        lam, x0, count, _ = self.arrays()
        reps = torch.tensor(count.astype(int), device=device)
        lam_t = torch.repeat_interleave(torch.tensor(lam, device=device), reps)  # (D,)
        x0_t = torch.repeat_interleave(torch.tensor(x0, device=device), reps)  # (D,)
        return lam_t.double(), x0_t.double()

    def initial_reward(self) -> float:
        lam, x0, count, v0 = self.arrays()
        return float(self.j_star - 0.5 * np.sum(count * lam * (x0**2 + v0)))


def check_stable(spec: Spectrum, alpha: float) -> None:
    """The recursion is stable iff ``0 < α λ < 2`` for every curved mode (paper, §4)."""
    lam_max = max(spec.lam)
    if alpha * lam_max >= 2:
        raise ValueError(f"α λ_max = {alpha * lam_max:g} >= 2: the recursion diverges")


def noise_scale(alpha: float, sigma: float, pop_size: float) -> float:
    """``b = α σ / √N``: the per-step noise of the paper's Eq. 14."""
    return alpha * sigma / math.sqrt(pop_size)


def stationary_variance(lam: np.ndarray, alpha: float, sigma: float, pop_size: float
                        ) -> np.ndarray:
    """Eq. 17: ``v∞ = α σ² / (N λ (2 − α λ))`` per curved mode (inf where λ = 0)."""
    lam = np.asarray(lam, float)
    with np.errstate(divide="ignore"):
        return alpha * sigma**2 / (pop_size * lam * (2 - alpha * lam))


def unrelaxed_fraction(spec: Spectrum, alpha: float, steps: int) -> float:
    """``max_i (1 − α λ_i)^{2 t}`` over the curved modes at ``t = steps``: the share of a
    mode's distance from its stationary moments (mean² and variance, Eq. 16) still left after
    ``steps`` steps, for the slowest mode. A plateau window that starts where this is above
    1 % is not a plateau yet (the regime premise of the plateau claims)."""
    lam, _, _, _ = spec.arrays()
    curved = lam[lam > 0]
    return float(np.max(np.abs(1 - alpha * curved)) ** (2 * steps))


def plateau_gap(spec: Spectrum, alpha: float, sigma: float, pop_size: float) -> float:
    """Eq. 19: ``J* − J∞ = (α σ² / 2N) Σ_{λ_i > 0} 1 / (2 − α λ_i)``; every curved mode adds
    about ``α σ² / 4N`` whatever its curvature."""
    lam, _, count, _ = spec.arrays()
    curved = lam > 0
    per_mode = count[curved] / (2 - alpha * lam[curved])
    return float(alpha * sigma**2 / (2 * pop_size) * np.sum(per_mode))


def mode_moments(spec: Spectrum, alpha: float, sigma: float, pop_size: float, steps: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 16: mean and variance of each block's modes at t = 0..steps, shape (steps+1, blocks)."""
    lam, x0, _, v0 = spec.arrays()
    a = 1 - alpha * lam  # (K,)
    b2 = noise_scale(alpha, sigma, pop_size) ** 2
    t = np.arange(steps + 1, dtype=float)[:, None]  # (T+1, 1)
    a2t = np.abs(a) ** (2 * t)  # (T+1, K)
    mean = a**t * x0  # a^t x0 (t is integer-valued, so negative a is fine)
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = np.where(np.isclose(a**2, 1.0), t, (1 - a2t) / (1 - a**2))  # Σ_{s<t} a^{2s}
    var = a2t * v0 + b2 * geometric
    return mean, var


def expected_reward(spec: Spectrum, alpha: float, sigma: float, pop_size: float, steps: int
                    ) -> np.ndarray:
    """Eq. 18: the exact expected reward ``E[J_t]`` for t = 0..steps, shape (steps+1,)."""
    lam, _, count, _ = spec.arrays()
    mean, var = mode_moments(spec, alpha, sigma, pop_size, steps)
    return spec.j_star - 0.5 * ((mean**2 + var) * (count * lam)).sum(axis=1)


def decay_terms(spec: Spectrum, alpha: float, sigma: float, pop_size: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Eqs. 20–21: ``E[J_t] − J∞ = Σ_i A_i e^{−γ_i t}`` with, per block (all its modes),
    ``A = −½ λ count (x0² + v0 − v∞)`` and ``γ = −2 log|1 − αλ|``. Flat (λ = 0) blocks give 0."""
    lam, x0, count, v0 = spec.arrays()
    curved = lam > 0
    v_inf = np.where(curved, stationary_variance(np.where(curved, lam, 1.0), alpha, sigma,
                                                 pop_size), 0.0)
    amp = np.where(curved, -0.5 * lam * count * (x0**2 + v0 - v_inf), 0.0)
    with np.errstate(divide="ignore"):
        gamma = -2 * np.log(np.abs(1 - alpha * lam))
    return amp, gamma


def t_peak_two_block(spec: Spectrum, alpha: float, sigma: float, pop_size: float) -> float:
    """Eq. 25 for two blocks (stiff first): ``t_peak = log(γ_hi |A_hi| / (γ_lo A_lo)) /
    (γ_hi − γ_lo)``. Exact for the expected reward in continuous t. NaN when there is no peak
    (the stiff block must start above its noise floor, A_hi < 0, and the flat one below, A_lo > 0).
    """
    if len(spec.lam) != 2:
        raise ValueError("t_peak_two_block needs exactly two blocks (stiff, flat)")
    amp, gamma = decay_terms(spec, alpha, sigma, pop_size)
    hi, lo = (0, 1) if gamma[0] > gamma[1] else (1, 0)
    if not (amp[hi] < 0 < amp[lo]):
        return float("nan")
    ratio = gamma[hi] * abs(amp[hi]) / (gamma[lo] * amp[lo])
    return float(np.log(ratio) / (gamma[hi] - gamma[lo]))


def peak_of(curve: np.ndarray) -> tuple[int, float]:
    """Index and value of the maximum of a reward curve (first occurrence)."""
    i = int(np.nanargmax(curve))
    return i, float(curve[i])


def simulate(spec: Spectrum, alpha: float, sigma: float, pop_sizes: torch.Tensor, steps: int,
             generator: torch.Generator) -> torch.Tensor:
    """Monte Carlo of Eq. 14 for a chunk of members: member ``m`` runs with population size
    ``pop_sizes[m]`` from the spectrum's start. All members and all D modes advance in one tensor
    op per step; the reward of every member is logged at every step.

    Returns the rewards, shape (M, steps + 1), float64, on the generator's device.
    """
    device = generator.device
    lam, x0 = spec.expand(device)  # (D,), (D,)
    _, _, _, v0 = spec.arrays()
    members = pop_sizes.numel()
    a = 1 - alpha * lam  # (D,)
    b = (alpha * sigma / pop_sizes.to(device, torch.float64).sqrt())[:, None]  # (M, 1)
    x = x0.expand(members, -1).clone()  # (M, D)
    if np.any(v0 > 0):
        v0_t = torch.repeat_interleave(torch.tensor(v0, device=device),
                                       torch.tensor(spec.count, device=device))
        x += v0_t.sqrt() * torch.randn(x.shape, generator=generator, device=device,
                                       dtype=torch.float64)
    half_lam = 0.5 * lam  # (D,)
    rewards = torch.empty(members, steps + 1, dtype=torch.float64, device=device)
    noise = torch.empty_like(x)
    rewards[:, 0] = spec.j_star - (half_lam * x * x).sum(1)
    for t in range(1, steps + 1):
        torch.randn(x.shape, generator=generator, out=noise, dtype=torch.float64)
        x.mul_(a).addcmul_(b.expand_as(x), noise)  # x ← a x + b ξ
        rewards[:, t] = spec.j_star - (half_lam * x * x).sum(1)
    return rewards


def quadratic_reward(lam: torch.Tensor, j_star: float = 1.0):
    """``θ ↦ J* − ½ Σ_i λ_i θ_i²`` for a batch of points (M, D) -> (M,): the quadratic in its
    eigenbasis, as a reward function for the real ES update (:mod:`lib.es.estimator`)."""

    def reward(theta: torch.Tensor) -> torch.Tensor:
        return j_star - 0.5 * (theta * theta * lam.to(theta.dtype)).sum(-1)

    return reward


def simulate_memory_bytes(members: int, dim: int, steps: int) -> int:
    """What :func:`simulate` holds for a chunk (float64): the state and the noise (2 × M × D),
    the per-mode constants (3 × D) and the reward log (M × (steps + 1))."""
    return 8 * (2 * members * dim + 3 * dim + members * (steps + 1))
