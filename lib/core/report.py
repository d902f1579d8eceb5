"""How the book reports numbers: means over seeds, local exponents, intervals as text, tables.

One vocabulary for every chapter and topic:

- :func:`geometric_mean`: the mean of a loss over seeds (losses are averaged in log space, so a
  log-log fit of the mean has the mean of the per-seed slopes);
- :func:`local_slopes`: the exponent ``−Δ ln y / Δ ln x`` between (near) neighbouring points;
- :func:`ci_text` and :func:`estimate_text`: an interval, and an estimate with its interval, as
  text (:data:`NO_INTERVAL` where there is none, :data:`NO_ESTIMATE` where there is no number);
- :func:`format_table`: the one table formatter of the book (significant figures, integers as
  integers, no index, ``–`` for a missing value, verdicts in words and never wrapped).

- :func:`verdict_summary`: several verdicts in one sentence, in the words of
  :data:`lib.core.claims.VERDICT_WORD` (the one vocabulary of verdicts).

Gluing an estimate with its interval is :meth:`lib.core.chapter.ChapterRun.glue_interval`; a
claim takes its fit result whole (``run.claim(..., interval=iv)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from lib.core.claims import VERDICT_WORD

#: The text of an interval that does not exist (one seed, identical seeds, a failed bootstrap).
NO_INTERVAL = "[no interval]"
#: The text of an estimate that does not exist (every run diverged, a fit at a bound).
NO_ESTIMATE = "n/a"
#: A missing cell of a table.
MISSING = "–"


def geometric_mean(values: Any, axis: int = 0) -> np.ndarray | float:
    """``exp(mean(ln v))`` along ``axis`` (rows are seeds by default), over the entries that are
    finite and positive; NaN where none is. Takes anything ``np.asarray`` takes (a pandas
    Series, so it works as a ``groupby`` aggregate); returns a float for 1-D input."""
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v) & (v > 0)
    logs = np.where(ok, np.log(np.where(ok, v, 1.0)), 0.0)
    n = ok.sum(axis=axis)
    mean = np.where(n > 0, np.exp(logs.sum(axis=axis) / np.maximum(n, 1)), np.nan)
    return float(mean) if mean.ndim == 0 else mean


def local_slopes(x: Any, y: Any, span: int = 1, at: str = "x") -> tuple[np.ndarray, np.ndarray]:
    """Local exponents ``−(ln y_{i+span} − ln y_i) / (ln x_{i+span} − ln x_i)`` of a curve,
    sorted by ``x``, with points where ``x`` or ``y`` is not finite and positive left out.

    Returns ``(mid, slope)``: ``mid`` is the geometric mid-point of the two ends in ``x``
    (``at='x'``) or in ``y`` (``at='y'``: the exponent as a function of the loss, which does
    not depend on how fast an optimiser moves along the curve). A ``span`` above 1 smooths
    noise between neighbours. Fewer than ``span + 1`` points give two empty arrays."""
    if span < 1:
        raise ValueError(f"span must be ≥ 1, got {span}")
    if at not in ("x", "y"):
        raise ValueError(f"at must be 'x' or 'y', got {at!r}")
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in shape: {x.shape} vs {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    order = np.argsort(x[ok], kind="stable")
    lx, ly = np.log(x[ok][order]), np.log(y[ok][order])
    if lx.size <= span:
        return np.zeros(0), np.zeros(0)
    slope = -(ly[span:] - ly[:-span]) / (lx[span:] - lx[:-span])
    ends = lx if at == "x" else ly
    return np.exp(0.5 * (ends[span:] + ends[:-span])), slope


def _finite(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def ci_text(low: float | None, high: float | None, fmt: str = ".2f") -> str:
    """``'[low, high]'``, or :data:`NO_INTERVAL` when either end is None or not finite."""
    if not (_finite(low) and _finite(high)):
        return NO_INTERVAL
    return f"[{float(low):{fmt}}, {float(high):{fmt}}]"  # type: ignore[arg-type]


def estimate_text(value: Any, ci_low: float | None = None, ci_high: float | None = None,
                  fmt: str = ".2f") -> str:
    """``'estimate [low, high]'`` for prose and tables. ``value`` is a number (with
    ``ci_low``/``ci_high``) or anything with ``estimate``, ``ci_low`` and ``ci_high``
    attributes (a :class:`lib.core.fit.Interval`, a judged :class:`lib.core.claims.Claim`).
    A missing estimate reads :data:`NO_ESTIMATE`."""
    if hasattr(value, "estimate"):
        value, ci_low, ci_high = value.estimate, value.ci_low, value.ci_high
    if not _finite(value):
        return NO_ESTIMATE
    return f"{float(value):{fmt}} {ci_text(ci_low, ci_high, fmt)}"


def verdict_summary(verdicts: Mapping[str, str]) -> str:
    """``'held for A, B; not held for C'`` from a ``{name: verdict}`` mapping, verdicts in the
    order of the rule (held, partly, not held, not reached, fit failed)."""
    parts = []
    for verdict, word in VERDICT_WORD.items():
        names = [name for name, v in verdicts.items() if v == verdict]
        if names:
            parts.append(f"{word} for {', '.join(names)}")
    return "; ".join(parts)


def number_text(value: Any, digits: int = 3) -> str:
    """A table cell: ``digits`` significant figures in plain notation between 10⁻³ and 10⁵
    (scientific outside), integers as integers, booleans as yes/no, :data:`MISSING` for None
    and NaN, any other value as ``str``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if not isinstance(value, (float, np.floating)):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return MISSING if math.isnan(v) else ("∞" if v > 0 else "−∞")
    if v == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(v)))
    if magnitude < -3 or magnitude >= 5:
        return f"{v:.{max(digits - 1, 0)}e}"
    return f"{v:.{max(digits - 1 - magnitude, 0)}f}"


def _is_integer_column(col: pd.Series) -> bool:
    """Integer dtype, or floats whose finite values are all whole (counts that a NaN or a
    groupby turned into floats)."""
    if pd.api.types.is_bool_dtype(col):
        return False
    if pd.api.types.is_integer_dtype(col):
        return True
    if not pd.api.types.is_float_dtype(col):
        return False
    v = col.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return v.size > 0 and bool(np.all(v == np.round(v))) and bool(np.all(np.abs(v) < 1e15))


def _flat_name(name: Any) -> str:
    if isinstance(name, tuple):
        return " ".join(str(part) for part in name if str(part) != "")
    return str(name)


def table_frame(data: pd.DataFrame | Iterable[Mapping[str, Any]], digits: int = 3,
                columns: Sequence[str] | None = None,
                rename: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The cells :func:`format_table` shows, as a DataFrame of strings with a plain 0…n−1
    index: a meaningful index (named, or a MultiIndex) becomes columns, a default one is
    dropped; multi-level column names are joined with spaces; a verdict column shows the words
    of :data:`lib.core.claims.VERDICT_WORD`."""
    frame = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data))
    if columns is not None:
        frame = frame[list(columns)]
    if not isinstance(frame.index, pd.RangeIndex) or any(n is not None for n in frame.index.names):
        frame = frame.reset_index()
    frame.columns = [_flat_name(c) for c in frame.columns]
    if rename:
        frame = frame.rename(columns=dict(rename))
    out = {}
    for name in frame.columns:
        col = frame[name]
        if "verdict" in name.lower():
            out[name] = [MISSING if _missing(v) else VERDICT_WORD.get(str(v), str(v))
                         for v in col]
        elif _is_integer_column(col):
            out[name] = [MISSING if pd.isna(v) else str(int(v)) for v in col]
        else:
            out[name] = [number_text(None if _missing(v) else v, digits) for v in col]
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)), columns=list(frame.columns))


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array in a cell is not missing
        return False


def format_table(data: pd.DataFrame | Iterable[Mapping[str, Any]], digits: int = 3,
                 columns: Sequence[str] | None = None,
                 rename: Mapping[str, str] | None = None,
                 nowrap: Sequence[str] = ()) -> Styler:
    """The book's one table: :func:`table_frame`'s cells as an HTML table without an index.

    Columns whose name contains 'verdict', and those in ``nowrap``, are never wrapped or
    clipped. The result (a pandas ``Styler``) renders as an HTML table in the notebook and
    the built book; ``.data`` is the DataFrame of strings."""
    cells = table_frame(data, digits, columns, rename)
    keep_whole = [c for c in cells.columns if "verdict" in c.lower() or c in nowrap]
    styler = cells.style.hide(axis="index")
    if keep_whole:
        styler = styler.set_properties(subset=keep_whole, **{"white-space": "nowrap"})
    return styler
