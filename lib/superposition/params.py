"""Parameters of the superposition chapter; the defaults are its ``default`` (CPU) profile."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lib.core.params import ChapterParams, ChunkMembers, require
from lib.real.family import BootResamples, ExponentTol, FamilyOverrides, resolve_family

Width = Annotated[int, Field(ge=2, le=4096)]
Exponent = Annotated[float, Field(ge=0.0, le=4.0)]
Gamma = Annotated[float, Field(ge=-2.0, le=2.0)]
LrRule = Literal["exp17", "exp17_x100", "exp10"]


class SuperpositionParams(ChapterParams):
    """Sizes of the four experiments: strong-regime width sweep, weak-regime sweep, (γ, α)
    phase diagram, and the training-dynamics comparison."""

    # strong regime (γ < 0): loss vs width for several frequency laws
    n_features: int = Field(512, ge=16, le=65536, description="number of features n")
    widths: list[Width] = Field([8, 11, 16, 23, 32], min_length=2, max_length=16,
                                description="hidden widths m of the width sweeps")
    batch: int = Field(256, ge=8, le=65536, description="samples per step (fresh data)")
    steps: int = Field(2000, ge=20, le=200000, description="training steps of the width sweeps")
    n_seeds: int = Field(3, ge=1, le=32, description="seeds per (law, width) and (α, width)")
    strong_gamma: Gamma = Field(-1.0, description="signed decay γ of the strong regime (< 0)")
    strong_lr_rule: LrRule = Field("exp17", description="learning rates of the width sweeps: "
                                   "'exp17' per-width (the paper's width sweep), 'exp17_x100' "
                                   "the same with exp-17's loss × 100, or 'exp10'")
    power_alphas: list[Exponent] = Field([0.8, 1.4], min_length=1, max_length=8,
                                         description="power-law exponents α of the strong sweep")
    exp_scale_frac: float = Field(0.1, gt=0.0, le=10.0,
                                  description="exponential law p_i ∝ exp(−i/(frac·n))")
    min_fit_width: int = Field(0, ge=0, le=4096,
                               description="smallest width in the exponent fits (paper: 32)")
    # weak regime (γ > 0)
    weak_gamma: Gamma = Field(0.2, description="signed decay γ of the weak regime (> 0)")
    weak_alphas: list[Exponent] = Field([1.5, 2.0, 2.5], min_length=2, max_length=8,
                                        description="power-law α of the weak sweep (> 1)")
    weak_seeds: int = Field(3, ge=1, le=32, description="seeds per (α, width) in the weak sweep")
    weak_lr_rule: LrRule = Field("exp17", description="learning rates of the weak sweep")
    # phase diagram over (γ, α)
    phase_n_features: int = Field(256, ge=16, le=65536, description="n of the phase diagram")
    phase_widths: list[Width] = Field([8, 11, 16, 23, 32], min_length=2, max_length=16,
                                      description="widths of every phase-diagram cell")
    phase_gammas: list[Gamma] = Field([-1.0, -0.33, 0.33, 1.0], min_length=2, max_length=32,
                                      description="γ grid of the phase diagram")
    phase_alphas: list[Exponent] = Field([0.5, 1.0, 1.5, 2.0], min_length=2, max_length=32,
                                         description="α grid of the phase diagram")
    phase_batch: int = Field(256, ge=8, le=65536, description="batch of the phase diagram")
    phase_steps: int = Field(1500, ge=10, le=200000, description="steps of the phase diagram")
    # training dynamics (reconstruction of arXiv:2602.01045)
    dyn_features: int = Field(128, ge=8, le=65536, description="n of the dynamics comparison")
    dyn_bottleneck: int = Field(16, ge=2, le=65536, description="bottleneck K < n (superposition)")
    dyn_a: list[Exponent] = Field([1.5, 2.0], min_length=1, max_length=8,
                                  description="data exponents a (p_i ∝ i^-a), paired with dyn_b")
    dyn_b: list[Exponent] = Field([0.0, 0.5], min_length=1, max_length=8,
                                  description="importance exponents b (I_i ∝ i^-b)")
    dyn_steps: int = Field(4000, ge=20, le=1000000, description="GD steps of the dynamics")
    dyn_batch: int = Field(256, ge=8, le=65536, description="batch of the dynamics runs")
    dyn_seeds: int = Field(3, ge=1, le=16, description="seeds per dynamics arm")
    dyn_reference_factor: int = Field(4, ge=2, le=32,
                                      description="the superposition arm trains this many × "
                                                  "dyn_steps to measure its loss floor L_K")
    chunk_members: ChunkMembers = 0

    # ---- Real models section: the shared GPT family, and this section's own knobs ----
    family: FamilyOverrides = {}
    real_overlap_rows: int = Field(
        4096, ge=0, le=1_000_000,
        description="LM-head rows per random subset for the overlap statistic (0: all 49,152)")
    real_overlap_subsets: int = Field(4, ge=1, le=64,
                                      description="independent row subsets (CI)")
    real_n_boot: BootResamples = 500
    real_exponent_tol: ExponentTol = 0.2

    def check(self) -> None:
        family = resolve_family(self.profile, self.family)  # the shared GPT family, validated
        require(len(family.widths) >= 3, "family",
                f"the overlaps' width exponent needs at least 3 GPT widths, got {family.widths}")
        require(max(self.widths) < self.n_features, "widths",
                f"every width must be below n_features = {self.n_features}")
        require(max(self.phase_widths) < self.phase_n_features, "phase_widths",
                f"every width must be below phase_n_features = {self.phase_n_features}")
        require(len(set(self.widths)) == len(self.widths), "widths", "widths must be distinct")
        require(len(set(self.phase_widths)) == len(self.phase_widths), "phase_widths",
                "widths must be distinct")
        require(self.strong_gamma < 0, "strong_gamma", "the strong regime needs γ < 0")
        require(self.weak_gamma > 0, "weak_gamma", "the weak regime needs γ > 0")
        require(min(self.weak_alphas) > 1.0, "weak_alphas",
                "the weak-regime law L ∝ m^-(α-1) needs α > 1")
        require(len(self.dyn_a) == len(self.dyn_b), "dyn_b",
                f"dyn_a and dyn_b are paired: {len(self.dyn_a)} vs {len(self.dyn_b)} values")
        require(all(a + b > 1.0 for a, b in zip(self.dyn_a, self.dyn_b, strict=True)), "dyn_a",
                "each pair needs a + b > 1 (a power-law loss without superposition)")
        require(self.dyn_bottleneck < self.dyn_features, "dyn_bottleneck",
                f"the bottleneck must be below dyn_features = {self.dyn_features}")
        require(len(self.widths) >= 3, "widths", "an exponent fit needs at least 3 widths")
        require(len(self.phase_widths) >= 3, "phase_widths",
                "an exponent fit needs at least 3 widths")
        require(self.min_fit_width <= sorted(self.widths)[-3], "min_fit_width",
                "at least three widths must be >= min_fit_width")
