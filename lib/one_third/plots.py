"""Figures of the one-third chapter that need more than a few lines (the exponent map)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle


def exponent_heatmap(ax: plt.Axes, table: pd.DataFrame, r2_min: float = 0.95,
                     vmax: float = 1.0, title: str | None = None):
    """The exponent map of :func:`lib.one_third.analysis.exponent_map` as an lr × T grid:
    each cell shows its fitted exponent; ``exp`` marks runs whose loss reached the floor
    (exponential convergence, nothing to fit), hatching marks poor power-law fits
    (``R² < r2_min``), ``div`` runs that diverged. Returns the image (for a colour bar)."""
    lrs = sorted(table.lr.unique())
    temps = sorted(table.temperature.unique())
    grid = np.full((len(lrs), len(temps)), np.nan)
    for r in table.itertuples():
        i, j = lrs.index(r.lr), temps.index(r.temperature)
        if not r.converged and np.isfinite(r.exponent):
            grid[i, j] = r.exponent
    image = ax.imshow(grid, origin="lower", cmap="viridis", vmin=0.0, vmax=vmax, aspect="auto")
    for r in table.itertuples():
        i, j = lrs.index(r.lr), temps.index(r.temperature)
        if r.diverged == r.n_seeds and r.n_seeds > 0:
            text = "div"
        elif r.converged:
            text = "exp"
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color="0.85", zorder=1))
        elif np.isfinite(r.exponent):
            text = f"{r.exponent:.2f}"
            if not r.r2 >= r2_min:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//",
                                       edgecolor=(1, 1, 1, 0.6), linewidth=0, zorder=2))
        else:
            text = "–"
        shade = grid[i, j]
        color = "black" if r.converged or (np.isfinite(shade) and shade > 0.6 * vmax) else "white"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color, zorder=3,
                bbox={"boxstyle": "round,pad=0.15", "fc": (0, 0, 0, 0.25) if color == "white"
                      else (1, 1, 1, 0.5), "lw": 0})
    ax.set_xticks(range(len(temps)), [f"{t:.2g}" for t in temps], rotation=45)
    ax.set_yticks(range(len(lrs)), [f"{lr:.2g}" for lr in lrs])
    ax.set_xlabel("teacher temperature T")
    ax.set_ylabel("learning rate")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return image
