"""Inverse depth on real language models (arXiv:2602.05970 §4): the "Real models" section of the
inverse-depth chapter.

Layers of SmolLM2: the cosine similarity of successive hidden states, the angle between
successive residual updates ``Δh_l = h_{l+1} − h_l`` (≈ π/2 for ensemble-like layers), and the
held-out loss increase when one block is skipped. The family's depth exponent is a four-term fit
(:func:`lib.universality.real_models.four_term_frame`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from lib.real.experiments import lm_loss

# ---- layers -------------------------------------------------------------------------------


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


def middle_layers(n_updates: int, frac: float = 0.1) -> np.ndarray:
    """Indices of the 'middle' entries of a per-layer profile of length ``n_updates``: the
    first and last ``frac`` (at least one each) are left out, as the papers single out the
    first and last layers (they rotate the state by ≈ π/2)."""
    cut = max(1, int(round(frac * n_updates)))
    return np.arange(cut, n_updates - cut)
