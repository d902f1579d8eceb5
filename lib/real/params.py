"""Parameters of the "Real models" sections of the chapters.

:class:`RealParams` holds every knob of ``lib.real`` under its plain name (``widths``, ``steps``,
...); its defaults are the ``default`` profile. A chapter does not use it directly: its parameter
model inherits one of the mixins below (``RealSuperpositionFields``, ...), which carry the fields
that chapter's section needs under a ``real_`` prefix (``real_widths``, ``real_steps``, ...), with
the same ranges and descriptions, so they never clash with the toy's own parameters and show up in
the chapter's re-run box. :func:`real_view` turns a chapter's parameters back into a validated
:class:`RealParams` for the ``lib.real`` functions; fields a chapter does not carry keep their
defaults. Chapters that share a field group (text, GPT family) get the same family from
:mod:`lib.real.family_cache` when their values agree.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from lib.core.params import ChapterParams, ParameterError, require
from lib.real.assets import CORPUS_KEYS

Width = Annotated[int, Field(ge=8, le=4096)]
Depth = Annotated[int, Field(ge=1, le=128)]
PoolN = Annotated[int, Field(ge=1, le=10_000)]
Corpus = Literal["sotu", "brown", "shakespeare", "kjv", "moby_dick"]


class RealParams(ChapterParams):
    """Every knob of the page, with its allowed range."""

    # ---- text and tokenizer ------------------------------------------------------------------
    corpora: list[Corpus] = Field(
        list(CORPUS_KEYS), min_length=1, max_length=5,
        description="packaged public-domain corpora to read (State of the Union, Brown, "
                    "Shakespeare, KJV, Moby Dick)")
    heldout_fraction: float = Field(
        0.1, gt=0.0, lt=0.5, description="share of documents held out (chosen by a hash of "
                                          "each document's name)")
    tokenizer: Literal["bpe", "byte"] = Field(
        "bpe", description="byte-level BPE trained on the train split, or raw bytes")
    vocab_size: int = Field(1024, ge=257, le=65_536, description="BPE vocabulary (bpe only)")
    tokenizer_chars: int = Field(
        1_000_000, ge=10_000, le=100_000_000,
        description="train-split characters the BPE is trained on")
    train_chars: int = Field(
        3_000_000, ge=10_000, le=200_000_000, description="train-split characters tokenised "
                                                          "for the GPT family")
    heldout_chars: int = Field(
        300_000, ge=5_000, le=50_000_000, description="held-out characters tokenised for "
                                                      "evaluation")

    # ---- the self-trained GPT family -----------------------------------------------------------
    widths: list[Width] = Field([32, 64, 128], min_length=2, max_length=12,
                                description="GPT widths n_embd (multiples of 8)")
    depths: list[Depth] = Field([1, 2, 4], min_length=2, max_length=12,
                                description="GPT depths (blocks)")
    n_seeds: int = Field(1, ge=1, le=16, description="seeds per (width, depth)")
    steps: int = Field(300, ge=5, le=1_000_000, description="AdamW steps per model")
    batch_size: int = Field(16, ge=1, le=4096, description="sequences per step")
    block_size: int = Field(64, ge=8, le=4096, description="context length (tokens)")
    lr: float = Field(
        3e-3, gt=0.0, le=1.0,
        description="peak learning rate η (best of 1e-3, 3e-3, 1e-2, 2e-2 for m = 64, ℓ = 2 at "
                    "300 steps)")
    warmup_steps: int = Field(30, ge=0, le=100_000, description="linear warm-up steps")
    schedule: Literal["constant", "cosine"] = Field(
        "constant", description="learning rate after warm-up; τ = Σ η_t is recorded either way")
    n_evals: int = Field(24, ge=3, le=500, description="held-out evaluations, log-spaced")
    eval_windows: int = Field(64, ge=2, le=100_000, description="held-out windows per "
                                                                 "evaluation")
    fit_from_step: int = Field(
        30, ge=1, le=1_000_000,
        description="evaluations from this step on enter the τ-exponent and four-term fits")
    family_batching: Literal["auto", "loop", "width", "architecture"] = Field(
        "auto",
        description="how the family trains: auto (a loop on a CPU, measured faster there; one "
                    "stacked program per width on CUDA), loop, width or architecture "
                    "(lib/real/batched.py)")

    # ---- SmolLM2 probes ------------------------------------------------------------------------
    overlap_rows: int = Field(
        4096, ge=0, le=1_000_000,
        description="LM-head rows per random subset for the overlap statistic (0: all 49,152)")
    overlap_subsets: int = Field(4, ge=1, le=64, description="independent row subsets (CI)")
    probe_windows: int = Field(4, ge=1, le=10_000,
                               description="held-out windows for the logit and layer probes")
    probe_length: int = Field(128, ge=8, le=2048, description="tokens per probe window")
    skip_windows: int = Field(2, ge=1, le=10_000,
                              description="held-out windows for the block-skipping losses")
    skip_every: int = Field(1, ge=1, le=64,
                            description="skip every k-th block (1: each block in turn)")

    # ---- ES on SmolLM2 -------------------------------------------------------------------------
    es_style: Literal["arithmetic", "word"] = Field(
        "arithmetic", description="reward task: bare arithmetic or word problems (generated)")
    es_prompts: int = Field(16, ge=1, le=10_000, description="prompts in the reward pool")
    es_sigma: float = Field(1e-3, gt=0.0, le=1.0, description="perturbation scale σ")
    es_alpha: float = Field(5e-4, gt=0.0, le=1.0, description="ES step size α")
    es_population: int = Field(8, ge=2, le=1024, description="ES population N")
    es_iterations: int = Field(2, ge=1, le=100_000, description="ES iterations")
    es_max_new_tokens: int = Field(5, ge=1, le=512, description="greedy tokens per answer")
    bestofn_pool: int = Field(
        0, ge=0, le=100_000,
        description="perturbations M of the best-of-N probe; 0 reuses the ES run's first "
                    "population")
    bestofn_ns: list[PoolN] = Field([1, 2, 4, 8], min_length=1, max_length=20,
                                    description="N of the best-of-N curve")

    # ---- fits and verdicts --------------------------------------------------------------------
    n_boot: int = Field(500, ge=10, le=100_000, description="bootstrap resamples")
    tau_boot: int = Field(
        200, ge=10, le=10_000,
        description="bootstrap resamples of the τ-exponent fit of the claim's member (~50 ms "
                    "each)")
    four_term_boot: int = Field(100, ge=10, le=10_000,
                                description="bootstrap resamples of the four-term fits")
    exponent_tol: float = Field(0.2, gt=0.0, le=1.0,
                                description="relative tolerance (fraction of the paper's value) "
                                            "of the width and depth exponent claims")
    tau_tol: float = Field(0.3, gt=0.0, le=1.0,
                           description="relative tolerance (fraction of 1/3) of the τ-exponent "
                                       "claims")
    angle_tol: float = Field(0.2, gt=0.0, le=1.6,
                             description="tolerance (radians) of the update-angle claim")

    def check(self) -> None:
        for name in ("widths", "depths", "bestofn_ns"):
            values = getattr(self, name)
            require(len(set(values)) == len(values), name, "values must be distinct")
        require(all(w % 8 == 0 for w in self.widths), "widths",
                "must be multiples of 8 (the attention head size)")
        require(self.fit_from_step < self.steps, "fit_from_step",
                f"must be below steps ({self.steps}) so the fits have points")
        require(self.warmup_steps < self.steps, "warmup_steps", f"must be below steps "
                                                                f"({self.steps})")
        pool = self.bestofn_pool or self.es_population
        require(max(self.bestofn_ns) <= pool, "bestofn_ns",
                f"N cannot exceed the perturbation pool ({pool})")
        require(self.heldout_chars >= 4 * self.block_size, "heldout_chars",
                "must hold several context windows")


# ---- the chapters' view: prefixed field groups ------------------------------------------------

PREFIX = "real_"
TEXT = ("corpora", "heldout_fraction", "tokenizer", "vocab_size", "tokenizer_chars",
        "train_chars", "heldout_chars")
FAMILY = ("widths", "depths", "n_seeds", "steps", "batch_size", "block_size", "lr",
          "warmup_steps", "schedule", "n_evals", "eval_windows", "fit_from_step",
          "family_batching")
PROBE = ("probe_windows", "probe_length")
ES = ("es_style", "es_prompts", "es_sigma", "es_alpha", "es_population", "es_iterations",
      "es_max_new_tokens", "bestofn_pool", "bestofn_ns")


def _prefixed(name: str, fields: tuple[str, ...]) -> type[BaseModel]:
    """A pydantic mixin with ``real_<field>`` copies of RealParams' fields (same type, default,
    range and description)."""
    spec: dict[str, Any] = {}
    for f in fields:
        info = RealParams.model_fields[f]
        spec[PREFIX + f] = (info.annotation, Field(info.default, description=info.description,
                                                   **_constraints(info)))
    return create_model(name, __base__=BaseModel, __doc__=f"``real_`` fields: {fields}", **spec)


def _constraints(info: Any) -> dict[str, Any]:
    out = {}
    for m in info.metadata:
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            v = getattr(m, attr, None)
            if v is not None:
                out[attr] = v
    return out


RealSuperpositionFields = _prefixed(
    "RealSuperpositionFields",
    TEXT + FAMILY + ("overlap_rows", "overlap_subsets", "n_boot", "exponent_tol"))
RealOneThirdFields = _prefixed(
    "RealOneThirdFields", TEXT + FAMILY + PROBE + ("n_boot", "tau_boot", "tau_tol"))
RealDepthFields = _prefixed(
    "RealDepthFields",
    TEXT + FAMILY + PROBE + ("skip_windows", "skip_every", "n_boot", "four_term_boot",
                             "exponent_tol", "angle_tol"))
RealEsFields = _prefixed("RealEsFields", ES + ("n_boot",))
RealUniversalityFields = _prefixed(
    "RealUniversalityFields",
    TEXT + FAMILY + PROBE + ("four_term_boot", "exponent_tol", "tau_tol"))


def real_view(params: ChapterParams) -> RealParams:
    """The chapter's ``real_*`` fields (plus seed, device, profile) as a validated RealParams.
    A failed cross-check names the chapter's prefixed parameter."""
    values = {k.removeprefix(PREFIX): v for k, v in params.model_dump().items()
              if k.startswith(PREFIX)}
    values |= {"profile": params.profile, "seed": params.seed, "device": params.device}
    try:
        return RealParams.validated(values)
    except ParameterError as err:
        own = set(values) - {"profile", "seed", "device"}

        def rename(m: re.Match) -> str:
            name = m.group(1)
            return f"parameter '{PREFIX + name if name in own else name}'"

        raise ParameterError(re.sub(r"parameter '(\w+)'", rename, str(err))) from None


def check_real(params: ChapterParams) -> None:
    """Cross-checks of a chapter's ``real_*`` fields (call from the chapter's ``check``)."""
    real_view(params)
