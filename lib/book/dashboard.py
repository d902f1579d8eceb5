"""What the book concludes, from every chapter's ``claims.json`` of one profile: the tally (tests
of the papers kept apart from the book's self-checks), the summary figure, the landing page's
per-chapter tables, each chapter's verdict strip and the closing chapter's prose.

Every claim has an anchor ``claim-<id>`` in its chapter's verdict strip (:func:`strip_html`,
glued at the end of the chapter by :func:`glue_verdict_strip` and shown near its top); the
landing page and the closing chapter link there. Verdict colours come from
:data:`lib.core.claims.VERDICT_COLOUR`, words from :data:`lib.core.claims.VERDICT_WORD`.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.core.claims import EVIDENCE_KINDS, KIND_TEXT, VERDICT_COLOUR, VERDICT_WORD
from lib.core.results import REPO_ROOT

CHAPTER_ORDER = ["universality", "superposition", "one_third_time", "inverse_depth",
                 "es_curvature"]
CHAPTER_TITLE = {"universality": "Universality", "superposition": "Superposition",
                 "one_third_time": "One-third time", "inverse_depth": "Inverse depth",
                 "es_curvature": "ES curvature", "performance": "Performance"}
VERDICT_ORDER = ["held", "partly", "not_held", "not_reached", "fit_failed"]
KIND_WORD = {"toy_test": "toy-model test", "real_model": "real-model test",
             "data_refit": "refit of published data", "reproduction": "reproduction",
             "theory_check": "check of the book's maths", "reconstruction": "reconstruction"}
STRIP_KEY = "verdict_strip"  # the glue key of a chapter's verdict strip


# ---- reading the claims ---------------------------------------------------------------------


def load_claims(profile: str, root: Path = REPO_ROOT) -> pd.DataFrame:
    """All claims of a profile's run, one row each, with the chapter they come from."""
    from lib.book.pages import toc_docnames

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
    for column in ("kind", "tolerance", "note", "n_seeds"):
        if column not in frame:  # results written before claims had these fields
            frame[column] = None
    order = {c: i for i, c in enumerate(CHAPTER_ORDER)}
    frame["_o"] = frame["chapter"].map(lambda c: order.get(c, len(order)))
    return frame.sort_values(["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def _num(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, float, np.floating)):
        return f"{float(v):.3g}"
    return str(v)


def _finite(v: object) -> bool:
    return isinstance(v, (int, float, np.floating)) and math.isfinite(float(v))


def estimate_text(rec: Any) -> str:
    """'0.98 [0.90, 1.05]', '0.98 (no interval)' or 'no estimate'."""
    est, lo, hi = _get(rec, "estimate"), _get(rec, "ci_low"), _get(rec, "ci_high")
    if not _finite(est):
        return "no estimate"
    if _finite(lo) and _finite(hi):
        return f"{_num(est)} [{_num(lo)}, {_num(hi)}]"
    return f"{_num(est)} (no interval)"


def reason(rec: Any) -> str:
    """The verdict's reason: the note's first clause (the rule's reason, which leads it)."""
    note = str(_get(rec, "note") or "")
    first = note.split("; premises checked")[0].split(". ")[0]
    return first.strip().rstrip(".")


def _get(rec: Any, name: str) -> Any:
    value = rec.get(name) if isinstance(rec, dict) else getattr(rec, name, None)
    return None if isinstance(value, float) and math.isnan(value) else value


# ---- the tally ------------------------------------------------------------------------------


def tally(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts of verdicts per kind of claim (rows: kinds, evidence first; columns: verdicts)."""
    kinds = [k for k in KIND_TEXT if k in set(frame["kind"])] + (
        ["(no kind)"] if frame["kind"].isna().any() else [])
    table = pd.DataFrame(0, index=kinds, columns=VERDICT_ORDER)
    for r in frame.itertuples():
        table.loc[r.kind if isinstance(r.kind, str) else "(no kind)", r.verdict] += 1
    return table


def chip(verdict: str, short: bool = False) -> str:
    """A verdict as a coloured word (HTML), the one mark every table and strip uses
    (``short``: 'partly' for 'partly (undecided)', for narrow headers)."""
    word = VERDICT_WORD.get(verdict, verdict)
    word = html.escape(word.split(" (")[0] if short else word)
    return (f'<span class="verdict verdict-{verdict}" '
            f'style="background:{VERDICT_COLOUR.get(verdict, "#444")}">{word}</span>')


def tally_html(frame: pd.DataFrame) -> str:
    """The tally: kinds of claim down, verdicts across, tests of the papers first, totals."""
    table = tally(frame)
    cols = [v for v in VERDICT_ORDER if table[v].sum() > 0]
    head = "".join(f"<th>{chip(v, short=True)}</th>" for v in cols)
    rows = []
    for group, kinds in (("tests of the papers", [k for k in table.index
                                                  if k in EVIDENCE_KINDS]),
                         ("not evidence for a paper", [k for k in table.index
                                                       if k not in EVIDENCE_KINDS])):
        if not kinds:
            continue
        sub = table.loc[kinds, cols]
        rows.append(f'<tr class="tally-group"><th scope="row">{group}</th>'
                    + "".join(f"<td>{int(n)}</td>" for n in sub.sum())
                    + f"<td>{int(sub.values.sum())}</td></tr>")
        for k in kinds:
            rows.append(f'<tr><th scope="row" class="tally-kind">{KIND_WORD.get(k, k)}</th>'
                        + "".join(f"<td>{int(n) or ''}</td>" for n in table.loc[k, cols])
                        + f"<td>{int(table.loc[k, cols].sum())}</td></tr>")
    return ('<div class="claims-scroll"><table class="claims-tally">'
            f"<thead><tr><th>kind of claim</th>{head}<th>total</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def tally_sentence(frame: pd.DataFrame) -> str:
    """One sentence: how many claims, how many tests of the papers, and their verdicts."""
    tests = frame[frame["kind"].isin(EVIDENCE_KINDS)]
    counts = ", ".join(f"{int((tests['verdict'] == v).sum())} {VERDICT_WORD[v]}"
                       for v in VERDICT_ORDER if (tests["verdict"] == v).any())
    return (f"{len(frame)} claims in {frame['chapter'].nunique()} chapters; "
            f"{len(tests)} of them test the papers' claims ({counts or 'none'}), the other "
            f"{len(frame) - len(tests)} reproduce, refit or check the book's own mathematics.")


# ---- the tolerance band and the summary figure ---------------------------------------------


def band(rec: Any) -> tuple[float, float, float] | None:
    """(reference, low, high) of the band a claim states, parsed from the text
    :func:`lib.core.claims.decide` writes ('±10 % of 1', '±0.05', 'one-sided: above 0');
    None when the band cannot be placed (an absolute band around a value given as text)."""
    tol, paper = str(_get(rec, "tolerance") or ""), _get(rec, "paper_value")
    if m := re.fullmatch(r"one-sided: above (\S+)", tol):
        bound = float(m.group(1))
        return bound, bound, math.inf
    if m := re.fullmatch(r"±(\S+) % of (\S+)", tol):
        target = float(paper) if _finite(paper) else float(m.group(2))
        half = float(m.group(1)) / 100 * abs(target)
    elif (m := re.fullmatch(r"±(\S+)", tol)) and _finite(paper):
        target, half = float(paper), float(m.group(1))
    else:
        return None
    return target, target - half, target + half


def deviation(rec: Any) -> tuple[float, float, float] | None:
    """Estimate, CI low and CI high measured from the paper's value in tolerance half-widths
    (the band is then [−1, 1]); for a one-sided claim from its bound in units of |bound| (the
    band is then [0, ∞)). NaN where the record has no such number; None without a band."""
    b = band(rec)
    if b is None:
        return None
    ref, lo, hi = b
    unit = (hi - ref) if math.isfinite(hi) else (abs(ref) or 1.0)

    def scale(v: Any) -> float:
        return (float(v) - ref) / unit if _finite(v) else math.nan

    return scale(_get(rec, "estimate")), scale(_get(rec, "ci_low")), scale(_get(rec, "ci_high"))


def summary_figure(frame: pd.DataFrame, width: float = 6.4):
    """Each claim's estimate and CI against the paper's value, in units of its tolerance (the
    shaded band: inside it the claim can hold), coloured by verdict, grouped by chapter."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from lib.core.plotting import use_house_style

    use_house_style()
    rows: list[tuple[str, Any] | str] = []
    for chapter, group in frame.groupby("chapter", sort=False):
        rows.append(chapter)
        rows += [(chapter, r) for r in group.to_dict("records")]
    height = 0.9 + 0.2 * len(rows)
    fig, ax = plt.subplots(figsize=(width, height))
    limit = 30.0  # beyond ±30 tolerance widths a point is drawn at the edge with an arrow
    ax.set_xscale("symlog", linthresh=2, linscale=1.5)
    ax.set_xlim(-limit * 1.6, limit * 1.6)
    labels, ys = [], []
    for i, row in enumerate(rows):
        y = -i
        if isinstance(row, str):
            ax.text(-limit * 1.55, y, CHAPTER_TITLE.get(row, row), fontsize=10, weight="bold",
                    va="center", ha="left")
            ax.axhline(y + 0.5, color="#999", lw=0.6) if i else None
            continue
        rec = row[1]
        labels.append(_short_id(rec["id"]))
        ys.append(y)
        colour = VERDICT_COLOUR.get(rec["verdict"], "#444")
        dev = deviation(rec)
        right = math.inf if dev is not None and math.isinf(band(rec)[2]) else 1.0
        ax.fill_betweenx([y - 0.42, y + 0.42], 0 if right == math.inf else -1,
                         limit * 1.6 if right == math.inf else 1, color="#2a7de1", alpha=0.13,
                         lw=0)
        if dev is None or math.isnan(dev[0]):
            ax.text(0, y, "no estimate" if dev is not None else "band given as text",
                    fontsize=8.5, va="center", ha="center", color=colour, style="italic")
            continue
        est, lo, hi = (max(-limit, min(limit, v)) if not math.isnan(v) else v for v in dev)
        if not math.isnan(lo):
            ax.plot([lo, hi], [y, y], color=colour, lw=2.2, solid_capstyle="butt")
        evidence = rec.get("kind") in EVIDENCE_KINDS  # filled: a test of a paper
        ax.plot([est], [y], "o", color=colour, ms=5 if evidence else 4.5,
                mfc=colour if evidence else "white", mec=colour if not evidence else "white",
                mew=1.2 if not evidence else 0.6)
        for v, edge in ((dev[2], limit), (dev[1], -limit)):
            if not math.isnan(v) and abs(v) > limit and np.sign(v) == np.sign(edge):
                ax.annotate("", (edge * 1.35, y), (edge, y),
                            arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.2})
    ax.set_yticks(ys, labels, fontsize=9)
    claims = [r[1] for r in rows if not isinstance(r, str)]
    for tick, rec in zip(ax.get_yticklabels(), claims, strict=True):
        if rec.get("kind") not in EVIDENCE_KINDS:
            tick.set_color("#666")
    ax.set_ylim(-len(rows) + 0.4, 0.7)
    ax.axvline(0, color="#333", lw=0.8)
    ax.set_xticks([-10, -3, -1, 0, 1, 3, 10])
    ax.set_xticklabels(["−10", "−3", "−1", "0", "1", "3", "10"])
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("(estimate − paper's value) / tolerance")
    handles = [Line2D([], [], color=VERDICT_COLOUR[v], marker="o", lw=2.2, ms=4.5,
                      label=VERDICT_WORD[v]) for v in VERDICT_ORDER
               if (frame["verdict"] == v).any()]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="#2a7de1", alpha=0.13,
                                 label="tolerance band"))
    handles.append(Line2D([], [], color="#444", marker="o", lw=0, ms=5, label="test of a paper"))
    handles.append(Line2D([], [], color="#444", marker="o", lw=0, ms=4.5, mfc="white",
                          mew=1.2, label="check (grey label)"))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.45, 1.0), ncol=3,
              fontsize=9, handlelength=1.6, columnspacing=1.0)
    fig.tight_layout()
    return fig


def _short_id(claim_id: str, width: int = 30) -> str:
    text = claim_id.replace("_", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


# ---- tables and strips ----------------------------------------------------------------------


def claim_href(chapter: str, claim_id: str) -> str:
    """The link to a claim's anchor in its chapter, from a page of the same folder."""
    return f"{chapter}.html#{anchor(claim_id)}"


def anchor(claim_id: str) -> str:
    return f"claim-{claim_id}"


def _paper_text(rec: Any) -> str:
    paper = _get(rec, "paper_value")
    return _num(paper) if paper is not None else "–"


def chapter_table_html(chapter: str, rows: pd.DataFrame) -> str:
    """One chapter's claims as a table that fits the column: verdict, claim (linked to its
    anchor, with the measured quantity, kind and the verdict's reason below), estimate [CI],
    paper's value and tolerance. Below 600 px each row stacks (``_static/book.css``)."""
    body = []
    for r in rows.to_dict("records"):
        kind = KIND_WORD.get(r.get("kind"), "–") if isinstance(r.get("kind"), str) else "–"
        tol = html.escape(str(r.get("tolerance") or "–"))
        body.append(
            "<tr>"
            f'<td data-label="verdict">{chip(r["verdict"])}</td>'
            f'<td data-label="claim" class="claim-cell"><a href="{claim_href(chapter, r["id"])}">'
            f'{html.escape(str(r["claim"]))}</a>'
            f'<div class="claim-detail">{html.escape(str(r["quantity"]))} · {kind}</div>'
            f'<div class="claim-reason">{html.escape(reason(r))}</div></td>'
            f'<td data-label="estimate [95 % CI]" class="num">{_estimate_cell(r)}</td>'
            f'<td data-label="paper (tolerance)" class="num">'
            f"{html.escape(_paper_text(r))}<div class=\"claim-detail\">{tol}</div></td>"
            "</tr>")
    return ('<div class="claims-scroll"><table class="claims-table">'
            "<thead><tr><th>verdict</th><th>claim</th><th>estimate [95 % CI]</th>"
            "<th>paper (tolerance)</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _estimate_cell(rec: Any) -> str:
    """The estimate, its interval on a line of its own (so that it wraps only there)."""
    text = estimate_text(rec)
    head, _, ci = text.partition(" ")
    if not ci or not _finite(_get(rec, "estimate")):
        return html.escape(text)
    return f'{html.escape(head)} <span class="ci">{html.escape(ci)}</span>'


def chapter_tables_html(frame: pd.DataFrame) -> str:
    """A table per chapter, in the book's order, each folded under a line with the chapter's
    verdict counts (open it to read the claims)."""
    parts = []
    for chapter, rows in frame.groupby("chapter", sort=False):
        counts = " ".join(f"{chip(v, short=True)}&nbsp;{int((rows['verdict'] == v).sum())}"
                          for v in VERDICT_ORDER if (rows["verdict"] == v).any())
        title = CHAPTER_TITLE.get(chapter, chapter)
        parts.append(f'<details class="claims-chapter"><summary><strong>{title}</strong>: '
                     f'{len(rows)} claims <span class="claims-count">{counts}</span></summary>'
                     f'<p class="claims-open"><a href="{chapter}.html">Read the {title} '
                     "chapter</a></p>" + chapter_table_html(chapter, rows) + "</details>")
    return "\n".join(parts)


def strip_html(claims: list[dict[str, Any]], chapter: str) -> str:
    """A chapter's verdict strip: every claim, failures included, each with its anchor
    ``claim-<id>``, verdict, estimate [CI] against the paper's value, and tolerance."""
    if not claims:
        return '<div class="verdict-strip"><p>This run recorded no claims.</p></div>'
    counts = ", ".join(f"{sum(c['verdict'] == v for c in claims)} {VERDICT_WORD[v]}"
                       for v in VERDICT_ORDER if any(c["verdict"] == v for c in claims))
    items = []
    for c in claims:
        kind = KIND_WORD.get(c.get("kind"), "")
        items.append(
            f'<li id="{anchor(c["id"])}">{chip(c["verdict"])} '
            f'<span class="strip-claim">{html.escape(str(c["claim"]))}</span> '
            f'<span class="claim-detail">({html.escape(str(c["quantity"]))}; {kind}): '
            f"{html.escape(estimate_text(c))} against {html.escape(_paper_text(c))}"
            f" ({html.escape(str(c.get('tolerance') or 'no band'))})</span></li>")
    return (f'<div class="verdict-strip"><p class="strip-head"><strong>Verdicts of this run'
            f"</strong>: {len(claims)} claims, {counts} (the rule: the book's "
            '<a href="intro.html">introduction</a>).</p>'
            f"<ul>{''.join(items)}</ul></div>")


def glue_verdict_strip(run: Any) -> None:
    """Glue the chapter's verdict strip (every claim ``run`` recorded) as HTML under
    :data:`STRIP_KEY`; the chapter shows it near its top with ``{glue} verdict_strip``.
    Call it in the chapter's last cell, after every claim is recorded."""
    from IPython.display import HTML

    claims = [c.model_dump() for c in run.claims]
    try:
        from myst_nb import glue
    except ImportError:  # outside the book environment: nothing to glue into
        return
    glue(STRIP_KEY, HTML(strip_html(claims, run.chapter)), display=False)


# ---- the closing chapter --------------------------------------------------------------------

GROUPS = [("held", ["held"], "Held"),
          ("not_held", ["not_held"], "Did not hold"),
          ("partly", ["partly"], "Undecided"),
          ("not_reached", ["not_reached", "fit_failed"], "Not reached")]


def _settle(rec: dict[str, Any], profile: str, full_changes: str) -> str:
    """What would settle an open claim, from its verdict, reason and the run's profile."""
    verdict = rec["verdict"]
    seeds = int(rec["n_seeds"]) if _finite(rec.get("n_seeds")) else None
    larger = (" The `full` profile's run could (below)." if profile != "full" and full_changes
              else "")
    if verdict == "partly":
        if not _finite(rec.get("ci_low")):
            return "An interval: more than one replicate (seeds) of the same run." + larger
        return ("A narrower interval: more seeds"
                + (f" than this run's {seeds}" if seeds else "")
                + " or longer runs, until it lies wholly inside or outside the band." + larger)
    if verdict == "not_reached":
        return f"Meeting the premise that failed ({_md(reason(rec))})." + larger
    if verdict == "fit_failed":
        return "A run that does not diverge, so there is an estimate to judge." + larger
    if verdict == "not_held":
        return ("Decided against the paper in this run's regime"
                + (f" ({profile} profile); a larger run would show whether the regime of the "
                   "paper is reached." if profile != "full" else ".") + "")
    return ""


def full_profile_changes(chapter: str, used: dict[str, Any], root: Path = REPO_ROOT,
                         most: int = 4) -> str:
    """'steps 2000 → 80000, n_seeds 3 → 5' for the parameters the full profile changes."""
    import yaml

    path = root / "book" / "params" / chapter / "full.yaml"
    if not path.exists():
        return ""
    full = yaml.safe_load(path.read_text()) or {}
    changes = [f"{k} {_short(used.get(k))} → {_short(v)}" for k, v in full.items()
               if k not in ("profile", "device", "results_dir") and used.get(k) != v]
    more = f", and {len(changes) - most} more" if len(changes) > most else ""
    return ", ".join(changes[:most]) + more


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _md(text: Any) -> str:
    """Text safe inside generated markdown (no emphasis, links, math or roles from it)."""
    return re.sub(r"([\\`*_\[\]$|<>{}])", r"\\\1", str(text))


def _short(v: Any, width: int = 24) -> str:
    text = str(v)
    return text if len(text) <= width else text[: width - 1] + "…"


def closing_sections(frame: pd.DataFrame, profile: str,
                     root: Path = REPO_ROOT) -> dict[str, str]:
    """The closing chapter's sections as markdown, by key: one per verdict group (``held``,
    ``not_held``, ``partly``, ``not_reached``: every claim once, tests of the papers first,
    with what would settle the open ones), ``meaning`` (the tally per chapter) and ``runs``
    (what each chapter's ``full`` profile changes)."""
    used = {}
    for chapter in frame["chapter"].unique() if not frame.empty else []:
        env = root / "results" / profile / chapter / "environment.json"
        params = json.loads(env.read_text()).get("parameters", {}) if env.exists() else {}
        used[chapter] = full_profile_changes(chapter, params, root)
    sections: dict[str, str] = {}
    for key, verdicts, _ in GROUPS:
        sub = frame[frame["verdict"].isin(verdicts)] if not frame.empty else frame
        if sub.empty:
            sections[key] = "No claim of this run."
            continue
        parts = [f"{len(sub)} claim{'s' if len(sub) != 1 else ''}."]
        for evidence, label in ((True, "Tests of the papers"),
                                (False, "Reproductions, refits and checks of the book")):
            part = sub[sub["kind"].isin(EVIDENCE_KINDS) == evidence]
            if part.empty:
                continue
            parts.append(f"\n*{label}:*\n")
            for r in part.to_dict("records"):
                title = _md(html.escape(f"{CHAPTER_TITLE.get(r['chapter'], r['chapter'])}: "
                                        f"{r['claim']}"))
                line = (f'- <a href="{claim_href(r["chapter"], r["id"])}">{title}</a> '
                        f"({_md(r['quantity'])}): {_md(estimate_text(r))} against "
                        f"{_md(_paper_text(r))} ({_md(r.get('tolerance') or 'no band')}), "
                        f"*{VERDICT_WORD[r['verdict']]}*. {_md(_sentence(reason(r)))}.")
                settle = _settle(r, profile, _md(used.get(r["chapter"], "")))
                if settle:
                    line += f" *To settle it:* {settle}"
                parts.append(line)
        sections[key] = "\n".join(parts)
    lines = []
    for chapter, rows in (frame.groupby("chapter", sort=False) if not frame.empty else []):
        tests = rows[rows["kind"].isin(EVIDENCE_KINDS)]
        counts = ", ".join(f"{int((tests['verdict'] == v).sum())} {VERDICT_WORD[v]}"
                           for v in VERDICT_ORDER if (tests["verdict"] == v).any())
        open_ = int(tests["verdict"].isin(["partly", "not_reached", "fit_failed"]).sum())
        line = (f"- {CHAPTER_TITLE.get(chapter, chapter)}: of {len(tests)} tests of the "
                f"papers, {counts or 'none'}")
        if len(tests) and open_ == len(tests):
            line += ": this run decides none of them"
        elif open_:
            line += f"; {open_} still open"
        others = len(rows) - len(tests)
        lines.append(line + f" ({others} further check{'s' if others != 1 else ''}).")
    lines.append(f"\nThese verdicts are those of the *{profile}* profile"
                 + (", smaller than the papers' scale: an open claim here is one this run "
                    "could not decide, not evidence against the paper." if profile != "full"
                    else "."))
    sections["meaning"] = "\n".join(lines)
    runs = [(c, changes) for c, changes in used.items() if changes]
    if profile != "full" and runs:
        sections["runs"] = "\n".join(
            ["Each chapter's `full` profile (one GPU; `python -m lib.book run <chapter> "
             "--profile full --device cuda`) changes, against this run:\n"]
            + [f"- {CHAPTER_TITLE.get(c, c)}: {_md(changes)}." for c, changes in runs])
    else:
        sections["runs"] = "This build ran the `full` profile." if profile == "full" else \
            "No chapter has a `full` profile that differs from this run."
    return sections


def closing_markdown(frame: pd.DataFrame, profile: str, root: Path = REPO_ROOT) -> str:
    """The closing chapter's sections in one markdown text, each under its heading."""
    if frame.empty:
        return "_No chapter has written claims yet._"
    sections = closing_sections(frame, profile, root)
    heads = {key: title for key, _, title in GROUPS}
    heads.update(meaning="What it means", runs="The runs that could settle them")
    return "\n\n".join(f"## {heads[k]}\n\n{text}" for k, text in sections.items())


def built_commit(profile: str, root: Path = REPO_ROOT) -> str:
    """The git commit the chapters of this build ran at (from their environment records)."""
    for env in sorted((root / "results" / profile).glob("*/environment.json")):
        commit = json.loads(env.read_text()).get("git_commit")
        if commit:
            return str(commit)
    return ""


def cite_bibtex(commit: str = "", year: str = "2026") -> str:
    """The BibTeX entry for citing this book (the commit names the exact version read)."""
    note = f"Living paper (Jupyter Book), built from commit {commit[:12]}" if commit else \
        "Living paper (Jupyter Book)"
    return ("@misc{scaling_universality_book,\n"
            "  title  = {Scaling Universality: a living paper},\n"
            "  author = {{The Scaling Universality authors}},\n"
            f"  year   = {{{year}}},\n"
            f"  note   = {{{note}}}\n}}")


# ---- the landing page -----------------------------------------------------------------------


def landing_html(frame: pd.DataFrame) -> str:
    """The landing page's answer: the sentence and the tally (the figure follows)."""
    if frame.empty:
        return "<p><em>No chapter has written claims yet.</em></p>"
    return f"<p>{html.escape(tally_sentence(frame))}</p>{tally_html(frame)}"
