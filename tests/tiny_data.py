"""Small synthetic inputs shared by several test files."""

import torch


def token_data(n_train: int = 5000, n_heldout: int = 900, vocab: int = 97, seed: int = 0):
    """Random token ids standing in for a tokenised corpus (2 bytes per held-out token)."""
    from lib.real.train import TokenData

    g = torch.Generator().manual_seed(seed)
    return TokenData(train=torch.randint(0, vocab, (n_train,), generator=g),
                     heldout=torch.randint(0, vocab, (n_heldout,), generator=g),
                     heldout_bytes=2 * n_heldout, vocab_size=vocab)
