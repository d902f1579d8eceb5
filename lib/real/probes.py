"""Measurements on real language models (SmolLM2, and the self-trained GPTs where they apply).

- Representation (superposition, arXiv:2505.10465 §5): mean squared cosine overlap of the
  normalised LM-head / embedding rows, against ``1/m`` (:func:`overlap_stats`, chunked so the
  49,152 × 49,152 Gram matrix is never held), and the distribution of row norms.
- Next-token logits (one-third time, arXiv:2602.03685 §5): how peaked the model's predictions
  are, as an *effective inverse temperature* β*: the β at which i.i.d. Gaussian logits over the
  same vocabulary have the model's mean entropy (:func:`gaussian_entropy_curve`,
  :func:`effective_beta`), against ``c0 = √(2 ln V)``; also the per-position logit spread.
- Layers (inverse depth, arXiv:2602.05970 §4): cosine similarity of successive hidden states,
  the angle between successive residual updates ``Δh_l = h_{l+1} − h_l`` (≈ π/2 for
  ensemble-like layers), and the held-out loss increase when one block is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# ---- representation -------------------------------------------------------------------------


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


# ---- next-token logits ----------------------------------------------------------------------


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


# ---- layers ---------------------------------------------------------------------------------


def decoder_layers(model) -> torch.nn.ModuleList:
    """The list of transformer blocks of an HF Llama-style model or of :class:`lib.real.gpt.GPT`."""
    if hasattr(model, "model") and hasattr(model.model, "layers"):
        return model.model.layers
    if hasattr(model, "h"):
        return model.h
    raise TypeError(f"cannot find the blocks of {type(model).__name__}")


@torch.no_grad()
def residual_stream(model, ids: torch.Tensor) -> torch.Tensor:
    """Hidden states of an HF causal LM: the embedding output and the output of every block
    (before the final norm), stacked as (L + 1, B, T, C). Read with forward hooks, because HF's
    ``hidden_states`` replaces the last block's output by its normalised version."""
    layers = decoder_layers(model)
    states: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        states.append((output[0] if isinstance(output, tuple) else output).detach())

    hooks = [model.get_input_embeddings().register_forward_hook(keep)]
    hooks += [layer.register_forward_hook(keep) for layer in layers]
    try:
        model(ids, use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    return torch.stack(states)  # (L+1, B, T, C)


def layer_geometry(hidden: torch.Tensor, skip_first: int = 1) -> dict[str, np.ndarray]:
    """From hidden states (L + 1, B, T, C): per layer and token, the cosine similarity of
    ``h_l`` and ``h_{l+1}`` (L, N) and the angle in radians between successive updates
    ``Δh_l`` and ``Δh_{l+1}`` (L − 1, N), with N = B·(T − skip_first) tokens. The first
    ``skip_first`` positions (the attention-sink token, whose norm is orders of magnitude
    larger) are left out."""
    h = hidden[:, :, skip_first:].double()  # (L+1, B, T', C)
    h = h.reshape(h.shape[0], -1, h.shape[-1])  # (L+1, N, C)
    cos_h = F.cosine_similarity(h[:-1], h[1:], dim=-1)  # (L, N)
    d = h[1:] - h[:-1]  # (L, N, C)
    cos_d = F.cosine_similarity(d[:-1], d[1:], dim=-1).clamp(-1, 1)  # (L-1, N)
    return {"cos_hidden": cos_h.cpu().numpy(), "update_angle": torch.arccos(cos_d).cpu().numpy()}


@torch.no_grad()
def lm_loss(model, windows: torch.Tensor, batch: int = 4) -> float:
    """Mean next-token loss (nats per token) of an HF causal LM on windows (W, T)."""
    total, count = 0.0, 0
    for i in range(0, windows.shape[0], batch):
        ids = windows[i:i + batch]
        logits = model(ids, use_cache=False).logits  # (b, T, V)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                               ids[:, 1:].reshape(-1), reduction="sum")
        total += float(loss)
        count += ids[:, 1:].numel()
    return total / count


@torch.no_grad()
def skip_block_losses(model, windows: torch.Tensor, blocks: Sequence[int] | None = None,
                      batch: int = 4) -> tuple[float, dict[int, float]]:
    """Held-out loss with every block, and with block ``k`` removed (the residual stream passes
    it unchanged), for each ``k`` in ``blocks`` (default: all). The model is restored after."""
    layers = decoder_layers(model)
    original = list(layers)
    base = lm_loss(model, windows, batch)
    out = {}
    try:
        for k in (range(len(original)) if blocks is None else blocks):
            layers_k = original[:k] + original[k + 1:]
            _set_layers(model, layers_k)
            out[int(k)] = lm_loss(model, windows, batch)
    finally:
        _set_layers(model, original)
    return base, out


def _set_layers(model, layers: list) -> None:
    holder = model.model if hasattr(model, "model") else model
    name = "layers" if hasattr(holder, "layers") else "h"
    setattr(holder, name, torch.nn.ModuleList(layers))
