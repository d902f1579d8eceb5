"""Tokenizers for the self-trained GPT family: raw bytes (256 symbols), or a small byte-level
BPE trained with HF ``tokenizers`` on the *train* split only (never on held-out text).

Both are lossless: ``decode(encode(s)) == s`` for any string, which is what makes bits per byte
(:func:`bits_per_byte`) a fair comparison across tokenizers, including SmolLM2's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class TextTokenizer:
    """``kind`` is 'byte' or 'bpe'; ``backend`` is the trained ``tokenizers.Tokenizer``."""

    kind: str
    vocab_size: int
    backend: object | None = None

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text`` as an int64 array (T,). Long texts are encoded line by line
        (newlines kept, so decoding is still exact): the BPE pre-tokenizer is 2–3× faster on
        lines than on one multi-megabyte string."""
        if self.kind == "byte":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        lines = text.splitlines(keepends=True) or [text]
        ids = [e.ids for e in self.backend.encode_batch(lines)]
        return np.fromiter((i for seq in ids for i in seq), dtype=np.int64)

    def decode(self, ids) -> str:
        ids = [int(i) for i in np.asarray(ids).ravel()]
        if self.kind == "byte":
            return bytes(ids).decode("utf-8", errors="replace")
        return self.backend.decode(ids, skip_special_tokens=False)


def train_tokenizer(text: str, kind: str = "bpe", vocab_size: int = 1024) -> TextTokenizer:
    """A byte tokenizer, or a byte-level BPE with ``vocab_size`` ids trained on ``text``.

    The BPE starts from the 256 byte symbols (so any string encodes, nothing is unknown) and
    learns ``vocab_size − 256`` merges; no special tokens, no added prefix space.
    """
    if kind == "byte":
        return TextTokenizer("byte", 256)
    if kind != "bpe":
        raise ValueError(f"tokenizer kind must be 'byte' or 'bpe', got {kind!r}")
    if vocab_size <= 256:
        raise ValueError(f"a BPE needs vocab_size > 256 (the byte alphabet), got {vocab_size}")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(_chunks(text), trainer=trainer, length=None)
    return TextTokenizer("bpe", tok.get_vocab_size(), tok)


def _chunks(text: str, size: int = 1 << 16):
    """Feed the trainer in pieces (it pre-tokenises each piece independently)."""
    for start in range(0, len(text), size):
        yield text[start:start + size]


def bits_per_byte(nats_per_token: float, n_tokens: int, n_bytes: int) -> float:
    """Convert a mean loss in nats per token to bits per UTF-8 byte of the same text."""
    return nats_per_token * n_tokens / (math.log(2) * n_bytes)
