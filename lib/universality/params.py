"""Parameters of the universality chapter (defaults = the ``default`` profile).

Everything here is a fit to the 245 shipped Chinchilla runs, in numpy/scipy on the CPU: there is
no training, so ``device`` changes nothing (a GPU profile only buys more bootstrap resamples and
Epoch's full grid of starts, which also run on a CPU).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from lib.core.params import ChapterParams, require
from lib.real.family import (
    ExponentTol,
    FamilyOverrides,
    FourTermBoot,
    ProbeLength,
    ProbeWindows,
    TauTol,
    resolve_family,
)

N_RUNS = 245  # rows of data/chinchilla_losses_with_shapes.csv


class UniversalityParams(ChapterParams):
    """Fits of the four-term and Chinchilla laws, bootstrap sizes, and the frontier's compute."""

    exclude_top: int = Field(
        40, ge=0, le=200,
        description="drop the runs with the highest losses (ties included) before the "
                    "four-term fits, as Liu et al. did (40 keeps 203 runs)",
    )
    n_boot: int = Field(
        400, ge=2, le=20000,
        description="bootstrap resamples (over points) for the four-term fits",
    )
    chinchilla_exclude_top: int = Field(
        5, ge=0, le=150,
        description="highest-loss runs dropped before refitting Hoffmann's form (Epoch: 5)",
    )
    chinchilla_grid: Literal["epoch", "coarse"] = Field(
        "epoch",
        description="starts for the Chinchilla refit: Epoch's 4,500-point grid or a "
                    "162-point subset",
    )
    chinchilla_n_boot: int = Field(
        400, ge=2, le=20000,
        description="bootstrap resamples for the Chinchilla refit (Epoch used 4,000)",
    )
    n_splits: int = Field(
        20, ge=1, le=1000,
        description="random train/test splits for held-out validation",
    )
    test_fraction: float = Field(
        0.2, gt=0.0, lt=0.9, description="fraction of the kept runs held out in each split",
    )
    scan_excludes: list[Annotated[int, Field(ge=0, le=200)]] = Field(
        [0, 5, 10, 20, 30, 40, 50, 60, 80, 100], min_length=1,
        description="numbers of highest-loss runs to exclude in the sensitivity scan",
    )
    scan_n_boot: int = Field(
        50, ge=2, le=5000, description="bootstrap resamples per point of the exclusion scan",
    )
    frontier_compute: float = Field(
        5.76e23, gt=1e15, lt=1e30,
        description="training compute (FLOP) at which the compute-optimal allocation is "
                    "reported (5.76e23: Chinchilla's own budget)",
    )

    # ---- Real models section: the shared GPT family, and this section's own knobs ----
    family: FamilyOverrides = {}
    real_probe_windows: ProbeWindows = 4
    real_probe_length: ProbeLength = 128
    real_four_term_boot: FourTermBoot = 100
    real_exponent_tol: ExponentTol = 0.2
    real_tau_tol: TauTol = 0.3

    def check(self) -> None:
        resolve_family(self.profile, self.family)  # the shared GPT family, validated
        kept = N_RUNS - max([self.exclude_top, *self.scan_excludes])
        require(kept >= 40, "scan_excludes",
                f"excluding {max([self.exclude_top, *self.scan_excludes])} runs leaves fewer "
                f"than 40 of {N_RUNS} for a 7-parameter fit")
        require(self.test_fraction * (N_RUNS - self.exclude_top) >= 5, "test_fraction",
                "hold out at least 5 runs per split")
