"""Plot helpers of the superposition chapter (the book's style itself: lib/core/plotting.py)."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.artist import Artist
from matplotlib.figure import Figure

LEGEND_ROW_IN = 0.21  # height of one legend row at 9 pt, inches
LEGEND_MARGIN_IN = 0.12


def legend_below(fig: Figure, entries: Sequence[tuple[Artist, str]], ncol: int = 3) -> None:
    """Lay the panels out above one legend of ``(handle, label)`` entries in ``ncol`` columns
    under them: at the column's width a legend inside a panel hides the data it explains."""
    if not entries:
        fig.tight_layout()
        return
    rows = -(-len(entries) // ncol)
    bottom = (LEGEND_MARGIN_IN + LEGEND_ROW_IN * rows) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 1))
    handles, labels = zip(*entries, strict=True)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9)


def legend_entries(ax, prefix: str = "") -> list[tuple[Artist, str]]:
    """The labelled artists of ``ax`` as ``(handle, prefix + label)`` pairs."""
    handles, labels = ax.get_legend_handles_labels()
    return [(h, prefix + lab) for h, lab in zip(handles, labels, strict=True)]
