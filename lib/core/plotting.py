"""One plotting style for the whole book: SVG, readable fonts, log-log with fit and CI band.

A figure is never wider than the page's text column (:data:`COLUMN_WIDTH_IN`), so the browser
shows it at its natural size and its text stays at the stated point size (never shrunk below the
body's small print); exponent figures carry the claimed slope as a guide line
(:func:`slope_guide`) and discrete axes show their actual values (:func:`integer_ticks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from lib.core.fit import PowerLawFit

STYLE = {
    "figure.figsize": (6.0, 4.0),
    "figure.dpi": 100,
    "savefig.format": "svg",
    "svg.fonttype": "none",
    "font.size": 10,
    "axes.labelsize": 10,
    "axes.titlesize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "axes.prop_cycle": mpl.cycler(
        color=["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
               "#7f7f7f", "#bcbd22", "#e377c2"]
    ),
}


def use_house_style() -> None:
    """Apply the book's matplotlib style and make notebooks render figures as SVG."""
    mpl.rcParams.update(STYLE)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("svg")
    except ImportError:  # outside Jupyter
        pass


COLUMN_WIDTH_IN = 7.0  # the book's text column at 96 px per inch (~670 px): figures fit it 1:1
GUIDE_COLOR = "#555555"


def figure(ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 4.0, **kw):
    """A new figure with ``ncols × nrows`` axes of ``width × height`` inches each, scaled down
    as a whole (aspect kept) to fit :data:`COLUMN_WIDTH_IN`, so that the page shows it at its
    natural size and its fonts at their point size. More than two panels side by side get
    cramped at that width: lay them out in two rows instead."""
    total_w, total_h = width * ncols, height * nrows
    scale = min(1.0, COLUMN_WIDTH_IN / total_w)
    return plt.subplots(nrows, ncols, figsize=(total_w * scale, total_h * scale), squeeze=False,
                        **kw)


def slope_guide(ax: plt.Axes, exponent: float, x: Sequence[float], y_at_first: float,
                label: str | None = None, offset: float = 1.0) -> None:
    """The claim's power law ``y ∝ x^(−exponent)`` as a dotted guide over the range of ``x``,
    through ``offset × y_at_first`` at the first x (``offset`` > 1 lifts it off the data)."""
    x = np.asarray(x, float)
    xs = np.geomspace(x.min(), x.max(), 50)
    ys = offset * y_at_first * (xs / xs[0]) ** (-exponent)
    ax.plot(xs, ys, ":", color=GUIDE_COLOR, linewidth=1.4, label=label, zorder=1)


def integer_ticks(ax: plt.Axes, values: Sequence[float], axis: str = "x") -> None:
    """Ticks exactly at the discrete values of a (log) axis, written as plain integers (a
    width or member count of 8…64 reads as 8, 16, 32, 64, never as 10⁰/10¹)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    values = sorted({float(v) for v in values})
    target.set_major_locator(FixedLocator(values))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(mpl.ticker.FuncFormatter(
        lambda v, _pos: f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:g}"))


def plot_fit(
    ax: plt.Axes,
    x: Sequence[float],
    fit: PowerLawFit,
    ci: tuple[float, float] | None = None,
    label: str | None = None,
    color: str | None = None,
) -> None:
    """Draw a fitted power law over the range of ``x``; shade the exponent CI if given
    (pivoting about the geometric centre of ``x``)."""
    x = np.asarray(x, float)
    xs = np.geomspace(x.min(), x.max(), 100)
    line = ax.plot(xs, fit.predict(xs), "--", color=color, label=label)[0]
    if ci is not None:
        x0 = np.exp(np.mean(np.log(x)))
        y0 = fit.predict(np.array([x0]))[0] - fit.offset
        lo = fit.offset + y0 * (xs / x0) ** (-ci[0])
        hi = fit.offset + y0 * (xs / x0) ** (-ci[1])
        ax.fill_between(xs, np.minimum(lo, hi), np.maximum(lo, hi), color=line.get_color(),
                        alpha=0.15, linewidth=0)


def loglog(ax: plt.Axes, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Log-log axes with labels."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
