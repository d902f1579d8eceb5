"""One plotting style for the whole book: SVG, readable fonts, log-log with fit and CI band."""

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


def figure(ncols: int = 1, nrows: int = 1, width: float = 6.0, height: float = 4.0, **kw):
    """A new figure with ``ncols × nrows`` axes, each ``width × height`` inches."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)


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
