"""Small text helpers for the chapter: markdown tables and CI strings."""

from __future__ import annotations

import math

import pandas as pd


def ci_text(low: float, high: float, fmt: str = ".3g") -> str:
    """'[low, high]', or 'n/a' when the bootstrap gave no interval."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{low:{fmt}}, {high:{fmt}}]"


def markdown_table(frame: pd.DataFrame, fmt: str = ".4g") -> str:
    """A GitHub-style markdown table of ``frame`` (floats with ``fmt``, None/NaN as '–')."""

    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        if isinstance(v, float):
            return format(v, fmt)
        return str(v)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])
