"""A schematic of the one-third toy (lib/one_third/model.py): one input x̂ read by a fixed
teacher head W*/T, whose softmax is a peaked target p*, and by a student head W, started at zero,
whose softmax q is trained by gradient descent on KL(p* ‖ q)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from lib.core.plotting import COLUMN_WIDTH_IN, figure

_BOX = {"boxstyle": "round,pad=0.02,rounding_size=0.12", "linewidth": 1.0}
_TEACHER, _STUDENT, _INPUT, _LOSS = "#fde7d9", "#dbe8f5", "#eeeeee", "#b03030"


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str, size: float = 9):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, facecolor=color,
                                edgecolor="#444444", **_BOX))
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = "#444444",
           **kw):
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.0, "shrinkA": 0,
                            "shrinkB": 0, **kw})


def _softmax_bars(fig: Figure, ax, x: float, y: float, probs: np.ndarray, color: str) -> None:
    """A small bar chart of ``probs`` centred at data point (x, y) of ``ax``."""
    w, h = 2.0, 1.0
    (x0, y0), (x1, y1) = ax.transData.transform([(x - w / 2, y - h / 2), (x + w / 2, y + h / 2)])
    inv = fig.transFigure.inverted()
    (fx0, fy0), (fx1, fy1) = inv.transform([(x0, y0), (x1, y1)])
    inset = fig.add_axes((fx0, fy0, fx1 - fx0, fy1 - fy0))
    inset.bar(np.arange(probs.size), probs, width=0.8, color=color, edgecolor="#444444",
              linewidth=0.4)
    inset.set_ylim(0, 1.0)
    inset.set_xticks([])
    inset.set_yticks([])
    inset.grid(False)
    for side in ("top", "right"):
        inset.spines[side].set_visible(False)


def draw_schematic(n_logits: int = 12, beta_star: float = 4.0, beta: float = 0.6,
                   seed: int = 0) -> Figure:
    """The teacher–student softmax head of the one-third chapter as boxes and arrows, with
    the two softmaxes drawn for ``n_logits`` Gaussian logits: the teacher's at inverse
    temperature ``beta_star`` (peaked), the student's on its way there at ``beta``."""
    fig, axes = figure(width=COLUMN_WIDTH_IN, height=3.4)
    ax = axes[0, 0]
    ax.set_xlim(0, 13.4)
    ax.set_ylim(-1.15, 4.4)
    ax.axis("off")
    fig.subplots_adjust(0, 0, 1, 1)
    top, bottom, middle = 3.2, 0.75, 1.975

    _box(ax, 1.15, middle, 2.0, 1.0, "input\n" + r"$\hat x = x/\mathrm{rms}(x)$", _INPUT, 10)
    ax.text(1.15, middle - 0.8, r"$x \sim N(0, I_d)$", ha="center", va="center", fontsize=9,
            color="#555555")
    _arrow(ax, (2.15, middle + 0.25), (2.7, top))
    _arrow(ax, (2.15, middle - 0.25), (2.7, bottom))

    _box(ax, 4.0, top, 2.6, 1.0, "teacher logits\n" + r"$t = W^*\hat x\,/\,T$", _TEACHER, 10)
    ax.text(4.0, top + 0.8, r"$W^*$ fixed, $\beta^*$ = 1/(√3 $T$)", ha="center", va="center",
            fontsize=9)
    _box(ax, 4.0, bottom, 2.6, 1.0, "student logits\n" + r"$s = W\hat x$", _STUDENT, 10)
    ax.text(4.0, bottom - 0.8, r"$W$ trained, 0 at the start", ha="center", va="center",
            fontsize=9)

    for y in (top, bottom):
        _arrow(ax, (5.3, y), (6.25, y))
        ax.text(5.78, y + 0.1, "softmax", ha="center", va="bottom", fontsize=8,
                color="#555555")

    z = np.sort(np.random.default_rng(seed).standard_normal(n_logits))[::-1]
    p_star = np.exp(beta_star * (z - z.max()))
    q = np.exp(beta * (z - z.max()))
    _softmax_bars(fig, ax, 7.35, top + 0.1, p_star / p_star.sum(), "#e6a57e")
    _softmax_bars(fig, ax, 7.35, bottom + 0.1, q / q.sum(), "#8fb3d9")
    ax.text(7.35, top - 0.65, r"target $p^*$ (peaked)", ha="center", va="center", fontsize=9)
    ax.text(7.35, bottom - 0.65, r"student $q$", ha="center", va="center", fontsize=9)

    _arrow(ax, (8.45, top), (9.75, middle + 0.3))
    _arrow(ax, (8.45, bottom), (9.75, middle - 0.3))
    _box(ax, 11.35, middle, 3.1, 1.0, "loss\n" + r"$L = \mathrm{KL}(p^*\,\|\,q)$", "#f7e1e1",
         10)
    path_y = -0.5  # the gradient goes back from the loss to the student's weights
    ax.plot([11.35, 11.35, 5.0], [middle - 0.5, path_y, path_y], color=_LOSS, lw=1.2)
    _arrow(ax, (5.0, path_y), (5.0, bottom - 0.5), color=_LOSS, lw=1.2)
    ax.text(8.2, path_y - 0.12, r"gradient step $W \leftarrow W - \eta\,\nabla_W L$;  "
            r"dynamic time $\tau = \Sigma_t\,\eta_t$", ha="center", va="top", fontsize=9,
            color=_LOSS)
    return fig
