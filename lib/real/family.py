"""The GPT family of the chapters' "Real models" sections, specified once.

:class:`FamilyParams` holds every knob that determines the family: the text and tokenizer, and
the GPT widths, depths and training. Its defaults are the ``default`` profile;
``book/params/family/<profile>.yaml`` holds the others (``default.yaml`` is empty: the defaults
below). A chapter carries one parameter for all of it, ``family``: overrides of that profile
file, e.g. ``-p family '{steps: 600}'``. :func:`resolve_family` turns a profile and overrides into
validated :class:`FamilyParams` (the chapter's ``check`` calls it, so a bad value fails before
any compute). Every chapter run with the same profile, overrides and seed gets the same family,
which :mod:`lib.real.family_cache` trains once and shares.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field

from lib.core.params import ParameterError, Params, require
from lib.core.results import REPO_ROOT
from lib.real.assets import CORPUS_KEYS

FAMILY_PROFILES = REPO_ROOT / "book" / "params" / "family"

Width = Annotated[int, Field(ge=8, le=4096)]
Depth = Annotated[int, Field(ge=1, le=128)]
Corpus = Literal["sotu", "brown", "shakespeare", "kjv", "moby_dick"]


class FamilyParams(Params):
    """The text, the tokenizer and the self-trained GPT family, each knob with its range."""

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

    # ---- the GPT family ----------------------------------------------------------------------
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

    def check(self) -> None:
        for name in ("widths", "depths"):
            values = getattr(self, name)
            require(len(set(values)) == len(values), name, "values must be distinct")
        require(all(w % 8 == 0 for w in self.widths), "widths",
                "must be multiples of 8 (the attention head size)")
        require(self.fit_from_step < self.steps, "fit_from_step",
                f"must be below steps ({self.steps}) so the fits have points")
        require(self.warmup_steps < self.steps, "warmup_steps",
                f"must be below steps ({self.steps})")
        require(self.heldout_chars >= 4 * self.block_size, "heldout_chars",
                "must hold several context windows")


def _overrides(value: Any) -> Any:
    """A ``family`` value given as text (papermill ``-p family '{steps: 600}'``) read as YAML
    (JSON is YAML too); anything else is left to the dict validation."""
    if isinstance(value, str):
        try:
            return yaml.safe_load(value) or {}
        except yaml.YAMLError:
            return value
    return value


FamilyOverrides = Annotated[dict[str, Any], BeforeValidator(_overrides), Field(
    description="overrides of book/params/family/<profile>.yaml, the GPT family every Real "
                "models section shares (e.g. {steps: 600})")]
"""The type of a chapter's ``family`` parameter: a dict, or its YAML/JSON text."""

# The knobs several chapters' Real models sections share, each declared once (a chapter field
# ``real_probe_windows: ProbeWindows = 4`` reads as its own parameter, with this range and text).
ProbeWindows = Annotated[int, Field(
    ge=1, le=10_000, description="held-out windows for the logit and layer probes")]
ProbeLength = Annotated[int, Field(ge=8, le=2048, description="tokens per probe window")]
BootResamples = Annotated[int, Field(ge=10, le=100_000, description="bootstrap resamples")]
FourTermBoot = Annotated[int, Field(
    ge=10, le=10_000, description="bootstrap resamples of the four-term fits")]
ExponentTol = Annotated[float, Field(
    gt=0.0, le=1.0, description="relative tolerance (fraction of the paper's value) of the width "
                                "and depth exponent claims")]
TauTol = Annotated[float, Field(
    gt=0.0, le=1.0, description="relative tolerance (fraction of 1/3) of the τ-exponent claims")]


def resolve_family(profile: str, overrides: Mapping[str, Any] | None = None,
                   folder: Path = FAMILY_PROFILES) -> FamilyParams:
    """``book/params/family/<profile>.yaml`` with ``overrides`` on top, validated. A bad value
    raises :class:`ParameterError` naming the chapter's ``family`` parameter, the family field
    and its allowed range."""
    path = folder / f"{profile}.yaml"
    if not path.exists():
        raise ParameterError(f"parameter 'family': no family profile {path}")
    values = (yaml.safe_load(path.read_text()) or {}) | dict(overrides or {})
    try:
        return FamilyParams.validated(values)
    except ParameterError as err:
        where = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        raise ParameterError(f"parameter 'family' ({where} with overrides "
                             f"{dict(overrides or {})}): {err}") from None
