"""Figures of the one-third chapter that need more than a few lines: the exponent map and the
claim's power law drawn as a guide over loss curves."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from lib.core.plotting import GUIDE_COLOR, slope_guide


def guide_above(ax: plt.Axes, exponent: float, window: Sequence[float],
                curves: Sequence[tuple[np.ndarray, np.ndarray]], label: str | None = None,
                lift: float = 1.6) -> None:
    """The claimed ``y ∝ x^(−exponent)`` over ``window`` (clipped to the curves' x range), as
    :func:`lib.core.plotting.slope_guide` through ``lift`` × the highest curve at the window's
    start (log-log interpolation), so it sits just above the data. Nothing is drawn when no
    curve reaches the window."""
    lo, hi = float(window[0]), float(window[1])
    kept = []
    for x, y in curves:
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(y) & (y > 0) & (x > 0)
        if ok.sum() >= 2 and x[ok].max() > lo and x[ok].min() < hi:
            kept.append((np.log(x[ok]), np.log(y[ok])))
    if not kept:
        return
    x0 = max(lo, min(float(np.exp(lx.min())) for lx, _ in kept))
    x1 = min(hi, max(float(np.exp(lx.max())) for lx, _ in kept))
    y0 = max(float(np.exp(np.interp(np.log(x0), lx, ly))) for lx, ly in kept
             if lx.min() <= np.log(x0) <= lx.max())
    slope_guide(ax, exponent, [x0, x1], y0, label=label, offset=lift)


def offset_guide(ax: plt.Axes, exponent: float, x: np.ndarray, y: np.ndarray,
                 label: str | None = None) -> None:
    """``y = L0 + c x^(−exponent)`` through the first and last points of the curve ``(x, y)``
    (two points fix ``L0`` and ``c``): how a power law with an offset and the claimed exponent
    would bend between them, on any axes (dotted, in the guide colour)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    if x.size < 2:
        return
    (xa, ya), (xb, yb) = (x[0], y[0]), (x[-1], y[-1])
    c = (ya - yb) / (xa ** -exponent - xb ** -exponent)
    xs = np.geomspace(xa, xb, 50)
    ax.plot(xs, ya + c * (xs ** -exponent - xa ** -exponent), ":", color=GUIDE_COLOR,
            linewidth=1.4, label=label, zorder=1)


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
    ax.set_xlabel("teacher temperature $T$")
    ax.set_ylabel("learning rate")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return image
