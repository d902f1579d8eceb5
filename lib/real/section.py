"""What a chapter's "Real models" section needs, built on first use and timed.

Each chapter's section makes one :class:`RealSection` from its parameters and asks for what it
uses: the text and tokenizer, the shared GPT family (:mod:`lib.real.family_cache`), SmolLM2 and
held-out windows for its probes. Nothing is loaded that the section does not ask for, and
:meth:`RealSection.finish` writes the section's cost (wall and CPU seconds, and whether the family
was trained here or read from the cache) to ``real_section_times.csv`` for the Performance page.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

import pandas as pd
import torch

from lib.core.chapter import ChapterRun
from lib.core.claims import VERDICT_WORD
from lib.core.params import ChapterParams
from lib.real import assets
from lib.real.analysis import ci_text
from lib.real.experiments import Text, lm_windows, prepare_text, run_family
from lib.real.family_cache import shared_family
from lib.real.params import RealParams, real_view
from lib.real.train import FamilyResult

WORD = VERDICT_WORD  # the one vocabulary of lib/core/claims.py


class RealSection:
    """Lazily built assets of one chapter's real-model section (see the module docstring)."""

    def __init__(self, run: ChapterRun, params: ChapterParams):
        self.run = run
        self.P: RealParams = real_view(params)
        self.device: torch.device = run.device
        self._t0 = (time.time(), time.process_time())
        self.family_cached: bool | None = None
        self.family_seconds = 0.0
        assets.require("smollm2", *self.P.corpora)  # a clear message if not fetched

    @cached_property
    def text(self) -> Text:
        """Corpora split by document, the tokenizer trained on train text, token streams."""
        return prepare_text(self.P)

    @cached_property
    def family(self) -> FamilyResult:
        """The (width × depth × seed) GPT family, trained once per key and shared."""
        family, self.family_cached = shared_family(
            self.P, self.device, lambda: run_family(self.P, self.text.data, self.device))
        self.family_seconds = sum(r.seconds for r in family.members)
        return family

    @cached_property
    def frame(self) -> pd.DataFrame:
        """Every held-out evaluation of every family member (one row each)."""
        return self.family.frame()

    @cached_property
    def smollm2(self) -> tuple[Any, Any, dict]:
        """(model, tokenizer, description) of SmolLM2-135M-Instruct from its fp32 cache."""
        from lib.real.smollm import describe, load_smollm2

        model, tok = load_smollm2(self.device)
        return model, tok, describe(model)

    @cached_property
    def probe(self) -> tuple[torch.Tensor, float]:
        """Held-out windows under SmolLM2's tokenizer (W, T) on the device, and bytes/token."""
        ids, bytes_per_token = lm_windows(self.smollm2[1], self.text.heldout_text,
                                          self.P.probe_windows, self.P.probe_length)
        return ids.to(self.device), bytes_per_token

    def glue_ci(self, key: str, b: tuple[float, float, float], fmt: str = ".2f") -> None:
        """Glue an estimate under ``key`` and its CI text under ``key_ci``."""
        self.run.glue(key, b[0], fmt)
        self.run.glue(f"{key}_ci", ci_text(b[1], b[2], fmt))

    def finish(self) -> pd.DataFrame:
        """Write and return the section's cost."""
        wall, cpu = time.time() - self._t0[0], time.process_time() - self._t0[1]
        rows = [{"part": "whole section", "wall_s": wall, "cpu_s": cpu}]
        if self.family_cached is not None:
            rows.append({"part": "GPT family " + ("(read from the shared cache)"
                                                  if self.family_cached else "(trained here)"),
                         "wall_s": 0.0 if self.family_cached else self.family_seconds,
                         "cpu_s": float("nan")})
        times = pd.DataFrame(rows)
        self.run.save_csv("real_section_times", times)
        return times
