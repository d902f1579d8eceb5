"""lib/core/report.py: means over seeds, local slopes, interval text and the one table formatter."""

import math

import numpy as np
import pandas as pd
import pytest

from lib.core.fit import Interval, fit_loglog
from lib.core.report import (
    MISSING,
    NO_ESTIMATE,
    NO_INTERVAL,
    ci_text,
    estimate_text,
    format_table,
    geometric_mean,
    local_slopes,
    number_text,
    table_frame,
    verdict_summary,
)


def test_geometric_mean_over_seeds_skips_diverged_and_non_positive_entries():
    y = np.array([[1.0, 4.0, np.nan, 2.0],
                  [4.0, np.inf, np.nan, -1.0],
                  [16.0, 1.0, np.nan, 8.0]])
    gm = geometric_mean(y)  # rows are seeds
    np.testing.assert_allclose(gm[[0, 1, 3]], [4.0, 2.0, 4.0])
    assert np.isnan(gm[2])  # every seed diverged: NaN, and no numpy warning
    np.testing.assert_allclose(geometric_mean(y[:, [0]].T, axis=1), [4.0])


def test_geometric_mean_of_one_seed_is_the_seed_and_of_a_series_a_float():
    np.testing.assert_allclose(geometric_mean(np.array([[3.0, 5.0]])), [3.0, 5.0])
    value = geometric_mean(pd.Series([2.0, 8.0]))
    assert isinstance(value, float) and value == pytest.approx(4.0)
    frame = pd.DataFrame({"g": [0, 0, 1], "v": [1.0, 9.0, 5.0]})
    assert frame.groupby("g")["v"].agg(geometric_mean).tolist() == pytest.approx([3.0, 5.0])


def test_fit_of_the_geometric_mean_is_the_mean_of_per_seed_slopes():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = np.stack([3.0 * x**-1.0, 5.0 * x**-2.0])
    assert fit_loglog(x, geometric_mean(y)).exponent == pytest.approx(1.5)


def test_local_slopes_of_a_power_law_are_its_exponent_at_mid_points():
    x = np.array([8.0, 1.0, 4.0, 2.0])  # unsorted: sorted by x
    mid, s = local_slopes(x, 2.0 * x**-1.5)
    np.testing.assert_allclose(s, 1.5)
    np.testing.assert_allclose(mid, np.sqrt([2.0, 8.0, 32.0]))
    mid, s = local_slopes(np.sort(x), np.sort(x) ** -0.5, span=2, at="y")
    np.testing.assert_allclose(s, 0.5)
    np.testing.assert_allclose(mid, np.sqrt([1.0 * 4.0, 2.0 * 8.0]) ** -0.5)


def test_local_slopes_drop_bad_points_and_refuse_bad_arguments():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    y = np.array([1.0, np.nan, 0.25, -1.0])
    mid, s = local_slopes(x, y)
    np.testing.assert_allclose(s, [1.0]) and np.testing.assert_allclose(mid, [2.0])
    empty = local_slopes(x[:1], y[:1])
    assert empty[0].size == 0 and empty[1].size == 0
    with pytest.raises(ValueError, match="span"):
        local_slopes(x, x, span=0)
    with pytest.raises(ValueError, match="at"):
        local_slopes(x, x, at="z")


def test_ci_text_has_one_wording_for_no_interval():
    assert ci_text(0.1234, 0.5) == "[0.12, 0.50]"
    assert ci_text(0.1234, 0.5, ".3f") == "[0.123, 0.500]"
    for low, high in ((None, None), (float("nan"), 1.0), (0.0, float("inf")), (None, 1.0)):
        assert ci_text(low, high) == NO_INTERVAL == "[no interval]"


def test_estimate_text_from_numbers_an_interval_or_a_claim():
    assert estimate_text(0.5, 0.4, 0.6) == "0.50 [0.40, 0.60]"
    one_seed = Interval(0.5, None, None, 0.95, "one seed: no interval", 1)
    assert estimate_text(one_seed, fmt=".1f") == f"0.5 {NO_INTERVAL}"
    assert estimate_text(float("nan"), 0.1, 0.2) == NO_ESTIMATE
    assert estimate_text(None) == NO_ESTIMATE


def test_interval_of_loose_numbers_keeps_only_a_real_interval():
    assert Interval.of(1.0, 0.9, 1.1, "boot").band() == (0.9, 1.1)
    for low, high in ((np.nan, 1.1), (1.0, 1.0), (1.1, 0.9), (None, None)):
        iv = Interval.of(1.0, low, high, "boot")
        assert iv.band() is None and iv.claim_fields()["ci_level"] is None


def test_verdict_summary_uses_the_one_verdict_vocabulary():
    text = verdict_summary({"b": "not_held", "a": "held", "c": "partly", "d": "held"})
    assert text == "held for a, d; partly (undecided) for c; not held for b"
    assert verdict_summary({}) == ""


@pytest.mark.parametrize("value,text", [
    (None, MISSING), (float("nan"), MISSING), (True, "yes"), (np.int64(2143), "2143"),
    (1620.4, "1620"), (0.012345, "0.0123"), (1.0, "1.00"), (0.0, "0"), (-2.5, "-2.50"),
    (1.5e-6, "1.50e-06"), (2.5e7, "2.50e+07"), (float("inf"), "∞"), ("held", "held")])
def test_number_text(value, text):
    assert number_text(value) == text


def test_table_has_no_index_no_nan_integer_counts_and_verdict_words():
    frame = pd.DataFrame({"law": ["a", "b"], "count": [3.0, np.nan], "n": [1, 2],
                          "loss": [0.123456, 1234.5], "verdict": ["not_held", "partly"]},
                         index=pd.RangeIndex(2))
    cells = table_frame(frame)
    assert cells.to_dict("list") == {"law": ["a", "b"], "count": ["3", MISSING], "n": ["1", "2"],
                                     "loss": ["0.123", "1234"],
                                     "verdict": ["not held", "partly (undecided)"]}
    html = format_table(frame).to_html()
    assert "nan" not in html and "not held" in html and "white-space: nowrap" in html
    assert 'class="row_heading' not in html  # index hidden


def test_table_keeps_a_meaningful_index_as_columns_and_flattens_column_levels():
    frame = pd.DataFrame({"law": ["x", "x", "y"], "width": [8, 16, 8],
                          "loss": [0.5, 0.25, math.pi]})
    wide = frame.groupby(["law", "width"])[["loss"]].mean().unstack(0)
    cells = table_frame(wide)
    assert list(cells.columns) == ["width", "loss x", "loss y"]
    assert cells["width"].tolist() == ["8", "16"] and cells["loss y"].tolist() == ["3.14", MISSING]
    rows = table_frame([{"a": 1, "b": None}, {"a": 2, "b": 0.5}], columns=["b", "a"],
                       rename={"b": "β"})
    assert rows.to_dict("list") == {"β": [MISSING, "0.500"], "a": ["1", "2"]}
