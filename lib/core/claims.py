"""Claim records and the one rule that turns an estimate with a CI into a verdict.

A chapter never types a verdict: it states the paper's value and a tolerance, and
:func:`judge` decides from the measured estimate and its confidence interval:

- ``held``: the estimate is within ``tol`` of the paper's value *and* the paper's value lies in
  the CI, or the whole CI lies within ``tol`` of it;
- ``partly``: the paper's value is in the CI but the CI is wider than ``±tol`` around the
  estimate (the data cannot decide), or the estimate is within ``2·tol`` but the CI excludes it;
- ``not_held``: otherwise.

``not_reached`` is for claims whose regime the run could not reach (the chapter decides that
from a measured condition, e.g. the loss has not converged, and says which).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

Verdict = Literal["held", "partly", "not_held", "not_reached"]


class Claim(BaseModel):
    """One row of a chapter's ``claims.json`` (schema fixed by DESIGN.md)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    claim: str
    quantity: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float | None = 0.95
    n_seeds: int | None = None
    paper_value: float | str | None = None
    paper_source: str = ""
    verdict: Verdict
    note: str = ""


def judge(
    estimate: float, ci_low: float, ci_high: float, target: float, tol: float
) -> tuple[Verdict, str]:
    """Verdict and a one-line reason for an estimate (with CI) against a paper's value."""
    if not all(map(math.isfinite, (estimate, ci_low, ci_high))):
        return "not_reached", "no finite estimate (every run diverged or the fit failed)"
    in_ci = ci_low <= target <= ci_high
    close = abs(estimate - target) <= tol
    ci_inside = (target - tol) <= ci_low and ci_high <= (target + tol)
    if close and in_ci:
        return "held", f"{target:g} is within ±{tol:g} of the estimate and inside its CI"
    if ci_inside:
        return "held", (f"the whole CI lies within ±{tol:g} of {target:g}"
                        + ("" if in_ci else f", though it excludes {target:g} itself"))
    if in_ci:
        return "partly", f"{target:g} is inside the CI, but the CI is wider than ±{tol:g}"
    if abs(estimate - target) <= 2 * tol:
        return "partly", f"the estimate is within ±{2 * tol:g} of {target:g}, the CI excludes it"
    return "not_held", f"the estimate is more than ±{2 * tol:g} from {target:g}, outside the CI"


def judge_above(estimate: float, ci_low: float, ci_high: float, bound: float
                ) -> tuple[Verdict, str]:
    """A one-sided claim 'the quantity exceeds ``bound``': held if the whole CI is above it,
    partly if only the estimate is, not_held otherwise."""
    if not all(map(math.isfinite, (estimate, ci_low, ci_high))):
        return "not_reached", "no finite estimate"
    if ci_low > bound:
        return "held", f"the whole CI lies above {bound:g}"
    if estimate > bound:
        return "partly", f"the estimate is above {bound:g} but the CI reaches below it"
    return "not_held", f"the estimate is not above {bound:g}"
