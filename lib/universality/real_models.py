"""The four-term law on the self-trained GPT family: the "Real models" section of the universality
chapter. Fits reuse :func:`lib.universality.fits.fit_four_term`, with the family's ``τ`` passed in
the data column of that fitter.
"""

from __future__ import annotations

import pandas as pd


def four_term_frame(frame: pd.DataFrame, fit_from_step: int) -> pd.DataFrame:
    """The family's evaluations as the four-term fitter's input: m = width, ℓ = depth,
    the data/time variable = τ (passed as ``num_tokens``), loss = held-out nats per token.
    Diverged members and evaluations before ``fit_from_step`` are left out."""
    f = frame[(frame.step >= fit_from_step) & ~frame.diverged].dropna(subset=["heldout_nats"])
    return pd.DataFrame({"d_model": f.width.astype(float), "n_layers": f.depth.astype(float),
                         "num_tokens": f.tau.astype(float), "loss": f.heldout_nats.astype(float)})
