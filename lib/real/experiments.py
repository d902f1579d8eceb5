"""The real-model pipeline in a few calls: text and tokenizer from the family parameters, the GPT
family, held-out windows under SmolLM2's tokenizer, and an LM's loss on them. The chapters'
"Real models" sections call these through :mod:`lib.real.section`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lib.real.batched import train_family_batched
from lib.real.corpora import Split, load_documents, split_documents, take_text
from lib.real.family import FamilyParams
from lib.real.tokenizer import TextTokenizer, train_tokenizer
from lib.real.train import FamilyResult, TokenData, TrainConfig, family_grid, train_family


@dataclass
class Text:
    split: Split
    tokenizer: TextTokenizer
    data: TokenData
    train_text: str
    heldout_text: str


def prepare_text(P: FamilyParams) -> Text:
    """Read the corpora, split by document, train the tokenizer on train text only, and
    tokenise the train and held-out samples."""
    split = split_documents(load_documents(tuple(P.corpora)), P.heldout_fraction)
    if not split.train or not split.heldout:
        raise ValueError("the split left no train or no held-out documents; change "
                         "heldout_fraction or corpora")
    tok = train_tokenizer(take_text(split.train, P.tokenizer_chars), P.tokenizer, P.vocab_size)
    train_text = take_text(split.train, P.train_chars)
    heldout_text = take_text(split.heldout, P.heldout_chars)
    data = TokenData(
        train=torch.from_numpy(tok.encode(train_text)),
        heldout=torch.from_numpy(tok.encode(heldout_text)),
        heldout_bytes=len(heldout_text.encode("utf-8")),
        vocab_size=tok.vocab_size,
    )
    return Text(split, tok, data, train_text, heldout_text)


def train_config(P: FamilyParams) -> TrainConfig:
    return TrainConfig(steps=P.steps, batch_size=P.batch_size, block_size=P.block_size,
                       lr=P.lr, warmup_steps=P.warmup_steps, schedule=P.schedule,
                       n_evals=P.n_evals, eval_windows=P.eval_windows)


def run_family(P: FamilyParams, seed: int, data: TokenData, device: torch.device
               ) -> FamilyResult:
    """Train the (width × depth × seed) family, seeds ``seed, seed + 1, …``: one member after
    another, or stacked into one program per width or per architecture (``P.family_batching``;
    ``auto`` loops on a CPU, where ``benchmarks/bench_real.py`` measures the loop faster for
    these sizes, and stacks per width on CUDA)."""
    members = family_grid(P.widths, P.depths, [seed + s for s in range(P.n_seeds)])
    mode, cfg = P.family_batching, train_config(P)
    if mode == "auto":
        mode = "width" if device.type == "cuda" else "loop"
    if mode == "loop":
        return train_family(members, data, cfg, device)
    return train_family_batched(members, data, cfg, device, by=mode)


def lm_windows(tokenizer, text: str, n_windows: int, length: int) -> tuple[torch.Tensor, float]:
    """``n_windows`` evenly spaced windows of ``length`` tokens of ``text`` under an HF
    tokenizer (W, T), and the text's UTF-8 bytes per token (for bits per byte)."""
    ids = torch.tensor(tokenizer(text, add_special_tokens=False).input_ids)  # (N,)
    if ids.numel() < length:
        raise ValueError(f"held-out text has {ids.numel()} tokens, fewer than one window of "
                         f"{length}")
    starts = torch.linspace(0, ids.numel() - length, n_windows).long()  # (W,)
    windows = ids[starts[:, None] + torch.arange(length)]  # (W, T)
    return windows, len(text.encode("utf-8")) / ids.numel()


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
