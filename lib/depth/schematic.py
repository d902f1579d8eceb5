"""A schematic of the inverse-depth toy (lib/depth/model.py): a teacher residual stream of depth
ℓ* and a student of depth ℓ, each layer adding an MLP update to the stream, then a norm, a
head and a softmax; the student is trained on KL(teacher ‖ student)."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from lib.core.plotting import COLUMN_WIDTH_IN, figure

_BOX = {"boxstyle": "round,pad=0.02,rounding_size=0.12", "linewidth": 1.0}
_TEACHER, _STUDENT, _HEAD = "#fde7d9", "#dbe8f5", "#eeeeee"


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str, size: float = 9):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, facecolor=color,
                                edgecolor="#444444", **_BOX))
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], **kw):
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.0,
                            "shrinkA": 0, "shrinkB": 0, **kw})


def _stream(ax, y: float, color: str, depth: str, layer: str, head: str, out: str) -> None:
    """One residual network along the line ``y``: x → h₀ → ⊕ … ⊕ → h_depth → rmsnorm → head →
    softmax → ``out``; ``layer`` is the text of the layer boxes (a format with ``{l}``)."""
    ax.text(0.25, y, "$x$", ha="center", va="center", fontsize=10)
    _arrow(ax, (0.45, y), (1.25, y))
    ax.text(0.85, y - 0.28, "rmsnorm", ha="center", va="top", fontsize=8, color="#555555")
    adds = [2.35, 3.95, 6.25]  # the ⊕ of layers 1, 2 and the last
    names = ["$h_0$", "$h_1$", "$h_2$", f"$h_{{{depth}}}$"]
    starts = [1.25, adds[0], adds[1], adds[2]]
    ends = [adds[0], adds[1], 5.0, 7.3]
    for a, b, name in zip(starts, ends, names, strict=True):
        ax.plot([a, b], [y, y], color="#444444", lw=1.4)
        ax.text((a + b) / 2 if b < 7 else 6.85, y - 0.22, name, ha="center", va="top",
                fontsize=9)
    ax.text(5.3, y, "⋯", ha="center", va="center", fontsize=12)
    ax.plot([5.6, adds[2]], [y, y], color="#444444", lw=1.4)
    for x, label in zip(adds, ["1", "2", depth], strict=True):
        branch = x - 0.75  # the update reads the stream before its ⊕ and is added back
        ax.plot([branch, branch], [y, y + 0.75], color="#444444", lw=1.0)
        _box(ax, x - 0.4, y + 1.0, 1.3, 0.5, layer.format(l=label), color, size=10)
        _arrow(ax, (x + 0.25, y + 0.75), (x + 0.06, y + 0.12))
        ax.add_patch(Circle((x, y), 0.12, facecolor="white", edgecolor="#444444", lw=1.0))
        ax.text(x, y, "+", ha="center", va="center", fontsize=8)
    _arrow(ax, (7.3, y), (7.5, y))
    _box(ax, 8.25, y, 1.5, 0.5, "rmsnorm", _HEAD, size=9)
    _arrow(ax, (9.0, y), (9.25, y))
    _box(ax, 10.05, y, 1.6, 0.5, head, _HEAD, size=9)
    _arrow(ax, (10.85, y), (11.07, y))
    _box(ax, 11.8, y, 1.45, 0.5, "softmax", _HEAD, size=9)
    _arrow(ax, (12.53, y), (12.7, y))
    ax.text(12.95, y, out, ha="center", va="center", fontsize=10)


def draw_schematic() -> Figure:
    """The teacher–student residual toy of the inverse-depth chapter as boxes and arrows."""
    fig, axes = figure(width=COLUMN_WIDTH_IN, height=3.3)
    ax = axes[0, 0]
    ax.set_xlim(0, 13.4)
    ax.set_ylim(-0.75, 4.45)
    ax.axis("off")
    top, bottom = 2.75, 0.35
    ax.text(0.0, top + 1.55, r"teacher, depth $\ell^*$: updates $f^*_l/\sqrt{\ell^*}$, layers "
            r"independent ($\rho = 0$) or all equal ($\rho = 1$)", fontsize=10, ha="left",
            va="center")
    _stream(ax, top, _TEACHER, r"\ell^*", r"$f^*_{{{l}}}$",
            r"$W^{*\top}z^*/T$", "$p^*$")
    ax.text(0.0, bottom + 1.55, r"student, depth $\ell$: $W^{\mathrm{proj}} = 0$ at the start "
            r"(the identity)", fontsize=10, ha="left", va="center")
    _stream(ax, bottom, _STUDENT, r"\ell", r"$f_{{{l}}}$", "head $s(z)$", "$q$")
    ax.annotate("", xy=(12.95, bottom + 0.3), xytext=(12.95, top - 0.3),
                arrowprops={"arrowstyle": "<|-|>", "color": "#b03030", "lw": 1.2})
    ax.text(12.8, (top + bottom) / 2, r"loss KL$(p^*\,\|\,q)$", ha="right", va="center",
            fontsize=9, color="#b03030")
    ax.text(6.4, -0.6,
            r"$f(h) = W^{\mathrm{proj}}\,\mathrm{relu}(W^{\mathrm{fc}}\,\mathrm{rmsnorm}(h)"
            r" + b)^2$, width 32, hidden 128", ha="center", va="center", fontsize=9,
            color="#333333")
    return fig
