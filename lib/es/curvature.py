"""Curvature of a real reward without forming its Hessian: Hessian-vector products (double
backpropagation), Lanczos for the top eigenvalues (scipy ``eigsh``), Hutchinson for ``tr(C²)``.

The quadratic model writes ``J = J* − ½ xᵀ C x``, so its curvature is ``C = −∇²R``: positive
eigenvalues are *stiff* directions (moving either way lowers the reward), negative ones are
directions where the reward still curves upward. How few directions dominate is measured by the
share of the squared curvature ``tr(C²) = Σ λ_i²`` that the top-k eigenvalues (by magnitude)
carry.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

ScalarFn = Callable[[torch.Tensor], torch.Tensor]  # (D,) -> ()


def hvp(f: ScalarFn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``∇²f(θ) v`` by double backpropagation, ``∇(∇f(θ)·v)``: (D,), (D,) -> (D,)."""
    th = theta.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(th), th, create_graph=True)
    (hv,) = torch.autograd.grad(g, th, grad_outputs=v)
    return hv.detach()


def curvature_operator(f: ScalarFn, theta: torch.Tensor) -> LinearOperator:
    """``C = −∇²f(θ)`` as a scipy LinearOperator in float64 (the products run in θ's dtype and
    device)."""
    dim = theta.numel()

    def matvec(v: np.ndarray) -> np.ndarray:
        vt = torch.as_tensor(np.ascontiguousarray(v).ravel(), dtype=theta.dtype,
                             device=theta.device)
        return -hvp(f, theta, vt).detach().cpu().double().numpy()

    return LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)


def top_eigenvalues(f: ScalarFn, theta: torch.Tensor, k: int, seed: int = 0,
                    tol: float = 1e-6) -> np.ndarray:
    """The ``k`` eigenvalues of ``C = −∇²f(θ)`` largest in magnitude, sorted by |λ| descending
    (implicitly restarted Lanczos, scipy ``eigsh(which='LM')``)."""
    op = curvature_operator(f, theta)
    k = min(k, theta.numel() - 1)
    v0 = np.random.default_rng(seed).standard_normal(theta.numel())
    vals = eigsh(op, k=k, which="LM", v0=v0, tol=tol, return_eigenvectors=False)
    return vals[np.argsort(-np.abs(vals))]


def squared_curvature_trace(f: ScalarFn, theta: torch.Tensor, probes: int,
                            generator: torch.Generator) -> tuple[float, float]:
    """Hutchinson estimate of ``tr(C²) = E‖C v‖²`` with Rademacher ``v``; returns the mean and
    its standard error over probes."""
    vals = []
    for _ in range(probes):
        v = torch.randint(0, 2, theta.shape, generator=generator, device=theta.device)
        v = (2 * v - 1).to(theta.dtype)
        vals.append(float(hvp(f, theta, v).pow(2).sum()))
    arr = np.asarray(vals)
    return float(arr.mean()), float(arr.std(ddof=1) / np.sqrt(len(arr))) if len(arr) > 1 else 0.0


def dense_curvature(f: ScalarFn, theta: torch.Tensor) -> torch.Tensor:
    """The full ``C = −∇²f(θ)`` (D, D); for tests and small models only."""
    return -torch.autograd.functional.hessian(f, theta)


def participation_ratio(eigs: np.ndarray) -> float:
    """``(Σ|λ|)² / Σλ²``: the number of directions that share the curvature evenly."""
    eigs = np.abs(np.asarray(eigs, float))
    return float(eigs.sum() ** 2 / np.sum(eigs**2))
