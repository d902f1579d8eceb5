"""A schematic of the superposition toy (lib/superposition/model.py): ``n`` sparse features with
frequencies ``p_i`` are read into ``m < n`` hidden dimensions by ``Wᵀ`` and read back out by the
same ``W`` through ``ReLU(W Wᵀ x + b)``; the signed decay ``γ`` picks the regime."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from lib.core.plotting import COLUMN_WIDTH_IN, figure

_INK, _EDGE, _ACTIVE = "#444444", "#b0b0b0", "#d62728"
_FEATURE, _HIDDEN, _NOTE = "#dbe8f5", "#fde7d9", "#eeeeee"
_N_DRAWN, _M_DRAWN, _ACTIVE_ROW = 7, 3, 1  # features and hidden units drawn; the active one


def _column(ax, x: float, ys: np.ndarray, color: str, active: int | None = None) -> None:
    for k, y in enumerate(ys):
        face = _ACTIVE if k == active else color
        ax.add_patch(Circle((x, y), 0.17, facecolor=face, edgecolor=_INK, lw=1.0, zorder=3))


def _links(ax, x0: float, ys0: np.ndarray, x1: float, ys1: np.ndarray, active: int | None,
           from_active: bool) -> None:
    """Every edge between two columns, the active feature's edges drawn in red."""
    for i, y0 in enumerate(ys0):
        for j, y1 in enumerate(ys1):
            hot = (i if from_active else j) == active
            ax.plot([x0, x1], [y0, y1], color=_ACTIVE if hot else _EDGE,
                    lw=1.1 if hot else 0.6, zorder=2 if hot else 1)


def _note(ax, x: float, y: float, text: str, size: float = 9) -> None:
    ax.text(x, y, text, ha="center", va="center", fontsize=size,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": _NOTE, "edgecolor": _INK,
                  "linewidth": 0.8})


def draw_schematic() -> Figure:
    """The toy of the superposition chapter: the frequency law, the input, ``Wᵀ`` into ``m``
    hidden dimensions, ``W`` and ``ReLU(· + b)`` back out to ``n`` outputs, and the loss."""
    fig, axes = figure(width=COLUMN_WIDTH_IN, height=3.4)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99)
    ax = axes[0, 0]
    ax.set_xlim(0, 14)
    ax.set_ylim(-1.2, 5.4)
    ax.set_aspect("equal")
    ax.axis("off")

    # the frequency law: p_i falling with the feature's rank i
    inset = ax.inset_axes((0.0, 1.3, 2.6, 2.4), transform=ax.transData)
    ranks = np.arange(1, 13)
    inset.bar(ranks, ranks ** -1.2, color="#1f77b4", width=0.8)
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_xlabel("rank $i$", fontsize=9, labelpad=3)
    inset.set_title(r"$p_i \propto i^{-\alpha}$", fontsize=10, pad=2)
    for side in ("top", "right"):
        inset.spines[side].set_visible(False)
    inset.grid(False)
    ax.text(1.3, 0.55, "frequencies,\n" r"$\sum_i p_i = 1$", ha="center", va="top", fontsize=9)

    x_in, x_hid, x_out = 4.0, 6.8, 9.6
    ys_feat = np.linspace(4.4, 0.4, _N_DRAWN)
    ys_hid = np.linspace(3.4, 1.4, _M_DRAWN)
    _links(ax, x_in, ys_feat, x_hid, ys_hid, _ACTIVE_ROW, from_active=True)
    _links(ax, x_hid, ys_hid, x_out, ys_feat, _ACTIVE_ROW, from_active=False)
    _column(ax, x_in, ys_feat, _FEATURE, active=_ACTIVE_ROW)
    _column(ax, x_hid, ys_hid, _HIDDEN)
    _column(ax, x_out, ys_feat, _FEATURE, active=_ACTIVE_ROW)
    ax.annotate("", xy=(x_in - 0.35, 2.4), xytext=(2.75, 2.4),
                arrowprops={"arrowstyle": "-|>", "color": _INK, "lw": 1.0})

    ax.text(x_in, 5.0, r"input $x \in \mathbb{R}^n$", ha="center", va="center", fontsize=10)
    ax.text(x_hid, 5.0, r"hidden $h \in \mathbb{R}^m$", ha="center", va="center", fontsize=10)
    ax.text(x_out, 5.0, r"output $y \in \mathbb{R}^n$", ha="center", va="center", fontsize=10)
    ax.text(x_in - 0.3, ys_feat[_ACTIVE_ROW], r"$x_i = v_i$ ", ha="right", va="center",
            fontsize=9, color=_ACTIVE)
    ax.text(x_hid, 0.6, r"$m < n$", ha="center", va="center", fontsize=10)
    ax.text((x_in + x_hid) / 2, -0.15, r"$h = W^{\top} x$", ha="center", va="center",
            fontsize=10)
    ax.text((x_hid + x_out) / 2, -0.15, r"$y = \mathrm{ReLU}(W h + b)$", ha="center",
            va="center", fontsize=10)
    ax.text((x_in + x_out) / 2, -0.8, r"one tied matrix $W \in \mathbb{R}^{n\times m}$: "
            r"row $W_i$ is feature $i$'s direction", ha="center", va="center", fontsize=9,
            color="#333333")

    _note(ax, 12.1, 3.6, "sparse input:\n"
          r"$x_i = u_i v_i$" "\n" r"$u_i \sim \mathrm{Bernoulli}(p_i)$" "\n" r"$v_i \sim U(0,2)$")
    _note(ax, 12.1, 1.0, r"loss $\langle \Vert y - x \Vert^2 \rangle$" "\n"
          r"decay $\gamma<0$: strong" "\n" r"decay $\gamma>0$: weak")
    ax.add_patch(FancyBboxPatch((x_hid - 0.45, ys_hid[-1] - 0.45), 0.9,
                                ys_hid[0] - ys_hid[-1] + 0.9,
                                boxstyle="round,pad=0.02,rounding_size=0.2", fill=False,
                                edgecolor=_INK, lw=0.8, ls="--"))
    return fig
