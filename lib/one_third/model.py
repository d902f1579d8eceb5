"""The softmax teacher-student head of "Universal One-third Time Scaling" (arXiv 2602.03685).

A linear head reads an RMS-normalised Gaussian input and produces ``V`` logits (the authors'
``exp/exp-1.py``: ``n_embd = 32``, ``vocab_size = 128``, ``nn.Linear(..., bias=False)``)::

    x ~ N(0, I_d),  x̂ = x / rms(x)                  (input, d = n_embd)
    teacher logits  t = W* x̂ / T                    (W* has nn.Linear's default init U(±1/√d))
    student logits  s = W x̂                         (W starts at exactly zero)
    loss            L = KL(softmax(t) ‖ softmax(s))  (batch mean)

With nn.Linear's init every teacher logit has variance 1/3, so the teacher's inverse temperature
(the logit scale the paper calls β*) is ``1/(√3 T)``. :func:`kl_to_teacher` is the one loss; for
a linear head its gradient is one line, what the batched sweep computes
(:func:`lib.one_third.sweep.head_gradient`, checked against autograd of :func:`kl_to_teacher`
in the tests)::

    dL/dW = (softmax(s) − softmax(t))ᵀ x̂ / B

The sweep carries a leading member dimension ``M``: ``W`` is ``(M, V, d)``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def rmsnorm(x: torch.Tensor) -> torch.Tensor:
    """RMS normalisation over the last dimension, no weight (``F.rms_norm`` as the authors)."""
    return F.rms_norm(x, (x.size(-1),))


def teacher_weight(seed: int, n_embd: int = 32, vocab_size: int = 128) -> torch.Tensor:
    """The teacher matrix of one seed, ``(V, d)``, drawn like nn.Linear's default init
    (``U(−1/√d, 1/√d)``) from its own CPU generator, so it is the same on every device."""
    g = torch.Generator().manual_seed(int(seed))
    bound = 1.0 / math.sqrt(n_embd)
    return (torch.rand(vocab_size, n_embd, generator=g) * 2 - 1) * bound  # (V, d)


def kl_to_teacher(t_logits: torch.Tensor, s_logits: torch.Tensor) -> torch.Tensor:
    """``KL(softmax(t) ‖ softmax(s))`` averaged over the batch (dimension −2).

    Shapes ``(..., B, V)`` -> ``(...)``. Equals the authors' loss
    ``F.kl_div(log_softmax(s), log_softmax(t), reduction='batchmean',
    log_target=True)`` for 2-D inputs. The reference run
    (:func:`lib.one_third.sweep.train_alone`) trains on it by autograd.
    """
    log_p = F.log_softmax(t_logits, dim=-1)  # (..., B, V)
    log_q = F.log_softmax(s_logits, dim=-1)  # (..., B, V)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean(-1)  # (...)


class Head(nn.Module):
    """One linear softmax head, the authors' ``Head``: logits = ``W rmsnorm(x) / T``.

    Used as the one-model-at-a-time reference (tests, benchmark), never in the batched sweep.
    """

    def __init__(self, n_embd: int = 32, vocab_size: int = 128) -> None:
        super().__init__()
        self.head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return self.head(rmsnorm(x)) / temperature  # (B, V)


@contextlib.contextmanager
def flush_denormals(device: torch.device) -> Iterator[None]:
    """Flush subnormal floats to zero on CPU while training (peaked softmaxes underflow into
    the slow subnormal range); restored to torch's default (off) afterwards."""
    on = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if on:
            torch.set_flush_denormal(False)
