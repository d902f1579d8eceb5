"""Which claims of the other chapters test an exponent of the universal law
``L = E + c_τ τ^(−1/3) + c_m/m + c_ℓ/ℓ`` (Liu and Gore, arXiv 2606.25008), read from their
``claims.json`` (never retyped).

A claim tests a term of the law only if it is named in :data:`LAW_TESTS`: an explicit list of
claim ids (or id patterns, written out here) per term, chosen by what the claim measures, never
by whether its reference value happens to equal 1 or 1/3. Only claims of an evidence kind
(``toy_test``, ``real_model``) are counted; the others are listed with their kind and not counted.
Ids that a run did not write (a chapter not run, a claim renamed or not yet added) are listed as
"not run", so a stale or missing ``claims.json`` never breaks this chapter.
"""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lib.core.claims import EVIDENCE_KINDS, VERDICT_WORD
from lib.core.results import REPO_ROOT


@dataclass(frozen=True)
class LawTest:
    """One entry of the list: a claim id (or fnmatch patterns, alternatives separated by '|')
    and why it tests the term."""

    pattern: str
    what: str

    def matches(self, claim_id: str) -> bool:
        return any(fnmatch.fnmatchcase(claim_id, p) for p in self.pattern.split("|"))


@dataclass(frozen=True)
class Term:
    """A term of the universal law, the exponent it needs, and the claims that test it."""

    term: str
    exponent: float
    exponent_text: str
    chapter: str
    mechanism: str
    tests: tuple[LawTest, ...]


#: The explicit list (the only place that decides what tests the law). Left out on purpose:
#: superposition's weak-regime exponents (the law's 1/m is the strong regime's), its 1/t
#: training-dynamics exponents (a time law of another model, discussed on the page), SmolLM2's
#: overlap ratio and token-norm share (levels, not exponents); one-third's aligned-ansatz and
#: hot-teacher claims (not the peaked regime); inverse depth's tied-teacher α_ℓ ≈ 3 and RK2
#: claims (the paper's *other* regime, not the law's 1/ℓ), the update angle (a premise) and its
#: Chinchilla refit (a data refit: this chapter's own four-term fit).
LAW_TESTS: tuple[Term, ...] = (
    Term("width m", 1.0, "1", "superposition",
         "representational superposition (strong regime)",
         (LawTest("strong_width_exponent_*", "loss ∝ m^-α in the strong regime, per feature law"),
          LawTest("overlap_inverse_m", "squared overlaps of trained vectors ∝ 1/m (mechanism)"),
          LawTest("real_superposition_family_width_exponent",
                  "token-vector overlaps ∝ 1/m across a real-text GPT family"))),
    Term("training time τ", 1 / 3, "1/3", "one_third_time",
         "softmax + cross-entropy on peaked targets",
         (LawTest("adam_peaked_exponent*", "loss ∝ τ^-α, peaked teacher, Adam"),
          LawTest("sgd_peaked_exponent*", "loss ∝ τ^-α, peaked teacher, SGD"),
          LawTest("*lr_independen*|*lr_invarian*|*across_lr*",
                  "the exponent does not depend on the learning rate"),
          LawTest("real_onethird_tau_exponent", "loss ∝ τ^-α for a real-text GPT"))),
    Term("depth ℓ", 1.0, "1", "inverse_depth",
         "ensemble averaging over similar layers",
         (LawTest("alpha_kl_rho0", "loss ∝ ℓ^-α, independent-layer teacher, KL"),
          LawTest("alpha_mse_rho0", "loss ∝ ℓ^-α, independent-layer teacher, MSE"),
          LawTest("real_depth_family_exponent", "α_ℓ of a real-text GPT family"))),
)

COLUMNS = ["term", "law_exponent", "law_exponent_text", "chapter", "pattern", "what", "id",
           "kind", "counted", "status", "quantity", "estimate", "ci_low", "ci_high",
           "paper_value", "verdict"]


def read_claims(profile: str, chapter: str, root: Path = REPO_ROOT) -> list[dict] | None:
    """A chapter's claims for ``profile``, or None when missing or unreadable."""
    path = root / "results" / profile / chapter / "claims.json"
    try:
        records = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return records if isinstance(records, list) else None


def gather_law_tests(profile: str, root: Path = REPO_ROOT) -> tuple[pd.DataFrame, list[str]]:
    """One row per listed claim id found in its chapter's ``claims.json`` (every id a pattern
    matches), and one "not run" row per pattern that matched nothing. ``counted`` is True only
    for claims of an evidence kind. Returns the frame and the chapters without results."""
    rows, missing = [], []
    for term in LAW_TESTS:
        records = read_claims(profile, term.chapter, root)
        if records is None:
            missing.append(term.chapter)
            records = []
        for test in term.tests:
            hits = [r for r in records if test.matches(str(r.get("id", "")))]
            base = {"term": term.term, "law_exponent": term.exponent,
                    "law_exponent_text": term.exponent_text, "chapter": term.chapter,
                    "pattern": test.pattern, "what": test.what}
            if not hits:
                rows.append({**base, "id": None, "kind": None, "counted": False,
                             "status": "chapter not run" if term.chapter in missing
                             else "not run", "verdict": None})
                continue
            for r in sorted(hits, key=lambda r: str(r.get("id"))):
                kind = r.get("kind") or "unknown (results older than claim kinds)"
                rows.append({**base, "id": r.get("id"), "kind": kind,
                             "counted": kind in EVIDENCE_KINDS, "status": "run",
                             **{k: r.get(k) for k in ("quantity", "estimate", "ci_low",
                                                      "ci_high", "paper_value", "verdict")}})
    return pd.DataFrame(rows, columns=COLUMNS), missing


VERDICTS = ("held", "partly", "not_held", "not_reached", "fit_failed")


def tally(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts per term and kind: claims run, and how many of each verdict. Kinds are kept apart;
    only rows of an evidence kind are tests of the law."""
    run = frame[frame["status"] == "run"]
    out = []
    for term in LAW_TESTS:
        sub = run[run["term"] == term.term]
        not_run = int(((frame["term"] == term.term) & (frame["status"] != "run")).sum())
        kinds = sorted(set(sub["kind"])) or ["–"]
        for kind in kinds:
            k = sub[sub["kind"] == kind]
            out.append({"term": term.term, "kind": kind,
                        "counted": kind in EVIDENCE_KINDS, "claims": len(k),
                        **{v: int((k["verdict"] == v).sum()) for v in VERDICTS},
                        "ids_not_run": not_run})
    return pd.DataFrame(out)


def evidence_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Totals over the counted claims (evidence kinds only), and how many listed ids were not
    run or were run under a non-evidence kind."""
    run = frame[frame["status"] == "run"]
    counted = run[run["counted"]]
    return {"tests": len(counted),
            **{v: int((counted["verdict"] == v).sum()) for v in VERDICTS},
            "toy_test": int((counted["kind"] == "toy_test").sum()),
            "real_model": int((counted["kind"] == "real_model").sum()),
            "not_counted": int((~run["counted"]).sum()),
            "not_run": int((frame["status"] != "run").sum())}


def _num(v: object, fmt: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, float)):
        return format(float(v), fmt)
    return str(v)


VERDICT_MARK = {v: f"**{w}**" for v, w in VERDICT_WORD.items()}


def law_table_rows(frame: pd.DataFrame) -> list[dict[str, str]]:
    """One row per listed claim (or per pattern not run), grouped by the law's term, as the
    cells of the chapter's table (for :func:`lib.core.report.format_table`)."""
    rows = []
    for r in frame.itertuples():
        term = f"{r.term} ({r.law_exponent_text})"
        if r.status != "run":
            pattern = " or ".join(r.pattern.split("|"))
            rows.append({"term (law's exponent)": term, "what it tests (claim id)":
                         f"{r.what} ({pattern})", "kind": "–", "estimate [95% CI]": "–",
                         "verdict": r.status})
            continue
        ci = (f" [{_num(r.ci_low)}, {_num(r.ci_high)}]"
              if r.ci_low is not None and not pd.isna(r.ci_low) else "")
        rows.append({"term (law's exponent)": term,
                     "what it tests (claim id)": f"{r.what} ({r.id})",
                     "kind": str(r.kind) + ("" if r.counted else " (not counted)"),
                     "estimate [95% CI]": f"{_num(r.estimate)}{ci}",
                     "verdict": r.verdict})
    return rows


def law_table_markdown(frame: pd.DataFrame, missing: list[str]) -> str:
    """One row per listed claim (or per pattern not run), grouped by the law's term."""
    lines = ["| term (law's exponent) | what it tests (claim id) | kind | estimate [95% CI] | "
             "verdict |", "|---|---|---|---|---|"]
    for r in frame.itertuples():
        term = f"{r.term} ({r.law_exponent_text})"
        if r.status != "run":
            pattern = " or ".join(f"`{p}`" for p in r.pattern.split("|"))
            lines.append(f"| {term} | {r.what} ({pattern}) | – | – | {r.status} |")
            continue
        ci = (f" [{_num(r.ci_low)}, {_num(r.ci_high)}]"
              if r.ci_low is not None and not pd.isna(r.ci_low) else "")
        kind = f"`{r.kind}`" + ("" if r.counted else " (not counted)")
        lines.append(f"| {term} | {r.what} (`{r.id}`) | {kind} | {_num(r.estimate)}{ci} | "
                     f"{VERDICT_MARK.get(r.verdict, r.verdict)} |")
    if missing:
        lines += ["", "No results for this profile (not run yet, or failed): "
                  + ", ".join(f"`{m}`" for m in missing) + "."]
    return "\n".join(lines)


def tally_markdown(counts: pd.DataFrame) -> str:
    """The counts per term and kind as a markdown table."""
    head = "| term | kind | counted | claims | held | partly | not held | not reached | " \
           "fit failed | listed ids not run |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in counts.itertuples():
        lines.append(f"| {r.term} | {r.kind} | {'yes' if r.counted else 'no'} | {r.claims} | "
                     f"{r.held} | {r.partly} | {r.not_held} | {r.not_reached} | "
                     f"{r.fit_failed} | {r.ids_not_run} |")
    return "\n".join(lines)


def related_claims(profile: str, pattern: str, chapter: str,
                   root: Path = REPO_ROOT) -> list[dict]:
    """Claims of ``chapter`` whose id matches ``pattern`` (for the page's discussion of claims
    that are not tests of the law, e.g. superposition's 1/t dynamics)."""
    records = read_claims(profile, chapter, root) or []
    return [r for r in records if fnmatch.fnmatchcase(str(r.get("id", "")), pattern)]
