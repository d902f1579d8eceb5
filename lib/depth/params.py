"""Parameters of the inverse-depth chapter. Defaults = the ``default`` profile (2 CPU cores,
a few minutes); ``book/params/inverse_depth/{smoke,full}.yaml`` hold the others (``full`` is the
paper's grid: 128-layer teachers, depths 6–48, 16 temperatures, 3 teachers, 80k steps)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from lib.core.params import ChapterParams, ChunkMembers, require
from lib.real.family import (
    BootResamples,
    ExponentTol,
    FamilyOverrides,
    FourTermBoot,
    ProbeLength,
    ProbeWindows,
    resolve_family,
)

Depth = Annotated[int, Field(ge=1, le=512)]
Temperature = Annotated[float, Field(ge=1e-3, le=100.0)]


class DepthParams(ChapterParams):
    """Every knob of the chapter, with its allowed range."""

    depths: list[Depth] = Field(
        [2, 4, 8, 16], min_length=2, max_length=16,
        description="student depths ℓ (Euler residual blocks); the paper: 6, 12, 16, 24, 32, 48")
    teacher_depth: int = Field(
        64, ge=2, le=1024, description="teacher depth ℓ*; the paper: 128")
    n_teachers: int = Field(
        3, ge=3, le=16,
        description="teacher replicates per ρ (own teacher, inputs and student init); every "
                    "interval is a Student t over them, so at least 3")
    temperatures: list[Temperature] = Field(
        [1.0], min_length=1, max_length=32,
        description="teacher temperatures T of the KL sweep; the paper: logspace(−2, 0, 16)")
    claim_temperature: float = Field(
        1.0, ge=1e-3, le=100.0, description="the temperature whose exponents the claims judge")
    steps: int = Field(2000, ge=10, le=1_000_000, description="Adam steps of the KL sweep")
    batch_size: int = Field(128, ge=8, le=65_536, description="fresh inputs per step")
    lr_multiplier: float = Field(
        5.0, gt=0.0, le=1e12,
        description="times the authors' learning rate of each arm: 6e-4 constant (KL, ρ = 0, "
                    "exp-9), 6e-4·4/√ℓ (KL, ρ = 1, exp-9-3), 6e-4·2/√ℓ (MSE); >1 compensates "
                    "for the CPU profile's ~20–40× fewer steps. Absurd values are allowed, to "
                    "show divergence: from a few million the students' residual stream "
                    "overflows float32 (measured: some at 3e6, all at 1e7); such students are "
                    "reported as diverged on the page and left out of every figure and fit")
    mse_rk2: bool = Field(
        False, description="train the MSE and RK2 sweeps (the `full` profile; at the default's "
                           "few hundred CPU steps their exponents cannot converge, so the default "
                           "skips them)")
    mse_steps: int = Field(600, ge=10, le=1_000_000, description="steps of the MSE sweep")
    rk2_depths: list[Depth] = Field(
        [1, 2, 4, 8], min_length=2, max_length=16,
        description="RK2 (midpoint) student depths; the paper: 3, 6, 8, 12, 16, 24")
    rk2_steps: int = Field(600, ge=10, le=1_000_000, description="steps of the RK2 sweep")
    n_checkpoints: int = Field(
        10, ge=2, le=64, description="log-spaced test-loss evaluations per run")
    n_test: int = Field(2048, ge=64, le=1_000_000, description="test inputs per replicate")
    converge_tol: float = Field(
        0.02, gt=0.0, le=2.0,
        description="an exponent counts as converged if it moved by at most this over the "
                    "last doubling of steps")
    claim_tol: float = Field(
        0.2, gt=0.0, le=1.0,
        description="relative tolerance of the exponent claims (a fraction of the paper's value)")
    angle_tol: float = Field(
        0.2, gt=0.0, le=1.6, description="tolerance (radians) of the update-angle claim")
    loss_converge_tol: float = Field(
        0.1, gt=0.0, le=1.0,
        description="the probed students count as trained to a plateau if their test loss fell "
                    "by at most this fraction over the last doubling of steps")
    shuffle_ratio_min: float = Field(
        2.0, gt=1.0, le=1000.0,
        description="the layer-shuffle contrast claim: the tied teacher's students' shuffled/"
                    "trained loss ratio exceeds the independent teacher's by at least this factor")
    family_converge_share: float = Field(
        0.5, gt=0.0, le=1.0,
        description="the GPT family's α_ℓ counts as converged if refitting at the evaluation "
                    "nearest half the steps moves it by at most this share of its tolerance band")
    probe_tokens: int = Field(
        1024, ge=16, le=1_000_000, description="test inputs used by the layer probes")
    n_permutations: int = Field(
        5, ge=1, le=100, description="random shuffles of the middle layers per student")
    chinchilla_boot: int = Field(
        200, ge=10, le=10_000, description="bootstrap resamples of the Chinchilla 4-term fit")
    chunk_members: ChunkMembers = 0

    # ---- Real models section: the shared GPT family, and this section's own knobs ----
    family: FamilyOverrides = {}
    real_probe_windows: ProbeWindows = 4
    real_probe_length: ProbeLength = 128
    real_skip_windows: int = Field(
        2, ge=1, le=10_000, description="held-out windows for the block-skipping losses")
    real_skip_every: int = Field(1, ge=1, le=64,
                                 description="skip every k-th block (1: each block in turn)")
    real_n_boot: BootResamples = 500
    real_four_term_boot: FourTermBoot = 100
    real_exponent_tol: ExponentTol = 0.2
    real_angle_tol: float = Field(
        0.2, gt=0.0, le=1.6, description="tolerance (radians) of the update-angle claim")

    def check(self) -> None:
        resolve_family(self.profile, self.family)  # the shared GPT family, validated
        require(len(set(self.depths)) == len(self.depths), "depths", "values must be distinct")
        require(len(set(self.rk2_depths)) == len(self.rk2_depths), "rk2_depths",
                "values must be distinct")
        require(self.teacher_depth > max(self.depths), "teacher_depth",
                f"must exceed the deepest student ({max(self.depths)}): the claim is about "
                "students shallower than their teacher")
        require(self.teacher_depth > 2 * max(self.rk2_depths), "teacher_depth",
                "must exceed the MLP count of the deepest RK2 student "
                f"(2 × {max(self.rk2_depths)})")
        require(max(self.depths) >= 4, "depths",
                "the deepest student needs ≥ 4 layers for the middle-layer probes")
        require(self.claim_temperature in self.temperatures, "claim_temperature",
                f"must be one of temperatures {self.temperatures}")
        require(self.probe_tokens <= self.n_test, "probe_tokens",
                f"must be at most n_test ({self.n_test})")
