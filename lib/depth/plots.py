"""Figure pieces of the inverse-depth chapter: loss against depth with its fit and the claimed
1/ℓ guide, depth axes, and what a figure says when its students diverged."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from lib.core.fit import Interval, fit_loglog
from lib.core.plotting import figure, integer_ticks, plot_fit, slope_guide
from lib.core.report import geometric_mean
from lib.depth import analysis
from lib.depth.sweep import SweepResult

RHO_NAME = {0.0: "independent teacher (ρ = 0)", 1.0: "tied teacher (ρ = 1)"}
RHO_COLOR = {0.0: "C0", 1.0: "C1"}  # the house cycle's blue and red
ANGLE_LABEL = r"$\theta(\Delta h_l, \Delta h_{l+1})$ [rad]"


def say_diverged(ax: plt.Axes) -> None:
    ax.text(0.5, 0.5, "every student diverged", transform=ax.transAxes, ha="center",
            va="center", color="grey")


def depth_axis(ax: plt.Axes, values: Sequence[float]) -> None:
    """Ticks at the depths themselves, as integers (an axis left without a finite point, every
    student having diverged, says so: a log axis cannot scale to no data)."""
    integer_ticks(ax, values)
    if not any(np.isfinite(np.asarray(line.get_ydata(), float)).any() for line in ax.get_lines()):
        say_diverged(ax)
        ax.set_ylim(0.1, 1.0)


def depth_guide(ax: plt.Axes, x: Sequence[float], y: Sequence[float], exponent: float = 1.0,
                label: str | None = None) -> None:
    """The claimed law ``∝ ℓ^(−exponent)`` as a dotted guide through the first finite point of
    ``y`` (nothing where no point is finite)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(y) & (y > 0)
    if keep.sum() >= 2:
        text = r"$\propto \ell^{-1}$" if exponent == 1 else rf"$\propto \ell^{{-{exponent:g}}}$"
        slope_guide(ax, exponent, x[keep], y[keep][0], label=label or f"{text} (claim)")


def draw_fit(ax: plt.Axes, d: np.ndarray, gmean: np.ndarray, b: Interval, color: str) -> None:
    """The fitted power law (on the replicate geometric mean, whose slope is the mean of the
    per-teacher slopes) and its CI band, if at least three depths kept a finite loss."""
    if np.isfinite(gmean).sum() >= 3 and math.isfinite(b.estimate):
        keep = np.isfinite(gmean)
        plot_fit(ax, d[keep], fit_loglog(d[keep], gmean[keep]), ci=b.band(), color=color)


def loss_against_depth(ax: plt.Axes, result: SweepResult, rho: float, b: Interval,
                       temperature: float | None = None, x_scale: int = 1,
                       replicates: bool = True, label: str | None = None,
                       color: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One teacher's final test losses against depth: replicates (small, pale), their geometric
    mean (large) and the fit with its CI band. ``x_scale`` multiplies the depths (RK2: two MLPs
    per layer). Returns the depths drawn and the geometric mean (NaN where diverged)."""
    color = color or RHO_COLOR[rho]
    d, y = analysis.loss_matrix(result, rho, temperature)  # diverged students are NaN
    d = x_scale * np.asarray(d, float)
    if replicates:
        for row in y:
            ax.plot(d, row, "o", color=color, alpha=0.3, ms=4)
    gmean = geometric_mean(y)
    ax.plot(d, gmean, "o", color=color, ms=7,
            label=label or f"{RHO_NAME[rho]}: α = {number(b.estimate)}")
    draw_fit(ax, d, gmean, b, color)
    return d, gmean


def number(value: float, fmt: str = ".2f") -> str:
    """A number for the text, or 'n/a' where diverged students left nothing to measure."""
    return format(value, fmt) if math.isfinite(value) else "n/a"


def placeholder_figure(text: str):
    """A figure that says why there is nothing to draw (a sweep this profile does not run)."""
    fig, axes = figure(width=5.0, height=1.6)
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, text, ha="center", va="center", wrap=True, color="grey")
    return fig
