"""The toy chapters' measured exponents, read from their ``claims.json`` (never retyped), set
against the exponent each mechanism predicts for the universal law
``L = E + c_τ τ^(−1/3) + c_m/m + c_ℓ/ℓ`` (Liu and Gore, arXiv 2606.25008)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lib.core.results import REPO_ROOT


@dataclass(frozen=True)
class Mechanism:
    """What a toy chapter contributes to the universal law."""

    chapter: str
    mechanism: str
    term: str  # the variable of the law it fixes ("" if none)
    prediction: float | None  # the exponent the law needs (None: not a term of the law)


MECHANISMS = (
    Mechanism("superposition", "representational superposition (strong regime)", "width m", 1.0),
    Mechanism("one_third_time", "softmax + cross-entropy on peaked targets",
              "training time τ", 1.0 / 3.0),
    Mechanism("inverse_depth", "ensemble averaging over similar layers", "depth ℓ", 1.0),
    Mechanism("es_curvature", "variance–curvature trade-off of evolution strategies",
              "", None),
)


def _is_prediction(paper_value: object, prediction: float | None) -> bool:
    """A claim tests the law's exponent when its reference value *is* that exponent."""
    if prediction is None or not isinstance(paper_value, (int, float)):
        return False
    return math.isclose(float(paper_value), prediction, rel_tol=1e-6, abs_tol=1e-9)


def gather_toy_claims(profile: str, root: Path = REPO_ROOT) -> tuple[pd.DataFrame, list[str]]:
    """Every claim of the toy chapters of ``profile``, one row each, with the chapter's
    mechanism, the term of the law it bears on, the predicted exponent, and whether the claim
    tests that exponent. Returns the frame and the chapters whose ``claims.json`` is missing
    (not run yet, or failed) or unreadable."""
    rows, missing = [], []
    for mech in MECHANISMS:
        path = root / "results" / profile / mech.chapter / "claims.json"
        try:
            records = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            missing.append(mech.chapter)
            continue
        for rec in records:
            rows.append({
                "chapter": mech.chapter,
                "mechanism": mech.mechanism,
                "term": mech.term,
                "prediction": mech.prediction,
                "tests_prediction": _is_prediction(rec.get("paper_value"), mech.prediction),
                **{k: rec.get(k) for k in ("id", "claim", "quantity", "estimate", "ci_low",
                                           "ci_high", "n_seeds", "paper_value", "verdict",
                                           "note")},
            })
    columns = ["chapter", "mechanism", "term", "prediction", "tests_prediction", "id", "claim",
               "quantity", "estimate", "ci_low", "ci_high", "n_seeds", "paper_value",
               "verdict", "note"]
    return pd.DataFrame(rows, columns=columns), missing


def _num(v: object, fmt: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, float)):
        return format(float(v), fmt)
    return str(v)


VERDICT_MARK = {"held": "✅ held", "partly": "🟡 partly", "not_held": "❌ not held",
                "not_reached": "⏳ not reached"}


def toy_table_markdown(frame: pd.DataFrame, missing: list[str]) -> str:
    """The chapter's table: one row per toy claim, the law's prediction beside it."""
    lines = []
    if not frame.empty:
        lines += [
            "| chapter | mechanism → term | law's exponent | claim | estimate [95% CI] | "
            "reference | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in frame.itertuples():
            term = f"{r.mechanism} → {r.term}" if r.term else r.mechanism
            pred = _num(r.prediction) if r.tests_prediction else "–"
            ci = (f" [{_num(r.ci_low)}, {_num(r.ci_high)}]"
                  if r.ci_low is not None and not pd.isna(r.ci_low) else "")
            lines.append(
                f"| `{r.chapter}` | {term} | {pred} | {r.quantity} | "
                f"{_num(r.estimate)}{ci} | {_num(r.paper_value)} | "
                f"{VERDICT_MARK.get(r.verdict, r.verdict)} |"
            )
    else:
        lines.append("_No toy chapter has written its claims for this profile yet._")
    if missing:
        lines.append("")
        lines.append("Not available for this profile (not run yet, or failed): "
                     + ", ".join(f"`{m}`" for m in missing) + ".")
    return "\n".join(lines)
