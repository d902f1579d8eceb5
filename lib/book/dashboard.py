"""The claims dashboard: every chapter's claims.json of one profile, as a tally (evidence kept
apart from the book's self-checks) and one table per chapter."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lib.core.claims import EVIDENCE_KINDS, KIND_TEXT, VERDICT_WORD
from lib.core.results import REPO_ROOT

CHAPTER_ORDER = ["universality", "superposition", "one_third_time", "inverse_depth",
                 "es_curvature"]
VERDICT_ORDER = ["held", "partly", "not_held", "not_reached", "fit_failed"]
VERDICT_MARK = {v: f"**{w}**" for v, w in VERDICT_WORD.items()}
KIND_WORD = {"toy_test": "toy-model test", "real_model": "real-model test",
             "data_refit": "refit of published data", "reproduction": "reproduction",
             "theory_check": "check of the book's maths", "reconstruction": "reconstruction"}


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
    if "kind" not in frame:  # results written before claims had kinds
        frame["kind"] = None
    order = {c: i for i, c in enumerate(CHAPTER_ORDER)}
    frame["_o"] = frame["chapter"].map(lambda c: order.get(c, len(order)))
    return frame.sort_values(["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def _num(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "–"
    if isinstance(v, (int, float)):
        return f"{v:.3g}"
    return str(v)


def tally(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts of verdicts per kind of claim (rows: kinds, evidence first; columns: verdicts)."""
    kinds = [k for k in KIND_TEXT if k in set(frame["kind"])] + (
        ["(no kind)"] if frame["kind"].isna().any() else [])
    table = pd.DataFrame(0, index=kinds, columns=VERDICT_ORDER)
    for r in frame.itertuples():
        table.loc[r.kind if isinstance(r.kind, str) else "(no kind)", r.verdict] += 1
    return table


def tally_markdown(frame: pd.DataFrame) -> str:
    """The tally as markdown, tests of the papers first, then the rest, with totals."""
    table = tally(frame)
    cols = [v for v in VERDICT_ORDER if table[v].sum() > 0]
    head = ("| kind of claim | " + " | ".join(VERDICT_WORD[v] for v in cols) + " | total |\n"
            + "|---|" + "---:|" * (len(cols) + 1))
    lines = [head]
    for group, kinds in (("**tests of the papers**", [k for k in table.index
                                                       if k in EVIDENCE_KINDS]),
                         ("**not evidence for a paper**", [k for k in table.index
                                                           if k not in EVIDENCE_KINDS])):
        if not kinds:
            continue
        sub = table.loc[kinds, cols]
        lines.append(f"| {group} | " + " | ".join(f"**{int(n)}**" for n in sub.sum())
                     + f" | **{int(sub.values.sum())}** |")
        for k in kinds:
            lines.append(f"| &emsp;{KIND_WORD.get(k, k)} | "
                         + " | ".join(str(int(n)) for n in table.loc[k, cols])
                         + f" | {int(table.loc[k, cols].sum())} |")
    return "\n".join(lines)


def dashboard_markdown(frame: pd.DataFrame) -> str:
    """The tally, then a table per chapter: claim, kind, estimate [CI], paper ± tolerance,
    verdict and its reason."""
    if frame.empty:
        return "_No chapter has written claims yet._"
    parts = [tally_markdown(frame)]
    for chapter, rows in frame.groupby("chapter", sort=False):
        lines = [f"\n### [{chapter}]({chapter}.ipynb)\n",
                 "| claim | kind | estimate [95 % CI] | paper (tolerance) | verdict | why |",
                 "|---|---|---|---|---|---|"]
        for r in rows.itertuples():
            ci = (f" [{_num(r.ci_low)}, {_num(r.ci_high)}]"
                  if r.ci_low is not None and not pd.isna(r.ci_low) else "")
            tol = getattr(r, "tolerance", "") or ""
            paper = _num(r.paper_value) + (f" ({tol})" if tol else "")
            kind = KIND_WORD.get(r.kind, "–") if isinstance(r.kind, str) else "–"
            note = str(r.note).split(". ")[0].replace("|", "/") if r.note else ""
            lines.append(f"| {r.claim} ({r.quantity}) | {kind} | {_num(r.estimate)}{ci} | "
                         f"{paper} | {VERDICT_MARK.get(r.verdict, r.verdict)} | {note} |")
        parts.append("\n".join(lines))
    return "\n".join(parts)
