"""A small GPT in the spirit of nanoGPT (karpathy/nanoGPT ``model.py``): token and position
embeddings, pre-LayerNorm blocks of causal self-attention and a 4× GELU MLP, a final LayerNorm
and an LM head tied to the token embedding (as in GPT-2, nanoGPT and SmolLM2, so the head rows
*are* the token vectors whose overlaps the superposition section measures).

Names follow GPT-2 (``wte``, ``wpe``, ``c_attn``, ``c_fc``, ``c_proj``) so the code diffs against
nanoGPT. Widths are ``n_embd``; the head size is fixed (``head_dim``) so the number of heads grows
with width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 1024
    block_size: int = 128  # context length
    n_layer: int = 2
    n_embd: int = 64
    head_dim: int = 16  # n_head = n_embd // head_dim
    dropout: float = 0.0

    @property
    def n_head(self) -> int:
        return self.n_embd // self.head_dim

    def __post_init__(self) -> None:
        if self.n_embd % self.head_dim:
            raise ValueError(f"n_embd={self.n_embd} must be a multiple of head_dim="
                             f"{self.head_dim}")


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout
        # nanoGPT's switch: the fused kernel, or the explicit softmax(QKᵀ/√d + causal mask) V.
        # torch.func.vmap has no batching rule for the fused CPU kernel (it returns NaN there), so
        # lib.real.batched switches its skeleton to the explicit path.
        self.flash = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if self.flash:
            y = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
            )  # (B, nh, T, hs)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))  # (B, nh, T, T)
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # (T, T)
            att = F.softmax(att.masked_fill(~causal, float("-inf")), dim=-1)
            y = att @ v  # (B, nh, T, hs); no attention dropout (the family trains without)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (GPT-2, nanoGPT)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; ``non_embedding`` leaves out the token and position tables."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wte.weight.numel() + self.wpe.weight.numel()
        return n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                return_hidden: bool = False, active: torch.Tensor | None = None):
        """``idx`` (B, T) token ids -> logits (B, T, V) and the mean cross-entropy in nats if
        ``targets`` (B, T) are given; with ``return_hidden`` also the residual stream after the
        embedding and after every block, a list of n_layer + 1 tensors (B, T, C).

        ``active`` (n_layer,) bool, optional: blocks marked False are the identity (their output
        is discarded, so they get no gradient). A shallower model padded to this depth with
        inactive blocks computes exactly what it computes alone; :mod:`lib.real.batched` uses
        this to train members of different depths as one program."""
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of length {T} exceeds block_size {self.cfg.block_size}")
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, C)
        hidden = [x]
        for i, block in enumerate(self.h):
            x = block(x) if active is None else torch.where(active[i], block(x), x)  # (B, T, C)
            if return_hidden:
                hidden.append(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        if return_hidden:
            return logits, loss, hidden
        return logits, loss
