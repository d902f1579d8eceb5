"""What every chapter's schematic test checks first (lib/<topic>/schematic.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lib.core.plotting import COLUMN_WIDTH_IN  # noqa: E402


def checked_schematic(draw: Callable[..., Any], **kw: Any) -> tuple[Figure, str]:
    """``draw(**kw)``: a Figure no wider than the text column that renders (its mathtext
    parses); returns it with all its text joined, for the test to look for the model's parts.
    The caller closes the figure."""
    fig = draw(**kw)
    assert isinstance(fig, Figure)
    assert fig.get_size_inches()[0] <= COLUMN_WIDTH_IN + 1e-9
    fig.savefig(io.BytesIO(), format="svg")
    return fig, " ".join(t.get_text() for t in fig.findobj(plt.Text))
