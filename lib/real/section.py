"""What a chapter's "Real models" section needs, built on first use and timed.

Each chapter's section makes one :class:`RealSection` from its run and, if it reads the GPT
family, the resolved family parameters (:func:`lib.real.family.resolve_family`), and asks for
what it uses: the text and tokenizer, the shared GPT family (:mod:`lib.real.family_cache`),
SmolLM2 and held-out windows for its probes. Nothing is loaded that the section does not ask
for. The resolved family parameters are written to ``real_family.json``, and
:meth:`RealSection.finish` writes the section's cost (wall and CPU seconds, and whether
the family was trained here or read from the cache) to ``real_section_times.csv`` for the
Performance page.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

import pandas as pd
import torch

from lib.core.chapter import ChapterRun
from lib.real import assets
from lib.real.experiments import Text, lm_windows, prepare_text, run_family
from lib.real.family import FamilyParams
from lib.real.family_cache import shared_family
from lib.real.train import FamilyResult


class RealSection:
    """Lazily built assets of one chapter's real-model section (see the module docstring)."""

    def __init__(self, run: ChapterRun, family: FamilyParams | None = None):
        self.run = run
        self._family_params = family
        self.seed: int = run.params.seed
        self.device: torch.device = run.device
        self._t0 = (time.time(), time.process_time())
        self.family_cached: bool | None = None
        self.family_seconds = 0.0
        self._probes: dict[tuple[int, int], tuple[torch.Tensor, float]] = {}
        corpora = family.corpora if family is not None else []
        assets.require("smollm2", *corpora)  # a clear message if not fetched
        if family is not None:  # provenance: the resolved family, not only its overrides
            run.save_json("real_family", family.model_dump() | {"seed": self.seed})

    @property
    def family_params(self) -> FamilyParams:
        """The family parameters (a section built without them cannot read text or family)."""
        if self._family_params is None:
            raise ValueError("this section was built without family parameters: pass "
                             "RealSection(run, resolve_family(params.profile, params.family))")
        return self._family_params

    @cached_property
    def text(self) -> Text:
        """Corpora split by document, the tokenizer trained on train text, token streams."""
        return prepare_text(self.family_params)

    @cached_property
    def family(self) -> FamilyResult:
        """The (width × depth × seed) GPT family, trained once per key and shared."""
        family, self.family_cached = shared_family(
            self.family_params, self.seed, self.device,
            lambda: run_family(self.family_params, self.seed, self.text.data, self.device))
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

    def probe(self, windows: int, length: int) -> tuple[torch.Tensor, float]:
        """``windows`` held-out windows of ``length`` tokens under SmolLM2's tokenizer (W, T) on
        the device, and bytes per token (built once per shape)."""
        if (windows, length) not in self._probes:
            ids, bytes_per_token = lm_windows(self.smollm2[1], self.text.heldout_text, windows,
                                              length)
            self._probes[windows, length] = ids.to(self.device), bytes_per_token
        return self._probes[windows, length]

    def glue_ci(self, key: str, b: Any, fmt: str = ".2f") -> None:
        """Glue an estimate under ``key`` and its CI under ``key_ci``
        (:meth:`lib.core.chapter.ChapterRun.glue_interval`: one wording of a missing CI)."""
        self.run.glue_interval(key, b, fmt)

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
