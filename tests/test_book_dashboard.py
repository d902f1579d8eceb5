"""The dashboard's pieces on made-up claims (fast; the built pages are checked in
tests/test_book.py): tolerance bands, deviations, anchors, tables, strip and closing prose."""

import math
import re

import pandas as pd
import pytest

from lib.book import dashboard as d
from lib.core.claims import VERDICT_COLOUR, VERDICT_WORD, Tolerance, decide

TEN_PERCENT = Tolerance.rel(0.1)


def _claim(id, target=1.0, tol=TEN_PERCENT, estimate=1.0, lo=0.95, hi=1.05, **kw):
    chapter = kw.pop("chapter", "superposition")
    c = decide(id=id, claim=f"claim {id}", kind=kw.pop("kind", "toy_test"),
               quantity=f"q of {id}", estimate=estimate, ci_low=lo, ci_high=hi, target=target,
               tol=tol, **kw)
    return {"chapter": chapter, **c.model_dump()}


def _frame(*claims):
    return pd.DataFrame(list(claims))


def test_band_is_read_back_from_the_text_decide_writes():
    assert d.band(_claim("a")) == pytest.approx((1.0, 0.9, 1.1))
    assert d.band(_claim("b", target=0.0, tol=Tolerance.abs(0.05), estimate=0.01,
                         lo=0.0, hi=0.02)) == pytest.approx((0.0, -0.05, 0.05))
    above = _claim("c", target=0.5, tol=None, side="above", estimate=0.9, lo=0.8, hi=1.0)
    assert d.band(above)[:2] == (0.5, 0.5) and math.isinf(d.band(above)[2])
    text = _claim("d", tol=Tolerance.abs(0.1), paper_value="about one")
    assert d.band(text) is None


def test_deviation_puts_the_band_at_plus_minus_one():
    est, lo, hi = d.deviation(_claim("a", estimate=1.2, lo=1.1, hi=1.3))
    assert (est, lo, hi) == pytest.approx((2.0, 1.0, 3.0))
    none = {**_claim("n"), "estimate": None, "ci_low": None, "ci_high": None}
    assert all(math.isnan(v) for v in d.deviation(none))


def test_every_verdict_has_one_colour_and_one_word():
    assert set(VERDICT_COLOUR) == set(VERDICT_WORD) == set(d.VERDICT_ORDER)
    assert len(set(VERDICT_COLOUR.values())) == len(VERDICT_COLOUR)
    for v in d.VERDICT_ORDER:
        assert VERDICT_COLOUR[v] in d.chip(v) and VERDICT_WORD[v] in d.chip(v)


def test_tables_link_each_claim_to_its_anchor_in_the_strip():
    claims = [_claim("a"), _claim("b.2", estimate=2.0, lo=1.9, hi=2.1)]
    table = d.chapter_table_html("superposition", _frame(*claims))
    strip = d.strip_html(claims, "superposition")
    for c in claims:
        assert table.count(f'href="superposition.html#claim-{c["id"]}"') == 1
        assert strip.count(f'id="claim-{c["id"]}"') == 1
    assert "not held" in strip and "held" in table and "±10 % of 1" in table


def test_closing_lists_every_claim_once_grouped_by_verdict(tmp_path):
    claims = [_claim("a"), _claim("b", estimate=2.0, lo=1.9, hi=2.1),
              _claim("c", estimate=1.0, lo=0.5, hi=1.5),
              _claim("e", kind="theory_check", estimate=1.0, lo=0.5, hi=1.5)]
    text = d.closing_markdown(_frame(*claims), "smoke", root=tmp_path)
    for c in claims:
        assert text.count(f'#claim-{c["id"]}"') == 1
    heads = re.findall(r"^## (.+)\n\n(\d+|No) claim", text, re.M)
    assert heads == [("Held", "1"), ("Did not hold", "1"), ("Undecided", "2"),
                     ("Not reached", "No")]
    assert "A narrower interval" in text


def test_summary_figure_has_a_row_per_claim():
    import matplotlib.pyplot as plt

    claims = _frame(_claim("a"), _claim("b", estimate=40.0, lo=30.0, hi=50.0),
                    {**_claim("n", chapter="universality"), "estimate": None})
    fig = d.summary_figure(claims)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["a", "b", "n"]
    plt.close(fig)
