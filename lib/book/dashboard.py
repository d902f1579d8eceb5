"""The claims dashboard: every chapter's claims.json of one profile, as one table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lib.core.results import REPO_ROOT

CHAPTER_ORDER = ["universality", "superposition", "one_third_time", "inverse_depth",
                 "es_curvature"]
VERDICT_MARK = {"held": "**held** ✓", "partly": "**partly** ◐", "not_held": "**not held** ✗",
                "not_reached": "**not reached** …"}


def load_claims(profile: str, root: Path = REPO_ROOT) -> pd.DataFrame:
    """All claims of a profile's run, one row each, with the chapter they come from."""
    from lib.book.runner import toc_docnames

    in_book = {Path(d).name for d in toc_docnames(root)}
    rows = []
    for path in sorted((root / "results" / profile).glob("*/claims.json")):
        if path.parent.name not in in_book:  # results of pages not in this book's toc
            continue
        for rec in json.loads(path.read_text()):
            rows.append({"chapter": path.parent.name, **rec})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {c: i for i, c in enumerate(CHAPTER_ORDER)}
    frame["_o"] = frame["chapter"].map(lambda c: order.get(c, len(order)))
    return frame.sort_values(["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def _num(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:.3g}"
    return str(v)


def dashboard_markdown(frame: pd.DataFrame) -> str:
    """A markdown table: chapter, claim, quantity, estimate [CI], paper value, verdict."""
    if frame.empty:
        return "_No chapter has written claims yet._"
    lines = [
        "| chapter | claim | quantity | estimate [CI] | paper | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in frame.itertuples():
        ci = (f" [{_num(r.ci_low)}, {_num(r.ci_high)}]"
              if r.ci_low is not None and not pd.isna(r.ci_low) else "")
        link = f"[{r.chapter}]({r.chapter}.ipynb)"
        lines.append(
            f"| {link} | {r.claim} | {r.quantity} | {_num(r.estimate)}{ci} | "
            f"{_num(r.paper_value)} | {VERDICT_MARK.get(r.verdict, r.verdict)} |"
        )
    return "\n".join(lines)
