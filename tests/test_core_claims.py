"""The one verdict rule: every branch, bad input refused, monotone in the interval's width."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.core.claims import (
    VERDICT_RULES,
    Claim,
    Premise,
    Tolerance,
    decide,
    judge,
    judge_above,
    rule_markdown,
)
from lib.core.fit import Interval

REL10 = Tolerance.rel(0.10)  # ±0.1 around 1.0

CASES = [
    # estimate, lo, hi, target, tol, expected
    (1.02, 0.95, 1.08, 1.0, REL10, "held"),
    (1.00, 0.91, 1.09, 1.0, REL10, "held"),
    (1.00, 0.85, 1.15, 1.0, REL10, "partly"),   # consistent, wider than the band
    (1.15, 1.05, 1.25, 1.0, REL10, "partly"),   # overlaps the band's edge
    (1.30, 1.20, 1.40, 1.0, REL10, "not_held"),  # wholly above
    (0.60, 0.50, 0.70, 1.0, REL10, "not_held"),  # wholly below
    (1.00, None, None, 1.0, REL10, "partly"),   # no interval: undecided
    (5.00, None, None, 1.0, REL10, "partly"),   # no interval: never a refutation either
    (float("nan"), None, None, 1.0, REL10, "fit_failed"),
    (0.34, 0.33, 0.35, 1 / 3, 0.05, "held"),    # a float tolerance is absolute
    (0.237, 0.20, 0.27, 0.5, Tolerance.rel(0.1), "not_held"),
]


@pytest.mark.parametrize("est,lo,hi,target,tol,expected", CASES)
def test_rule_table(est, lo, hi, target, tol, expected):
    verdict, reason = judge(est, lo, hi, target, tol)
    assert verdict == expected, reason
    assert reason


def test_premise_and_bound_make_not_reached_whatever_the_interval():
    v, why = judge(1.0, 0.99, 1.01, 1.0, REL10,
                   premises=[Premise("converged", False, "drift 0.3 > 0.1")])
    assert v == "not_reached" and "converged" in why and "0.3" in why
    assert judge(1.0, 0.99, 1.01, 1.0, REL10, premises=[Premise("ok", True)])[0] == "held"
    v, why = judge(5.0, 4.9, 5.0, 1.0, REL10, at_bound="exponent at its upper bound")
    assert v == "not_reached" and "bound" in why


def test_one_sided_rule():
    assert judge_above(0.5, 0.2, 0.8, 0.0)[0] == "held"
    assert judge_above(0.5, -0.1, 0.8, 0.0)[0] == "partly"
    assert judge_above(-0.5, -0.8, -0.2, 0.0)[0] == "not_held"
    assert judge_above(0.5, None, None, 0.0)[0] == "partly"


@pytest.mark.parametrize("args,match", [
    ((1.0, 1.2, 0.8, 1.0, REL10), "inverted"),
    ((1.5, 0.8, 1.2, 1.0, REL10), "outside its own CI"),
    ((1.0, 1.0, 1.0, 1.0, REL10), "zero-width"),
    ((1.0, 0.9, None, 1.0, REL10), "both"),
    ((1.0, 0.9, 1.1, 1.0, 0.0), "tolerance"),
    ((1.0, 0.9, 1.1, 1.0, -0.1), "tolerance"),
    ((1.0, 0.9, 1.1, 1.0, float("nan")), "tolerance"),
    ((1.0, 0.9, 1.1, float("nan"), REL10), "paper's value"),
    ((1.0, 0.9, 1.1, 0.0, REL10), "relative tolerance"),
    ((1.0, 0.9, 1.1, 1.0, None), "tolerance"),
    ((1.0, float("inf"), 1.1, 1.0, REL10), "finite"),
])
def test_bad_input_is_refused(args, match):
    with pytest.raises(ValueError, match=match):
        judge(*args)


@settings(max_examples=300, deadline=None)
@given(est=st.floats(-5, 5), w1=st.floats(1e-3, 3), w2=st.floats(1e-3, 3),
       skew=st.floats(0.1, 0.9), target=st.floats(0.05, 3), tol=st.floats(0.01, 0.5))
def test_a_wider_interval_never_improves_the_verdict(est, w1, w2, skew, target, tol):
    """Monotone in width: the rule is an equivalence test, so more uncertainty can only move a
    verdict towards 'partly' (undecided), never from partly to held or not_held."""
    narrow, wide = sorted((w1, w2))
    t = Tolerance.rel(tol)
    v_n, _ = judge(est, est - skew * narrow, est + (1 - skew) * narrow, target, t)
    v_w, _ = judge(est, est - skew * wide, est + (1 - skew) * wide, target, t)
    if v_w in ("held", "not_held"):
        assert v_n == v_w
    if v_w == "held":  # held means the CI is inside the band
        half = tol * target
        assert target - half <= est - skew * wide and est + (1 - skew) * wide <= target + half


def test_every_verdict_has_its_rule_text_and_the_intro_renders_it():
    text = rule_markdown()
    for verdict in ("held", "partly", "not_held", "not_reached", "fit_failed"):
        assert VERDICT_RULES[verdict] in text
    assert "toy_test" in text and "theory_check" in text


def test_decide_records_kind_tolerance_and_reason():
    iv = Interval(0.98, 0.93, 1.03, 0.95, "Student t over 3 per-seed loglog fits", 3)
    c = decide(id="w", claim="L ∝ 1/m", kind="toy_test", quantity="α_m", interval=iv,
               target=1.0, tol=REL10, paper_source="Liu et al.", note="widths 8–64")
    assert isinstance(c, Claim)
    assert c.verdict == "held" and c.kind == "toy_test" and c.n_seeds == 3
    assert c.tolerance == "±10 % of 1" and c.ci_method.startswith("Student t")
    assert c.note.startswith("the whole CI lies inside") and c.note.endswith("widths 8–64")


def test_decide_hides_an_estimate_at_a_bound():
    iv = Interval(5.0, 4.8, 5.0 + 1e-12, 0.95, "t", 3, at_bound="exponent at its upper bound")
    c = decide(id="d", claim="c", kind="toy_test", quantity="α", interval=iv, target=1.0,
               tol=REL10)
    assert c.verdict == "not_reached" and c.estimate is None and c.ci_low is None


def test_decide_refuses_both_interval_and_estimate():
    iv = Interval(1.0, 0.9, 1.1, 0.95, "t", 3)
    with pytest.raises(ValueError, match="either"):
        decide(id="d", claim="c", kind="toy_test", quantity="q", interval=iv, estimate=1.0,
               target=1.0, tol=REL10)


def test_claim_refuses_an_unknown_kind():
    with pytest.raises(ValueError):
        Claim(id="x", claim="c", kind="vibes", quantity="q", estimate=1, ci_low=0, ci_high=2,
              verdict="held")
    assert math.isfinite(1.0)


def test_convergence_premise():
    from lib.core.claims import converged
    from lib.core.fit import last_doubling_change
    moved = last_doubling_change([100, 200, 400, 800], [0.5, 0.7, 0.9, 1.0])
    assert moved == pytest.approx(0.1)
    assert converged("α", moved, 0.15).ok and not converged("α", moved, 0.05).ok
    assert not converged("α", float("nan"), 0.1).ok
    with pytest.raises(ValueError):
        last_doubling_change([100], [1.0])


def test_a_failed_premise_wins_over_a_missing_estimate():
    """A probe too small to measure the quantity is outside the regime, not a failed fit."""
    v, why = judge(float("nan"), None, None, 0.9, side="above",
                   premises=[Premise("pool ≥ 30", False, "pool of 8")])
    assert v == "not_reached" and "pool of 8" in why


def test_an_unmeasurable_premise_leaves_a_missing_estimate_a_failed_fit():
    """Every run diverged: the convergence of a NaN exponent cannot be measured, and the verdict
    is the run's error (fit failed), not a regime statement."""
    from lib.core.claims import converged
    v, _ = judge(float("nan"), None, None, 1.0, REL10, premises=[converged("α", float("nan"),
                                                                             0.1)])
    assert v == "fit_failed"
    v, why = judge(1.0, 0.95, 1.05, 1.0, REL10, premises=[converged("α", float("nan"), 0.1)])
    assert v == "not_reached" and "could not be measured" in why and "nan" not in why
