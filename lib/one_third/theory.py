"""The aligned-ansatz theory of the one-third law (arXiv 2602.03685, §3; the authors'
``tests/test-2.ipynb``), evaluated numerically: no training.

Ansatz: the student stays aligned with the teacher, ``W(τ) = (β/β*) W*/T``, so its logits are
``β z`` where ``z`` are the teacher's logits at unit inverse temperature (≈ i.i.d. N(0, 1) over
the vocabulary). The softmax is a Boltzmann distribution with energies ``ε_i = −z_i``::

    ln Z(β) = ⟨ln Σ_i e^{β z_i}⟩ = −β F(β),     U(β) = ∂(βF)/∂β = −⟨Σ_i q_i z_i⟩   (q = softmax(βz))
    L(β)    = KL(softmax(β* z) ‖ softmax(β z)) = U(β*)(β − β*) + β* F(β*) − β F(β)
    dL/dβ   = U(β*) − U(β)

(⟨·⟩ is the mean over inputs.) At low temperature ``F ≈ −c0 − c1/β − c2/β²`` with
``c0 = √(2 ln V)``, so for ``c0 < β ≪ β*``: ``L ≈ c2/β`` and ``−dL/dβ ≈ c2/β²``. Gradient flow
on the ray, ``dβ/dτ = −κ dL/dβ``, then gives ``β ∝ τ^{1/3}`` and ``L ∝ τ^{-1/3}``. For plain SGD
on the head, ``κ = 1/V`` exactly (project ``dW/dτ = −∇L`` on ``W*``, with the logit variance
``σ² = ‖W*‖²_F/V``), so :meth:`AlignedAnsatz.trajectory` predicts SGD's loss curve with no free
parameter; for Adam ``κ`` is unknown, but the local exponent as a function of the *loss* does
not depend on ``κ`` at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lib.core.fit import Bootstrap, bootstrap, fit_loglog
from lib.one_third.model import flush_denormals

# The authors' numerics (``tests/test-2.ipynb``): β* = 100 (T = 0.01 with unit-variance logits),
# β = linspace(0, 1, 100)·β*; L is fitted on grid points 1..9, −dL/dβ on points 2..59.
PAPER_NUMERICS = {"beta_star": 100.0, "loss_points": (1, 10), "grad_points": (2, 60),
                  "loss_slope": -1.15, "grad_slope": -2.26}


def paper_numerics_windows() -> tuple[np.ndarray, np.ndarray]:
    """The two β grids on which the authors fitted the slopes of L and of −dL/dβ."""
    grid = np.linspace(0.0, 1.0, 100) * PAPER_NUMERICS["beta_star"]
    (a, b), (c, d) = PAPER_NUMERICS["loss_points"], PAPER_NUMERICS["grad_points"]
    return grid[a:b], grid[c:d]


def c0(vocab_size: int) -> float:
    """``√(2 ln V)``: the leading extreme value of ``V`` standard Gaussians (the ground-state
    energy scale; below ``β ≈ c0`` the softmax is in its high-temperature phase)."""
    if vocab_size < 2:
        raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    return math.sqrt(2.0 * math.log(vocab_size))


def gaussian_logits(n_samples: int, vocab_size: int, seed: int = 0) -> torch.Tensor:
    """``z``: ``n_samples`` inputs × ``V`` i.i.d. standard Gaussian logits, float64."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n_samples, vocab_size, generator=g, dtype=torch.float64)  # (n, V)


@dataclass(frozen=True)
class Trajectory:
    """Gradient flow of the aligned ansatz: ``β(τ)`` and ``L(τ)`` on a grid (τ > 0)."""

    tau: np.ndarray
    beta: np.ndarray
    loss: np.ndarray


class AlignedAnsatz:
    """Thermodynamics of softmax(β z) over a sample of logit vectors ``z`` ``(n, V)``.

    Averages are kept per block of inputs (``n_blocks`` equal blocks), so a bootstrap over
    blocks gives Monte-Carlo confidence intervals cheaply (every quantity is linear in the
    per-input ``ln Z`` and ``U``).
    """

    def __init__(self, z: torch.Tensor, n_blocks: int = 40) -> None:
        n = z.shape[0] - z.shape[0] % n_blocks
        if n == 0:
            raise ValueError(f"need at least n_blocks = {n_blocks} samples, got {z.shape[0]}")
        self.z = z[:n].double()  # (n, V)
        self.n_blocks = n_blocks
        self.vocab_size = z.shape[1]

    def stats(self, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Block means of ``ln Z(β)`` and ``U(β)``, each ``(n_blocks, K)``."""
        betas = np.atleast_1d(np.asarray(betas, float))
        log_z = np.empty((self.n_blocks, betas.size))
        energy = np.empty_like(log_z)
        with flush_denormals(self.z.device):  # peaked softmaxes underflow: keep exp fast
            for k, beta in enumerate(betas):
                a = beta * self.z  # (n, V)
                q = torch.softmax(a, dim=-1)  # (n, V)
                # ln Z = max a − ln max q (max q ∈ [1/V, 1]: no cancellation); softmax's own
                # exp stays fast where plain exp of very negative numbers does not
                lse = a.max(-1).values - q.max(-1).values.log()  # (n,)
                u = -(q * self.z).sum(-1)  # (n,)
                log_z[:, k] = lse.view(self.n_blocks, -1).mean(1).cpu().numpy()
                energy[:, k] = u.view(self.n_blocks, -1).mean(1).cpu().numpy()
        return log_z, energy

    def energy_variance(self, betas: np.ndarray) -> np.ndarray:
        """``⟨Var_q(z)⟩ = −dU/dβ``, block means ``(n_blocks, K)``."""
        betas = np.atleast_1d(np.asarray(betas, float))
        out = np.empty((self.n_blocks, betas.size))
        with flush_denormals(self.z.device):
            for k, beta in enumerate(betas):
                q = torch.softmax(beta * self.z, dim=-1)  # (n, V)
                mean = (q * self.z).sum(-1, keepdim=True)  # (n, 1)
                var = (q * (self.z - mean) ** 2).sum(-1)  # (n,)
                out[:, k] = var.view(self.n_blocks, -1).mean(1).cpu().numpy()
        return out

    def decay_rate(self, beta_star: float, kappa: float | None = None) -> float:
        """Rate of the exponential approach to the teacher, ``L ∝ e^{−rate·τ}``: linearising
        the flow at β* gives ``β* − β ∝ e^{−κ Var(β*) τ}`` and ``L ≈ ½ Var(β*) (β* − β)²``, so
        ``rate = 2 κ ⟨Var(β*)⟩`` (``κ = 1/V`` for SGD). When β* < c0 the whole path is in
        this linear regime: the loss converges exponentially, with no power law."""
        kappa = 1.0 / self.vocab_size if kappa is None else kappa
        return float(2.0 * kappa * self.energy_variance([beta_star]).mean())

    def loss_and_grad(self, betas: np.ndarray, beta_star: float
                      ) -> tuple[np.ndarray, np.ndarray]:
        """``L(β) = U(β*)(β − β*) + β*F(β*) − βF(β)`` and
        ``dL/dβ = U(β*) − U(β)`` (≤ 0 below β*), block means, each ``(n_blocks, K)``."""
        betas = np.asarray(betas, float)
        log_z, energy = self.stats(betas)
        log_z_star, u_star = self.stats([beta_star])
        return u_star * (betas - beta_star) - log_z_star + log_z, u_star - energy

    def entropy(self, betas: np.ndarray) -> np.ndarray:
        """Entropy of softmax(β z), ``S = ln Z + β U``, block means ``(n_blocks, K)``."""
        log_z, energy = self.stats(betas)
        return log_z + np.asarray(betas, float) * energy

    def beta_at_entropy(self, target: float, upper: float = 100.0) -> float:
        """The β at which the mean entropy equals ``target`` (it falls monotonically from
        ln V at β = 0), by Brent's method. The paper reads β* = 6.87 off a grid for LLM
        next-token distributions (V = 32000, entropy 1.69 nats, Chinchilla's irreducible loss)."""
        from scipy.optimize import brentq

        return float(brentq(lambda b: self.entropy([b]).mean() - target, 0.0, upper,
                            xtol=1e-6))

    # ---- exponents of L and −dL/dβ in β -------------------------------------------------

    def beta_exponents(self, betas: np.ndarray, beta_star: float, n_boot: int = 400,
                       seed: int = 0) -> dict[str, Bootstrap]:
        """Slopes of ``log L`` and ``log(−dL/dβ)`` against ``log β`` (the paper reports
        −1.15 ± 0.04 and −2.26 ± 0.01 at V = 128), with a bootstrap over input blocks.
        Returned as signed slopes (negative), the way the paper quotes them."""
        betas = np.asarray(betas, float)
        loss, grad = self.loss_and_grad(betas, beta_star)  # (blocks, K) each
        out = {}
        for name, blocks in (("loss", loss), ("grad", -grad)):
            stat = lambda rows: -fit_loglog(betas, rows.mean(0)).exponent  # noqa: E731
            out[name] = bootstrap(stat, blocks, n_boot=n_boot, seed=seed)
        return out

    # ---- gradient flow on the ray: the predicted loss curve ------------------------------

    def trajectory(self, beta_star: float, kappa: float | None = None, n_grid: int = 120,
                   closest: float = 1e-4) -> Trajectory:
        """Integrate ``dβ/dτ = κ (U(β) − U(β*))`` from β = 0 (zero-initialised student):
        ``τ(β) = ∫_0^β dβ' / (κ (U(β') − U(β*)))`` by the trapezoid rule on a grid dense near
        0 and near β*, stopping at ``β* (1 − closest)``. ``κ`` defaults to SGD's ``1/V``."""
        betas = self.trajectory_grid(beta_star, n_grid, closest)
        log_z, energy = self.stats(np.r_[betas, beta_star])
        return flow(betas, log_z.mean(0), energy.mean(0), beta_star,
                    1.0 / self.vocab_size if kappa is None else kappa)

    def trajectory_exponent(self, beta_star: float, window: tuple[float, float],
                            kappa: float | None = None, n_boot: int = 200, seed: int = 0,
                            n_grid: int = 120) -> Bootstrap:
        """Exponent of the predicted ``L(τ)`` fitted in a τ ``window`` (as the runs are),
        with a bootstrap over input blocks."""
        kappa = 1.0 / self.vocab_size if kappa is None else kappa
        betas = self.trajectory_grid(beta_star, n_grid)
        log_z, energy = self.stats(np.r_[betas, beta_star])
        blocks = np.concatenate([log_z, energy], axis=1)  # (n_blocks, 2(K+1))
        k = betas.size + 1

        def stat(rows: np.ndarray) -> float:
            m = rows.mean(0)
            tr = flow(betas, m[:k], m[k:], beta_star, kappa)
            return window_exponent(tr.tau, tr.loss, window)

        return bootstrap(stat, blocks, n_boot=n_boot, seed=seed)

    @staticmethod
    def trajectory_grid(beta_star: float, n_grid: int = 120, closest: float = 1e-4) -> np.ndarray:
        """β grid from 0 to ``β*(1 − closest)``: linear up to ``b = min(1, β*/4)``, geometric in
        β from b to β*/2, then geometric in ``β* − β`` (the time spent near β* grows like a
        logarithm), about a third of the points each."""
        head = min(1.0, beta_star / 4)
        n = max(n_grid // 3, 4)
        lin = np.linspace(0.0, head, n, endpoint=False)
        mid = np.geomspace(head, beta_star / 2, n, endpoint=False)
        gaps = np.geomspace(beta_star / 2, beta_star * closest, n_grid - 2 * n)
        return np.r_[lin, mid, beta_star - gaps]


def flow(betas: np.ndarray, log_z: np.ndarray, energy: np.ndarray, beta_star: float,
         kappa: float) -> Trajectory:
    """The trajectory from mean ``ln Z`` and ``U`` on ``betas`` plus β* (last entry)."""
    u, u_star = energy[:-1], energy[-1]
    inv = 1.0 / (kappa * (u - u_star))  # dτ/dβ
    tau = np.r_[0.0, np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(betas))]
    loss = u_star * (betas - beta_star) - log_z[-1] + log_z[:-1]
    keep = (tau > 0) & (loss > 0)  # next to β* the loss can round to 0 in float64
    return Trajectory(tau[keep], betas[keep], loss[keep])


def window_exponent(tau: np.ndarray, loss: np.ndarray, window: tuple[float, float],
                    n_points: int = 40) -> float:
    """Power-law exponent of a smooth curve ``loss(τ)`` fitted on ``n_points`` log-spaced τ in
    ``window`` (interpolated in log-log), i.e. evenly weighted per decade like the measured runs."""
    lo, hi = window
    if not (tau.min() <= lo < hi <= tau.max()):
        return float("nan")
    grid = np.geomspace(lo, hi, n_points)
    log_l = np.interp(np.log(grid), np.log(tau), np.log(loss))
    return fit_loglog(grid, np.exp(log_l)).exponent
