"""A schematic of the ES toy (lib/es/quadratic.py, lib/es/estimator.py): parameters θ on a
quadratic reward with a few stiff directions and many flat ones, a population of N
perturbations θ + σε_i around it, their rewards R_i, and the update that moves θ."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lib.core.plotting import COLUMN_WIDTH_IN, figure

_BOX = {"boxstyle": "round,pad=0.3,rounding_size=0.15", "facecolor": "#f2f2f2",
        "edgecolor": "#444444", "linewidth": 1.0}
_STIFF, _FLAT = 1.0, 0.05  # curvatures of the drawn landscape (the toy's two blocks)


def _landscape(ax, theta: np.ndarray, eps: np.ndarray, sigma: float) -> None:
    """Contours of R = 1 − ½(λ_stiff y² + λ_flat x²), θ, and its population coloured by R_i."""
    x, y = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-2.6, 2.6, 200))
    reward = 1 - 0.5 * (_FLAT * x**2 + _STIFF * y**2)
    ax.contour(x, y, reward, levels=np.linspace(-2.0, 0.9, 9), colors="#a8a8a8",
               linewidths=0.7, linestyles="solid")
    points = theta + sigma * eps  # (N, 2)
    r = 1 - 0.5 * (_FLAT * points[:, 0] ** 2 + _STIFF * points[:, 1] ** 2)
    for p in points:
        ax.plot([theta[0], p[0]], [theta[1], p[1]], color="#c4c4c4", lw=0.6, zorder=2)
    ax.scatter(points[:, 0], points[:, 1], c=r, cmap="viridis", s=24, zorder=3,
               vmin=np.quantile(r, 0.1), vmax=r.max(),
               edgecolors="#333333", linewidths=0.4)
    ax.plot(*theta, "o", color="#d62728", ms=7, zorder=4)
    ax.text(theta[0] + 0.35, theta[1] - 0.1, r"$\theta$", color="#d62728", fontsize=11)
    ax.plot(0, 0, "*", color="k", ms=9, zorder=4)
    ax.text(0.25, -0.5, r"$\theta^\ast$", fontsize=10)
    # the step: the population's reward-weighted mean direction
    step = ((r - r.mean())[:, None] * eps).mean(0)
    step = 1.2 * step / np.linalg.norm(step)
    ax.annotate("", xy=theta + step, xytext=theta, zorder=5,
                arrowprops={"arrowstyle": "-|>", "color": "#d62728", "lw": 1.6})
    ax.set_xlabel(r"flat direction, $\lambda = 0.05$", fontsize=8)
    ax.set_ylabel(r"stiff direction, $\lambda = 1$", fontsize=8)
    ax.set_xlim(-5, 5)
    ax.set_ylim(-2.6, 2.6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title("a population around $\\theta$ on a curved reward", fontsize=9)


def _loop(ax) -> None:
    """The ES iteration as three boxes in a loop."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    steps = [
        (0.88, "1. perturb: $N$ draws\n"
               r"$\theta + \sigma\varepsilon_i$, $\varepsilon_i$ standard normal"),
        (0.58, "2. score each member:\n"
               r"reward $R_i = R(\theta + \sigma\varepsilon_i)$"),
        (0.24, "3. move along the\nreward-weighted mean:\n"
               r"$\theta \leftarrow \theta + \alpha/(N\sigma)\ \Sigma_i R_i\,\varepsilon_i$"),
    ]
    for y, text in steps:
        ax.text(0.5, y, text, ha="center", va="center", fontsize=9, bbox=_BOX,
                linespacing=1.5)
    for (y0, _), (y1, _) in zip(steps[:-1], steps[1:], strict=True):
        ax.annotate("", xy=(0.5, y1 + 0.1), xytext=(0.5, y0 - 0.08),
                    arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.0})
    ax.annotate("", xy=(0.93, 0.88), xytext=(0.93, 0.24),
                arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.0})
    ax.text(0.95, 0.57, "repeat", rotation=90, ha="left", va="center", fontsize=8,
            color="#444444")
    ax.text(0.5, 0.0, "at scale: $R_i$ z-scored over the $N$, no $1/\\sigma$",
            ha="center", va="bottom", fontsize=8, color="#555555")


def draw_schematic(n: int = 12, sigma: float = 0.7, seed: int = 5) -> Figure:
    """The ES toy as a picture: left, θ and its N perturbations on a two-block quadratic
    (one stiff, one flat direction drawn; points coloured by reward); right, one iteration."""
    rng = np.random.default_rng(seed)
    fig, axes = figure(ncols=2, width=COLUMN_WIDTH_IN / 2, height=3.1,
                       gridspec_kw={"width_ratios": [1.25, 1.0]})
    _landscape(axes[0, 0], np.array([2.8, 1.2]), rng.standard_normal((n, 2)), sigma)
    _loop(axes[0, 1])
    fig.tight_layout()
    return fig
