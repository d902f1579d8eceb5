"""A schematic of the universal loss law (Liu and Gore, arXiv 2606.25008): the four terms of
``L = E + c_τ τ^(−1/3) + c_m/m + c_ℓ/ℓ``, each tied to the mechanism (and the book's chapter)
that fixes its exponent, and the compute-optimal frontier the fitted coefficients imply.

Drawn with matplotlib only; the frontier inset uses illustrative coefficients (it shows the
shape of the argument, not a fit).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from lib.core.plotting import COLUMN_WIDTH_IN

#: One box per term: (term as math, what varies, the mechanism in short lines, chapter, colour).
TERMS = (
    ("$E$", "floor", ("the entropy of", "the text itself:", "no power law"), None,
     "#7f7f7f"),
    (r"$c_\tau\,\tau^{-1/3}$", r"time $\tau=\int\eta\,dt$",
     ("softmax + cross-", "entropy on peaked", "next-token targets"), "One-third time",
     "#2ca02c"),
    ("$c_m/m$", "width $m$", ("superposition:", r"$\nu \gg m$ features", "share $m$ dimensions"),
     "Superposition", "#1f77b4"),
    (r"$c_\ell/\ell$", r"depth $\ell$", ("similar layers", "average like an", "ensemble"),
     "Inverse depth", "#9467bd"),
)


def _box(ax, x: float, y: float, w: float, h: float, color: str) -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=color, alpha=0.08, edgecolor="none"))
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor="none", edgecolor=color, linewidth=1.4))


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color,
                                 linewidth=1.3))


def _frontier_inset(fig: Figure) -> None:
    """Loss above the floor against compute for a few fixed sizes N (each flattens at its size
    term), and their lower envelope, the compute-optimal frontier ∝ C^(−1/6)."""
    ax = fig.add_axes((0.60, 0.08, 0.36, 0.30))
    compute = np.geomspace(1e18, 1e26, 200)
    c_n, c_d = 1.0, 1.0  # illustrative: L − E = c_N N^(−1/3) + c_D D^(−1/3), D = C/(6N)
    for n in np.geomspace(1e7, 1e12, 6):
        gap = c_n * n ** (-1 / 3) + c_d * (compute / (6 * n)) ** (-1 / 3)
        ax.plot(compute, gap, color="#bbbbbb", lw=1.0)
    n_star = (compute / 6) ** 0.5  # c_N = c_D: the optimum splits C evenly in log
    envelope = c_n * n_star ** (-1 / 3) + c_d * (compute / (6 * n_star)) ** (-1 / 3)
    ax.plot(compute, envelope, color="#d62728", lw=2.0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.minorticks_off()
    ax.grid(False)
    ax.set_xlabel("compute $C$", fontsize=9, labelpad=2)
    ax.set_ylabel("$L - E$", fontsize=9, labelpad=2)
    ax.text(0.97, 0.93, "fixed sizes $N$", transform=ax.transAxes, ha="right", va="top",
            fontsize=9, color="#777777")
    ax.text(0.04, 0.06, r"frontier $L^*-E \propto C^{-1/6}$", transform=ax.transAxes,
            ha="left", va="bottom", fontsize=9, color="#d62728")


def draw_schematic() -> Figure:
    """The four-term loss, one box per term with the mechanism and chapter that fix its
    exponent, and below it what the (non-universal) coefficients decide: the optimal shape and
    the compute-optimal frontier."""
    width = COLUMN_WIDTH_IN
    fig = Figure(figsize=(width, 5.0))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 7.1)
    ax.axis("off")

    # the law, one term above each box
    centres = (1.25, 3.75, 6.25, 8.75)
    y_eq = 6.55
    ax.text(0.05, y_eq, "$L\\;=$", fontsize=16, ha="left", va="center")
    for i, (term, _, _, _, color) in enumerate(TERMS):
        ax.text(centres[i], y_eq, term, fontsize=16, ha="center", va="center", color=color)
        if i:
            ax.text(centres[i] - 1.25, y_eq, "$+$", fontsize=16, ha="center", va="center")

    # one box per term: what varies, the mechanism, the chapter that tests it
    box_w, box_top, box_h = 2.2, 5.85, 2.55
    for (_, variable, lines, chapter, color), x in zip(TERMS, centres, strict=True):
        _arrow(ax, (x, y_eq - 0.32), (x, box_top + 0.05), color)
        _box(ax, x - box_w / 2, box_top - box_h, box_w, box_h, color)
        ax.text(x, box_top - 0.3, variable, fontsize=10, ha="center", va="center",
                color=color, fontweight="bold")
        ax.text(x, box_top - 1.25, "\n".join(lines), fontsize=9, ha="center", va="center",
                linespacing=1.35)
        ax.text(x, box_top - box_h + 0.3,
                "fitted per data set" if chapter is None else f"chapter: {chapter}",
                fontsize=9, ha="center", va="center", color=color, style="italic")

    # what the coefficients decide
    ax.text(0.1, 2.85, "Exponents fixed by the mechanisms; coefficients\n"
            "$c_\\tau, c_m, c_\\ell$ and $E$ fitted to the data decide:",
            fontsize=9.5, ha="left", va="top", linespacing=1.4)
    ax.text(0.25, 1.75, "shape at fixed $N = 12\\,m^2\\ell$:", fontsize=9.5, ha="left",
            va="center")
    ax.text(0.55, 1.3, r"$m^*/\ell^* = c_m/(2c_\ell)$", fontsize=11, ha="left", va="center")
    ax.text(0.25, 0.8, "frontier at fixed $C = 6\\,N D$:", fontsize=9.5, ha="left",
            va="center")
    ax.text(0.55, 0.35, r"$D^*/N^* = (c_D/c_N)^3$", fontsize=11, ha="left", va="center")
    _frontier_inset(fig)
    return fig
