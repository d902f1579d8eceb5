"""Claim records and the one rule that turns an estimate with an interval into a verdict.

A chapter never types a verdict. It states the paper's value, a tolerance band fixed before the
run (relative for exponents and ratios), the claim's *kind* and the premises of its regime, and
:func:`judge` decides. The rule is an equivalence test: only an interval that lies wholly inside
the band decides for the paper, so a wider interval can never improve a verdict.
:data:`VERDICT_RULES` states the rule in words; the introduction renders that text, so the page
and the code cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

Verdict = Literal["held", "partly", "not_held", "not_reached", "fit_failed"]
Kind = Literal["toy_test", "real_model", "data_refit", "reproduction", "theory_check",
               "reconstruction"]
Side = Literal["band", "above"]

#: The rule, one line per verdict, in the order :func:`judge` checks them.
VERDICT_RULES: dict[str, str] = {
    "not_reached": "a measured premise of the claim's regime failed (e.g. not converged, "
                   "the reward at its ceiling, the represented count not ∝ width, a probe too "
                   "small to measure the quantity), or the fit sits at a bound of its "
                   "parameters; the note says which",
    "fit_failed": "no finite estimate although every premise held: every run diverged or the "
                  "fit failed (an error of the run, not a statement about the paper)",
    "held": "the whole interval lies inside the tolerance band around the paper's value "
            "(an equivalence test: the evidence decides for the paper)",
    "not_held": "the whole interval lies outside the band, in the claim's regime (the evidence "
                "decides against the paper)",
    "partly": "the interval overlaps the band but is not inside it, or the run has no interval "
              "(one seed): consistent or not, the data do not decide",
}

#: The word a page prints for each verdict (one vocabulary for every chapter and the dashboard).
VERDICT_WORD: dict[str, str] = {"held": "held", "partly": "partly (undecided)",
                                "not_held": "not held", "not_reached": "not reached",
                                "fit_failed": "fit failed"}

#: One colour per verdict, for every figure and table of the book (legible on white, and
#: told apart by the word printed beside it, never by colour alone).
VERDICT_COLOUR: dict[str, str] = {"held": "#1a7f37", "partly": "#9a6700", "not_held": "#c62828",
                                  "not_reached": "#6e6e6e", "fit_failed": "#6a3d9a"}

#: What each kind of claim is evidence of. Only the first two count as tests of a paper.
KIND_TEXT: dict[str, str] = {
    "toy_test": "a test of the paper's claim on its toy model",
    "real_model": "a test of the paper's claim on a real (pretrained or trained here) model",
    "data_refit": "a refit of published data",
    "reproduction": "a reproduction of a published number or of the authors' own analysis",
    "theory_check": "a check of the book's own mathematics (Monte Carlo against its closed form)",
    "reconstruction": "a reconstruction of a setup the paper does not give in full",
}
EVIDENCE_KINDS = ("toy_test", "real_model")


@dataclass(frozen=True)
class Tolerance:
    """The half-width of the band around the paper's value, fixed before the run.

    ``Tolerance.rel(0.1)`` is ±10 % of the paper's value (exponents, ratios);
    ``Tolerance.abs(0.05)`` is ±0.05 in the quantity's units (differences, values near 0)."""

    value: float
    relative: bool

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"tolerance must be a finite number > 0, got {self.value!r}")

    @classmethod
    def rel(cls, fraction: float) -> Tolerance:
        return cls(float(fraction), True)

    @classmethod
    def abs(cls, width: float) -> Tolerance:
        return cls(float(width), False)

    def half_width(self, target: float) -> float:
        if not self.relative:
            return self.value
        if target == 0:
            raise ValueError("a relative tolerance needs a non-zero paper value; use "
                             "Tolerance.abs for a target of 0")
        return self.value * abs(target)

    def text(self, target: float) -> str:
        if self.relative:
            return f"±{100 * self.value:g} % of {target:.3g}"
        return f"±{self.value:.3g}"


@dataclass(frozen=True)
class Premise:
    """A measured condition of the claim's regime: ``ok`` False makes the claim 'not reached'."""

    name: str
    ok: bool
    detail: str = ""
    measured: bool = True  # False: the premise could not be checked (e.g. no finite value)


def converged(quantity: str, moved: float, threshold: float) -> Premise:
    """The convergence premise: ``quantity`` moved by at most ``threshold`` over the last
    doubling of training (``moved`` from :func:`lib.core.fit.last_doubling_change`)."""
    if not math.isfinite(moved):
        return Premise(f"{quantity} converged", False,
                       "its change over the last doubling of steps could not be measured "
                       "(no finite value at half the steps)", measured=False)
    return Premise(f"{quantity} converged", abs(moved) <= threshold,
                   f"moved by {moved:+.3g} over the last doubling of steps; threshold "
                   f"±{threshold:g}")


def _as_tolerance(tol: Tolerance | float) -> Tolerance:
    return tol if isinstance(tol, Tolerance) else Tolerance.abs(float(tol))


def _check_interval(estimate: float, ci_low: float | None, ci_high: float | None) -> None:
    if (ci_low is None) != (ci_high is None):
        raise ValueError("give both ci_low and ci_high, or neither (no interval)")
    if ci_low is None or ci_high is None:
        return
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        raise ValueError(f"the CI must be finite, got [{ci_low}, {ci_high}]; pass None for "
                         "no interval")
    if ci_low > ci_high:
        raise ValueError(f"inverted CI: ci_low={ci_low:g} > ci_high={ci_high:g}")
    if ci_low == ci_high:
        raise ValueError(f"zero-width CI at {ci_low:g}: an interval from one replicate is no "
                         "interval; pass ci_low=ci_high=None")
    slack = 1e-9 * max(1.0, abs(estimate))
    if not (ci_low - slack <= estimate <= ci_high + slack):
        raise ValueError(f"the estimate {estimate:g} lies outside its own CI "
                         f"[{ci_low:g}, {ci_high:g}]")


def judge(
    estimate: float,
    ci_low: float | None,
    ci_high: float | None,
    target: float,
    tol: Tolerance | float | None = None,
    *,
    side: Side = "band",
    premises: Iterable[Premise] = (),
    at_bound: str = "",
) -> tuple[Verdict, str]:
    """Verdict and a one-line reason, by :data:`VERDICT_RULES`.

    ``side='band'``: the claim is 'the quantity equals ``target`` within ``tol``' (a float
    ``tol`` is absolute). ``side='above'``: the claim is 'the quantity exceeds ``target``'; the
    band is then (target, ∞) and ``tol`` is not used. Bad input (an inverted or zero-width CI,
    an estimate outside its CI, a tolerance ≤ 0 or NaN, a non-finite target) raises ValueError.
    """
    if not math.isfinite(target):
        raise ValueError(f"the paper's value must be finite, got {target!r}")
    if side == "band":
        if tol is None:
            raise ValueError("a band claim needs a tolerance")
        t = _as_tolerance(tol)
        half = t.half_width(target)
        lo_band, hi_band, band_text = target - half, target + half, t.text(target)
    elif side == "above":
        lo_band, hi_band, band_text = target, math.inf, f"above {target:.3g}"
    else:
        raise ValueError(f"side must be 'band' or 'above', got {side!r}")
    finite = estimate is not None and math.isfinite(estimate)
    if finite:
        _check_interval(estimate, ci_low, ci_high)
    premises = tuple(premises)

    def reason(failed: list[Premise]) -> str:
        return "; ".join(f"premise failed: {p.name}" + (f" ({p.detail})" if p.detail else "")
                         for p in failed)

    failed = [p for p in premises if not p.ok and p.measured]
    if failed:  # measured outside the regime: not judged, whatever the estimate
        return "not_reached", reason(failed)
    if not finite:
        return "fit_failed", VERDICT_RULES["fit_failed"]
    unchecked = [p for p in premises if not p.ok]
    if unchecked:  # a premise that could not be measured is not a premise that held
        return "not_reached", reason(unchecked)
    if at_bound:
        return "not_reached", f"the fit sits at a bound ({at_bound}): no estimate to judge"
    if ci_low is None or ci_high is None:
        where = "inside" if lo_band <= estimate <= hi_band else "outside"
        return "partly", f"no interval (one replicate); the estimate is {where} the band " \
                         f"{band_text}: undecided"
    if lo_band <= ci_low and ci_high <= hi_band:
        return "held", f"the whole CI lies inside the band {band_text}"
    if ci_high < lo_band or ci_low > hi_band:
        return "not_held", f"the whole CI lies outside the band {band_text}"
    return "partly", f"the CI overlaps the band {band_text} but is not inside it: undecided"


def judge_above(estimate: float, ci_low: float | None, ci_high: float | None, bound: float,
                **kwargs: object) -> tuple[Verdict, str]:
    """A one-sided claim 'the quantity exceeds ``bound``' (``judge`` with ``side='above'``)."""
    return judge(estimate, ci_low, ci_high, bound, side="above", **kwargs)  # type: ignore[arg-type]


def rule_markdown() -> str:
    """The verdict rule and the claim kinds as markdown, for the introduction (from the code)."""
    words = {"held": "held", "partly": "partly", "not_held": "not held",
             "not_reached": "not reached", "fit_failed": "fit failed"}
    order = ["held", "partly", "not_held", "not_reached", "fit_failed"]
    rules = "\n".join(f"- *{words[v]}*: {VERDICT_RULES[v]}." for v in order)
    kinds = "\n".join(
        f"- `{k}`: {text}" + (" (**counts as evidence**)" if k in EVIDENCE_KINDS else "") + "."
        for k, text in KIND_TEXT.items())
    return f"{rules}\n\nEach claim has a kind:\n\n{kinds}\n"


class Claim(BaseModel):
    """One row of a chapter's ``claims.json`` (schema fixed by DESIGN.md)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    claim: str
    kind: Kind
    quantity: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float | None = 0.95
    ci_method: str = ""
    n_seeds: int | None = None
    paper_value: float | str | None = None
    paper_source: str = ""
    tolerance: str = ""
    verdict: Verdict
    note: str = ""


def decide(
    *,
    id: str,
    claim: str,
    kind: Kind,
    quantity: str,
    interval: object | None = None,
    estimate: float | None = None,
    ci_low: float | None = None,
    ci_high: float | None = None,
    target: float,
    tol: Tolerance | float | None = None,
    side: Side = "band",
    premises: Iterable[Premise] = (),
    at_bound: str = "",
    ci_level: float | None = 0.95,
    ci_method: str = "",
    n_seeds: int | None = None,
    paper_value: float | str | None = None,
    paper_source: str = "",
    note: str = "",
) -> Claim:
    """A claim judged by :func:`judge`: the reason leads the note, the chapter's note follows.

    Give either ``interval`` (a :class:`lib.core.fit.Interval`, which fills the estimate, CI,
    method, seed count and bound flag) or ``estimate`` with ``ci_low``/``ci_high``.
    ``paper_value`` defaults to ``target``; give it when the page should show another form."""
    if interval is not None:
        if estimate is not None or ci_low is not None or ci_high is not None:
            raise ValueError("give either interval or estimate/ci_low/ci_high, not both")
        f = interval.claim_fields()  # type: ignore[attr-defined]
        estimate, ci_low, ci_high = f["estimate"], f["ci_low"], f["ci_high"]
        ci_level, n_seeds = f["ci_level"], n_seeds if n_seeds is not None else f["n_seeds"]
        ci_method = ci_method or f["ci_method"]
        at_bound = at_bound or f["at_bound"]
    est = float("nan") if estimate is None else float(estimate)
    premises = tuple(premises)
    verdict, reason = judge(est, ci_low, ci_high, target, tol, side=side,
                            premises=premises, at_bound=at_bound)
    if side == "above":
        tol_text = f"one-sided: above {target:.3g}"
    else:
        tol_text = _as_tolerance(tol).text(target) if tol is not None else ""
    ok = [p for p in premises if p.ok]
    checked = ("; premises checked: " + ", ".join(p.name for p in ok)) if ok and \
        verdict != "not_reached" else ""
    return Claim(
        id=id, claim=claim, kind=kind, quantity=quantity,
        estimate=est if math.isfinite(est) and not at_bound else None,
        ci_low=None if ci_low is None or at_bound else float(ci_low),
        ci_high=None if ci_high is None or at_bound else float(ci_high),
        ci_level=ci_level if ci_low is not None else None, ci_method=ci_method,
        n_seeds=n_seeds, paper_value=target if paper_value is None else paper_value,
        paper_source=paper_source, tolerance=tol_text, verdict=verdict,
        note=(reason + checked + (f". {note}" if note else "")),
    )
