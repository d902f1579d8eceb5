"""Parameters of the chapter ``one_third_time``; the defaults are the CPU ``default`` profile.

The grids are CPU-sized sub-grids of the paper's (``exp/exp-1.py``: Adam lr logspace(−3, 0, 12)
× T logspace(−3, 0, 8); ``exp/exp-1-1.py``: SGD lr logspace(−2, 1, 12)); ``full.yaml`` has the
paper's grids. Steps, batch and model size are the paper's exp-1 values.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from lib.core.params import ChapterParams, ChunkMembers, require
from lib.real.family import (
    BootResamples,
    FamilyOverrides,
    ProbeLength,
    ProbeWindows,
    TauTol,
    resolve_family,
)

PositiveLr = Annotated[float, Field(gt=0, le=1000)]
Temperature = Annotated[float, Field(gt=0, le=100)]
TauBound = Annotated[float, Field(gt=0, le=1e12)]


class OneThirdParams(ChapterParams):
    """Softmax teacher-student head: lr × temperature × seed sweeps for Adam and SGD."""

    n_embd: int = Field(32, ge=2, le=1024, description="input width d of the head")
    vocab_size: int = Field(128, ge=2, le=65536, description="number of logits V")
    batch_size: int = Field(1024, ge=16, le=65536, description="fresh inputs per step")
    steps: int = Field(2000, ge=10, le=10_000_000, description="training steps of every run")
    n_logs: int = Field(40, ge=8, le=2000,
                        description="test-loss measurements, geometrically spaced in steps")
    test_batches: int = Field(2, ge=1, le=64, description="fresh batches per test loss")
    n_seeds: int = Field(3, ge=1, le=64,
                         description="seeds (teacher + data) per cell: seed, seed+1, ...")
    adam_lrs: list[PositiveLr] = Field([1e-3, 1e-2, 1e-1, 1.0], min_length=1,
                                       description="Adam learning rates of the sweep")
    sgd_lrs: list[PositiveLr] = Field([1e-2, 1e-1, 1.0, 10.0], min_length=1,
                                      description="SGD learning rates of the sweep")
    temperatures: list[Temperature] = Field(
        [1e-3, 1e-2, 1e-1, 1.0], min_length=1,
        description="teacher temperatures T (β* ≈ 0.577/T); the lowest is the peaked regime")
    adam_fit_lrs: list[PositiveLr] = Field(
        [1e-1], min_length=1,
        description="Adam lr (first entry, from adam_lrs) of the hot-teacher contrast; the "
                    "peaked-regime claims use every lr that passes the regime test")
    sgd_fit_lrs: list[PositiveLr] = Field(
        [10.0], min_length=1,
        description="SGD lr (first entry, from sgd_lrs) of the hot-teacher contrast; the "
                    "peaked-regime claims use every lr that passes the regime test")
    adam_window: list[TauBound] = Field([5.0, 200.0], min_length=2, max_length=2,
                                        description="τ window [lo, hi] of the Adam fit")
    sgd_window: list[TauBound] = Field([1e3, 2e4], min_length=2, max_length=2,
                                       description="τ window [lo, hi] of the SGD fit")
    map_decades: float = Field(1.0, gt=0, le=8,
                               description="exponent map: fit the last this many decades of τ")
    loss_floor: float = Field(1e-9, gt=0, lt=1,
                              description="losses below this count as converged (not fitted)")
    tolerance: float = Field(0.15, gt=0, le=1,
                             description="relative tolerance of the exponent and rate claims "
                                         "(0.15: ±0.05 around 1/3)")
    theory_tolerance: float = Field(0.05, gt=0, le=1,
                                    description="relative tolerance of the reproduced "
                                                "aligned-ansatz slopes (paper: −1.15, −2.26)")
    n_boot: int = Field(1000, ge=50, le=100_000, description="bootstrap resamples")
    theory_samples: int = Field(8000, ge=200, le=2_000_000,
                                description="Monte-Carlo logit vectors for the theory")
    chunk_members: ChunkMembers = 0

    # ---- Real models section: the shared GPT family, and this section's own knobs ----
    family: FamilyOverrides = {}
    real_probe_windows: ProbeWindows = 4
    real_probe_length: ProbeLength = 128
    real_n_boot: BootResamples = 500
    real_tau_boot: int = Field(
        200, ge=10, le=10_000,
        description="bootstrap resamples of the τ-exponent fit of the claim's member (~50 ms "
                    "each)")
    real_tau_tol: TauTol = 0.3

    def check(self) -> None:
        resolve_family(self.profile, self.family)  # the shared GPT family, validated
        require(self.n_logs <= self.steps, "n_logs",
                f"{self.n_logs} log points need at least as many steps (steps = {self.steps})")
        for name in ("adam_window", "sgd_window"):
            lo, hi = getattr(self, name)
            require(lo < hi, name, f"needs lo < hi, got [{lo}, {hi}]")
        for fit, grid in (("adam_fit_lrs", "adam_lrs"), ("sgd_fit_lrs", "sgd_lrs")):
            for lr in getattr(self, fit):
                require(any(math.isclose(lr, g, rel_tol=1e-3) for g in getattr(self, grid)),
                        fit, f"{lr:g} is not one of {grid} = {getattr(self, grid)}")

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_seeds)]

    def grid_lr(self, optimizer: str, lr: float) -> float:
        """The grid value a fit lr refers to (fit lrs may be written with fewer digits)."""
        grid = self.adam_lrs if optimizer == "adam" else self.sgd_lrs
        return min(grid, key=lambda g: abs(math.log(g / lr)))
