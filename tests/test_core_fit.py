"""Fits recover known exponents (with and without offset, with noise) within their CI."""

import numpy as np
import pytest

from lib.core.fit import (
    bootstrap,
    bootstrap_exponent,
    fit_loglog,
    fit_offset,
    r_squared,
)


def test_loglog_exact():
    x = np.geomspace(4, 1024, 9)
    fit = fit_loglog(x, 2.5 * x**-0.7)
    assert fit.exponent == pytest.approx(0.7, abs=1e-10)
    assert fit.prefactor == pytest.approx(2.5, rel=1e-9)
    assert fit.r2 == pytest.approx(1.0)


def test_loglog_drops_and_counts_nonfinite_and_refuses_nonpositive():
    x = np.array([1, 2, 4, 8, 16.0])
    fit = fit_loglog(x, np.array([1, 0.5, np.nan, 0.125, 0.0625]))
    assert fit.n == 4 and fit.n_dropped == 1 and fit.exponent == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-positive"):
        fit_loglog(x, np.array([1, 0.5, 0.25, 0.125, -1]))
    with pytest.raises(ValueError, match="at least 3"):
        fit_loglog(x[:2], np.array([1, 0.5]))


@pytest.mark.parametrize("true_a", [1 / 3, 1.0, 2.0])
def test_bootstrap_over_seeds_recovers_noisy_exponent(true_a):
    rng = np.random.default_rng(1)
    x = np.geomspace(8, 512, 7)
    y = 3.0 * x**-true_a * np.exp(0.05 * rng.standard_normal((5, x.size)))
    b = bootstrap_exponent(x, y, n_boot=400)
    assert b.ci_low < b.estimate < b.ci_high
    assert b.contains(true_a)
    assert b.ci_high - b.ci_low < 0.2


def test_bootstrap_over_points_and_both():
    rng = np.random.default_rng(2)
    x = np.geomspace(8, 512, 10)
    y = x**-1.0 * np.exp(0.03 * rng.standard_normal((3, x.size)))
    for over in ("points", "both"):
        b = bootstrap_exponent(x, y, over=over, n_boot=300)
        assert b.contains(1.0), over
    with pytest.raises(ValueError):
        bootstrap_exponent(x, y, over="nonsense")


def test_offset_fit_recovers_parameters():
    x = np.geomspace(10, 1e5, 12)
    fit = fit_offset(x, 1.7 + 40 * x**-0.5)
    assert fit.exponent == pytest.approx(0.5, rel=1e-3)
    assert fit.offset == pytest.approx(1.7, rel=1e-3)
    assert fit.prefactor == pytest.approx(40, rel=1e-2)


def test_offset_fit_with_noise_and_huber_within_bootstrap_ci():
    rng = np.random.default_rng(3)
    x = np.geomspace(10, 1e5, 14)
    y = (0.5 + 5 * x**-0.33) * np.exp(0.002 * rng.standard_normal((4, x.size)))
    b = bootstrap_exponent(x, y, method="offset", n_boot=60, loss="huber", f_scale=0.01)
    assert b.contains(0.33)


def test_loglog_on_offset_data_is_biased_low():
    """A plain log-log fit of data with an offset under-reads the exponent: why we fit both."""
    x = np.geomspace(10, 1e4, 10)
    assert fit_loglog(x, 1.0 + 10 * x**-0.5).exponent < 0.4


def test_r_squared_and_generic_bootstrap():
    y = np.array([1.0, 2, 3, 4])
    assert r_squared(y, y) == 1.0
    assert r_squared(y, np.full(4, 2.5)) == 0.0
    b = bootstrap(lambda r: float(np.mean(r)), np.arange(100.0), n_boot=200)
    assert b.contains(49.5) and b.level == 0.95


def test_too_few_points_raise():
    with pytest.raises(ValueError):
        fit_loglog([1.0], [1.0])
    with pytest.raises(ValueError):
        fit_offset([1.0, 2, 3], [1.0, 0.5, 0.3])


# ---- refusals and explicit states (property tests) -------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

POSITIVE = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=80, deadline=None)
@given(ys=st.lists(st.one_of(POSITIVE, st.just(float("nan")), st.just(0.0), st.just(-1.0)),
                   min_size=1, max_size=10))
def test_loglog_either_refuses_or_fits_every_finite_point(ys):
    """No silent estimate: a non-positive value or fewer than 3 finite points raise; otherwise
    every finite point is used and the dropped ones are counted."""
    y = np.array(ys)
    x = np.geomspace(1, 100, y.size)
    finite = np.isfinite(y)
    try:
        fit = fit_loglog(x, y)
    except ValueError as err:
        assert (y[finite] <= 0).any() or finite.sum() < 3, err
        return
    assert fit.n == finite.sum() and fit.n_dropped == (~finite).sum()
    assert np.isfinite(fit.exponent)


@settings(max_examples=25, deadline=None)
@given(level=st.floats(0.1, 10.0), slope=st.floats(-0.5, 0.0), k=st.integers(4, 10))
def test_offset_fit_on_flat_or_rising_data_reports_its_bound(level, slope, k):
    """Data that do not fall cannot give a power-law exponent: the fit says it sits at a bound."""
    x = np.geomspace(10, 1e4, k)
    fit = fit_offset(x, level * x ** (-slope), n_starts=3)
    assert fit.at_bound


def test_both_bootstrap_refuses_data_it_cannot_fit():
    x = np.array([1.0, 2.0, 4.0])
    y = np.array([[1.0, np.nan, 0.25]])  # two finite points: no fit, so no silent interval
    with pytest.raises(ValueError, match="at least 3"):
        bootstrap_exponent(x, np.vstack([y, y]), over="both", n_boot=20)


def test_seed_bootstrap_refuses_one_seed():
    x = np.geomspace(8, 512, 6)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        bootstrap_exponent(x, x**-1.0, over="seeds")
