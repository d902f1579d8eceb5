"""Tests of lib/universality: the fits recover known laws, the gradients are right, the
symbolic optimum equals the numerical one, the synthesis counts only listed claims of an evidence
kind (and survives missing chapters), and the held-out test is judged by its negative controls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib.core.params import ParameterError
from lib.core.results import REPO_ROOT
from lib.universality import fits, frontier, toys
from lib.universality.params import UniversalityParams

TRUTH = {"alpha_m": 0.9, "alpha_l": 1.2, "alpha_D": 0.3, "c_m": 300.0, "c_l": 6.0,
         "c_D": 600.0, "E": 1.75}


def synthetic_four_term(params: dict[str, float], noise: float, seed: int = 0) -> pd.DataFrame:
    """The Chinchilla design (m, ℓ, D of the 245 runs) with losses from ``params`` and
    multiplicative log-normal noise of relative size ``noise``."""
    frame = fits.load_chinchilla()
    rng = np.random.default_rng(seed)
    clean = fits.four_term_loss(params, frame["d_model"], frame["n_layers"], frame["num_tokens"])
    frame["loss"] = np.asarray(clean) * np.exp(noise * rng.standard_normal(len(frame)))
    return frame


# ---- data --------------------------------------------------------------------------------------


def test_load_chinchilla_has_the_documented_columns_and_rows():
    frame = fits.load_chinchilla()
    assert list(frame.columns) == list(fits.COLUMNS)
    assert len(frame) == 245
    assert np.all(frame[list(fits.COLUMNS)].to_numpy() > 0)
    # D = C / 6N, as the provenance note says
    np.testing.assert_allclose(frame["num_tokens"], frame["FLOP"] / (6 * frame["model_size"]),
                               rtol=1e-9)


def test_keep_mask_reproduces_the_published_counts():
    loss = fits.load_chinchilla()["loss"].to_numpy()
    assert fits.keep_mask(loss, 0).sum() == 245
    assert fits.keep_mask(loss, 5).sum() == 240  # Epoch AI
    assert fits.keep_mask(loss, 40).sum() == 203  # Liu et al.: a 3-way tie at the threshold


def test_keep_mask_drops_ties_at_the_threshold():
    loss = np.array([1.0, 2.0, 3.0, 3.0, 4.0])
    assert fits.keep_mask(loss, 1).tolist() == [True, True, True, True, False]
    assert fits.keep_mask(loss, 2).tolist() == [True, True, False, False, False]
    with pytest.raises(ValueError):
        fits.keep_mask(loss, 6)


# ---- four-term law ------------------------------------------------------------------------------


def test_four_term_jacobian_matches_finite_differences():
    frame = synthetic_four_term(TRUTH, 0.01)
    logx, loss = fits._frame_arrays(frame)
    for fixed in ({}, {"alpha_l": 1.0}):
        prob = fits._FourTermProblem(logx, loss, fixed)
        theta = prob.to_theta({**TRUTH, **fixed}) + 0.01
        J = prob.jacobian(theta)
        eps = 1e-6
        num = np.stack([(prob.residual(theta + eps * e) - prob.residual(theta - eps * e))
                        / (2 * eps) for e in np.eye(theta.size)], axis=1)
        np.testing.assert_allclose(J, num, rtol=1e-5, atol=1e-8)


def test_four_term_recovers_noiseless_parameters_exactly():
    frame = synthetic_four_term(TRUTH, 0.0)
    res = fits.fit_four_term(frame, exclude_top=0, n_boot=0)
    for k, v in TRUTH.items():
        assert res.estimate[k] == pytest.approx(v, rel=1e-4), k
    assert res.mean_rel_residual < 1e-8


def test_four_term_recovers_noisy_parameters_within_their_ci():
    frame = synthetic_four_term(TRUTH, 0.004, seed=1)
    res = fits.fit_four_term(frame, exclude_top=0, n_boot=60, seed=2)
    assert res.n_boot >= 55
    for k in ("alpha_m", "alpha_l", "alpha_D", "E"):
        assert res.ci_low[k] <= TRUTH[k] <= res.ci_high[k], (k, res.ci_low[k], res.ci_high[k])
        assert res.ci_low[k] <= res.estimate[k] <= res.ci_high[k]
    assert res.estimate["alpha_D"] == pytest.approx(TRUTH["alpha_D"], abs=0.03)
    assert res.estimate["alpha_m"] == pytest.approx(TRUTH["alpha_m"], abs=0.15)
    # Jacobian standard errors and bootstrap spread agree in order of magnitude
    boot_sd = res.samples["alpha_m"].std()
    assert 0.3 < res.stderr["alpha_m"] / boot_sd < 3.0


def test_four_term_with_fixed_exponents_recovers_coefficients():
    truth = {**TRUTH, **fits.UNIVERSAL_EXPONENTS}
    frame = synthetic_four_term(truth, 0.003, seed=3)
    res = fits.fit_four_term(frame, exponents=(1, 1, 1 / 3), exclude_top=0, n_boot=30)
    assert res.fixed == fits.UNIVERSAL_EXPONENTS
    assert res.n_free == 4
    for k in fits.EXPONENTS:
        assert res.estimate[k] == res.ci_low[k] == res.ci_high[k] == truth[k]
    for k in ("c_m", "c_D", "E"):
        assert res.ci_low[k] <= truth[k] <= res.ci_high[k], k
    assert res.estimate["c_m"] == pytest.approx(truth["c_m"], rel=0.2)
    assert res.estimate["E"] == pytest.approx(truth["E"], abs=0.02)


def test_four_term_partial_fixing_and_bad_exponents():
    frame = synthetic_four_term(TRUTH, 0.0)
    res = fits.fit_four_term(frame, exponents={"alpha_l": 1.2}, exclude_top=0, n_boot=0)
    assert res.fixed == {"alpha_l": 1.2}
    assert res.estimate["alpha_m"] == pytest.approx(0.9, rel=1e-4)
    with pytest.raises(ValueError):
        fits.fit_four_term(frame, exponents={"alpha_x": 1.0}, n_boot=0)
    with pytest.raises(ValueError):
        fits.fit_four_term(frame, exponents=(1.0, 1.0), n_boot=0)
    with pytest.raises(ValueError):
        fits.fit_four_term(frame.iloc[:6], exclude_top=0, n_boot=0)


def test_authors_units_round_trip_to_the_same_curve():
    res = fits.fit_four_term(synthetic_four_term(TRUTH, 0.0), exclude_top=0, n_boot=0)
    a = res.authors_units()
    m, l, D = 1024.0, 20.0, 1e10  # noqa: E741
    natural = res.predict(m, l, D)
    authors = (a["E"] + a["c_m"] * m ** -a["alpha_m"] + a["c_l"] * (100 * l) ** -a["alpha_l"]
               + a["c_D"] * (D / 1e6) ** -a["alpha_D"])
    assert natural == pytest.approx(authors, rel=1e-12)


def test_real_data_fixed_fit_matches_the_calibration_run():
    """papers.md §1: with (1, 1, 1/3) fixed, c_m ≈ 388, c_ℓ ≈ 3.25, c_D ≈ 1064, E ≈ 1.778."""
    res = fits.fit_four_term(fits.load_chinchilla(), exponents=(1, 1, 1 / 3), n_boot=0)
    assert res.n_points == 203
    assert res.estimate["c_m"] == pytest.approx(388, rel=0.01)
    assert res.estimate["c_l"] == pytest.approx(3.25, rel=0.01)
    assert res.estimate["c_D"] == pytest.approx(1064, rel=0.01)
    assert res.estimate["E"] == pytest.approx(1.778, abs=0.002)


def test_held_out_and_scan_have_one_row_per_case():
    frame = synthetic_four_term(TRUTH, 0.003)
    ho = fits.held_out_validation(frame, {"free": None, "universal": (1, 1, 1 / 3)},
                                  exclude_top=0, n_splits=2)
    assert len(ho) == 4 and set(ho["model"]) == {"free", "universal"}
    assert np.all(ho[["train_mse_log", "test_mse_log"]].to_numpy() >= 0)
    # the true model (free) predicts held-out points at the noise level
    assert ho.query("model == 'free'")["test_mse_log"].mean() < 3 * 0.003**2
    scan = fits.exclusion_scan(frame, [0, 40], n_boot=3)
    assert scan["exclude_top"].tolist() == [0, 40]
    assert scan["n_points"].iloc[0] == 245 and scan["n_points"].iloc[1] < 245


# ---- Chinchilla form ------------------------------------------------------------------------


def test_chinchilla_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    logn, logd = rng.uniform(18, 23, 50), rng.uniform(20, 26, 50)
    logy = np.log(1.8 + 400 * np.exp(-0.34 * logn) + 400 * np.exp(-0.28 * logd))
    logy = logy + 0.01 * rng.standard_normal(50)
    theta = np.array([6.0, 6.1, 0.5, 0.33, 0.29])
    for delta in (1e-3, 1.0):  # the linear and the quadratic branch of the Huber loss
        _, g = fits.chinchilla_objective(theta, logn, logd, logy, delta)
        eps = 1e-7
        num = [(fits.chinchilla_objective(theta + eps * e, logn, logd, logy, delta)[0]
                - fits.chinchilla_objective(theta - eps * e, logn, logd, logy, delta)[0])
               / (2 * eps) for e in np.eye(5)]
        np.testing.assert_allclose(g, num, rtol=1e-4, atol=1e-7)


def test_epoch_grid_sizes():
    assert fits.epoch_grid("epoch").shape == (4500, 5)
    assert fits.epoch_grid("coarse").shape == (162, 5)
    with pytest.raises(ValueError):
        fits.epoch_grid("fine")


def test_chinchilla_fit_recovers_synthetic_parameters():
    truth = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
    frame = fits.load_chinchilla()
    rng = np.random.default_rng(4)
    clean = (truth["E"] + truth["A"] * frame["model_size"] ** -truth["alpha"]
             + truth["B"] * frame["num_tokens"] ** -truth["beta"])
    frame["loss"] = clean * np.exp(0.003 * rng.standard_normal(len(frame)))
    res = fits.fit_chinchilla(frame, exclude_top=0, grid="coarse", n_boot=30, seed=0)
    assert res.n_points == 245 and res.n_starts == 162
    assert res.n_starts_at_best >= 1
    for k in ("alpha", "beta", "E"):  # within 4 bootstrap SDs (a 30-resample CI is ragged)
        assert abs(res.estimate[k] - truth[k]) <= 4 * res.boot_sd[k], k
    assert res.estimate["alpha"] == pytest.approx(0.35, abs=0.03)
    assert res.estimate["beta"] == pytest.approx(0.37, abs=0.03)
    assert res.estimate["E"] == pytest.approx(1.8, abs=0.05)


# ---- frontier ------------------------------------------------------------------------------


def test_symbolic_universal_results():
    d = frontier.derive()
    assert d["alpha_N_universal"] == frontier.sp.Rational(1, 3)
    assert d["gamma_universal"] == frontier.sp.Rational(1, 6)
    assert frontier.sp.simplify(d["shape_ratio_universal"]
                                - frontier.c_m / (2 * frontier.c_l)) == 0
    assert frontier.sp.simplify(d["tokens_per_param_universal"]
                                - (frontier.c_D / frontier.c_N) ** 3) == 0
    a_m, a_l = frontier.alpha_m, frontier.alpha_l
    assert frontier.sp.simplify(d["alpha_N"] - a_m * a_l / (a_m + 2 * a_l)) == 0
    assert all(isinstance(tex, str) and tex for _, tex in frontier.latex_derivation())


@pytest.mark.parametrize("params", [
    {**TRUTH, **fits.UNIVERSAL_EXPONENTS, "c_l": 3.25, "c_m": 388.0, "c_D": 1064.0},
    TRUTH,
])
def test_symbolic_optimum_equals_numerical_minimum(params):
    for compute in (1e21, 5.76e23):
        sym = frontier.closed_form(params, compute).iloc[0]
        num = frontier.numeric_optimum(params, compute)
        for k in ("m_star", "l_star", "N_star", "D_star", "shape_ratio"):
            assert sym[k] == pytest.approx(num[k], rel=1e-4), k
        assert sym["L_star"] == pytest.approx(num["L_star"], rel=1e-10)


def test_universal_closed_form_numbers():
    p = {**fits.UNIVERSAL_EXPONENTS, "c_m": 388.0, "c_l": 3.25, "c_D": 1064.0, "E": 1.78}
    row = frontier.closed_form(p, 1e22).iloc[0]
    c_n = 3 * (3 * 388.0**2 * 3.25) ** (1 / 3)
    assert row["shape_ratio"] == pytest.approx(388 / 6.5)
    assert row["c_N"] == pytest.approx(c_n)
    assert row["tokens_per_param"] == pytest.approx((1064 / c_n) ** 3)
    assert row["gamma"] == pytest.approx(1 / 6)
    # L* - E falls as C^(-1/6)
    lo, hi = (frontier.closed_form(p, c).iloc[0]["L_star"] - 1.78 for c in (1e20, 1e26))
    assert np.log(lo / hi) / np.log(1e6) == pytest.approx(1 / 6, rel=1e-9)


def test_closed_form_vectorises_over_bootstrap_samples():
    samples = pd.DataFrame([TRUTH, {**TRUTH, "c_m": 350.0}, {**TRUTH, "alpha_l": 1.0}])
    many = frontier.closed_form(samples, 1e22)
    assert len(many) == 3
    for i in range(3):
        one = frontier.closed_form(samples.iloc[i].to_dict(), 1e22).iloc[0]
        np.testing.assert_allclose(many.iloc[i].to_numpy(), one.to_numpy(), rtol=1e-12)


def test_shape_excess_is_zero_at_the_optimum_and_positive_elsewhere():
    p = {**fits.UNIVERSAL_EXPONENTS, "c_m": 388.0, "c_l": 3.25, "c_D": 1064.0, "E": 1.78}
    r = 388 / 6.5
    l = np.array([10.0, 40.0])  # noqa: E741
    assert np.allclose(frontier.shape_excess(p, r * l, l), 0, atol=1e-12)
    assert np.all(frontier.shape_excess(p, [576.0, 5120.0], [40.0, 9.0]) > 0)


# ---- toy claims and parameters ---------------------------------------------------------------


def _write_claims(root: Path, chapter: str, claims: list[dict]) -> None:
    folder = root / "results" / "smoke" / chapter
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "claims.json").write_text(json.dumps(claims))


def _claim(id: str, kind: str | None, verdict: str, paper_value: object = 1.0) -> dict:
    rec = {"id": id, "claim": "c", "quantity": "q", "estimate": 0.9, "ci_low": 0.8,
           "ci_high": 1.0, "paper_value": paper_value, "verdict": verdict}
    if kind is not None:
        rec["kind"] = kind
    return rec


def test_law_tests_come_from_the_explicit_list_not_from_reference_values(tmp_path: Path):
    _write_claims(tmp_path, "superposition", [
        _claim("strong_width_exponent_a1", "toy_test", "held"),
        _claim("strong_width_exponent_a2", "toy_test", "partly"),
        # weak regime, a 1/t time exponent and a level equal to 1: reference value 1, not listed
        _claim("weak_width_exponent_a2", "toy_test", "not_reached"),
        _claim("dynamics_superposition_exponent_a1_b0", "reconstruction", "held"),
        _claim("real_superposition_smollm2_overlap", "real_model", "held"),
        _claim("overlap_inverse_m", "theory_check", "held"),  # listed, but not evidence
    ])
    _write_claims(tmp_path, "one_third_time", [
        _claim("adam_peaked_exponent", "toy_test", "held", 1 / 3),
        _claim("hot_teacher_sgd_rate", "toy_test", "held", 1 / 3),  # 1/3 by coincidence
        _claim("real_onethird_tau_exponent", None, "not_held", 1 / 3),  # stale: no kind
    ])
    frame, missing = toys.gather_law_tests("smoke", root=tmp_path)
    assert missing == ["inverse_depth"]
    ran = frame[frame.status == "run"]
    assert set(ran.id) == {"strong_width_exponent_a1", "strong_width_exponent_a2",
                           "overlap_inverse_m", "adam_peaked_exponent",
                           "real_onethird_tau_exponent"}
    counted = set(ran[ran.counted].id)
    assert counted == {"strong_width_exponent_a1", "strong_width_exponent_a2",
                       "adam_peaked_exponent"}
    not_run = frame[frame.status != "run"]
    assert "real_superposition_family_width_exponent" in set(not_run.pattern)
    assert any("*lr_independen*" in p for p in not_run.pattern)
    assert set(not_run[not_run.chapter == "inverse_depth"].status) == {"chapter not run"}
    ev = toys.evidence_counts(frame)
    assert ev["tests"] == 3 and ev["held"] == 2 and ev["partly"] == 1
    assert ev["toy_test"] == 3 and ev["real_model"] == 0 and ev["not_counted"] == 2
    counts = toys.tally(frame)
    width = counts[(counts.term == "width m") & (counts.kind == "toy_test")].iloc[0]
    assert width.claims == 2 and width.held == 1 and width.counted
    text = toys.law_table_markdown(frame, missing) + toys.tally_markdown(counts)
    assert "not run" in text and "(not counted)" in text and "`inverse_depth`" in text
    rows = toys.law_table_rows(frame)
    assert len(rows) == len(frame) and {r["verdict"] for r in rows} >= {"held", "chapter not run"}
    empty, all_missing = toys.gather_law_tests("smoke", root=tmp_path / "nowhere")
    assert len(all_missing) == 3 and not empty.empty and (empty.status != "run").all()
    assert toys.evidence_counts(empty)["tests"] == 0


def test_law_list_names_only_exponent_claims():
    patterns = {p for term in toys.LAW_TESTS for t in term.tests for p in t.pattern.split("|")}
    assert "alpha_kl_rho1" not in patterns  # the tied teacher's α_ℓ ≈ 3 is not the law's 1/ℓ
    assert not any(p.startswith(("weak_", "dynamics_", "hot_teacher")) for p in patterns)
    assert [t.exponent for t in toys.LAW_TESTS] == [1.0, 1 / 3, 1.0]


# ---- the held-out test and its negative controls ------------------------------------------------


def test_control_outcomes_reject_only_intervals_above_the_band():
    from lib.core.claims import Tolerance
    from lib.universality import heldout

    ratios = pd.DataFrame([
        {"model": "far", "ratio": 1.5, "ci_low": 1.3, "ci_high": 1.7},
        {"model": "near", "ratio": 1.02, "ci_low": 0.95, "ci_high": 1.08},
        {"model": "edge", "ratio": 1.1, "ci_low": 1.02, "ci_high": 1.2},
        {"model": "better", "ratio": 0.7, "ci_low": 0.6, "ci_high": 0.8},
        {"model": "one", "ratio": 1.5, "ci_low": None, "ci_high": None},
    ])
    controls = {k: (1.0, 1.0, 1 / 3) for k in ratios.model}
    out = heldout.control_outcomes(ratios, controls, Tolerance.rel(0.1))
    assert out.set_index("control").rejected.to_dict() == {
        "far": True, "near": False, "edge": False, "better": False, "one": False}
    assert out.set_index("control").verdict["near"] == "held"
    premise = heldout.power_premise(out)
    assert not premise.ok and "near" in premise.detail and "far" not in premise.detail
    assert heldout.power_premise(out[out.control == "far"]).ok
    assert not heldout.power_premise(out.iloc[:0]).ok
    one_at_a_time = pd.DataFrame([
        {"alpha_m": 0.5, "alpha_l": 1.0, "alpha_D": 1 / 3, "rejected": True},
        {"alpha_m": 1.0, "alpha_l": 1.5, "alpha_D": 1 / 3, "rejected": False},
        {"alpha_m": 1.0, "alpha_l": 1.0, "alpha_D": 0.5, "rejected": True},
        {"alpha_m": 1.0, "alpha_l": 1.0, "alpha_D": 0.25, "rejected": False},
        {"alpha_m": 0.7, "alpha_l": 1.5, "alpha_D": 1 / 3, "rejected": False},  # two changed
    ])
    assert heldout.power_by_exponent(one_at_a_time) == (
        "α_m: rejects 0.5; α_ℓ: rejects none of 1.5; α_D: rejects 0.5, not 0.25")


def test_held_out_claim_without_power_is_not_reached():
    """A test that cannot reject a wrong triple must not call the law held."""
    from lib.core.claims import Tolerance, decide
    from lib.universality import heldout

    frame = synthetic_four_term({**TRUTH, "alpha_m": 1.0, "alpha_l": 1.0, "alpha_D": 1 / 3},
                                0.01, seed=3)
    controls = {"α_m = 0.3": (0.3, 1.0, 1 / 3), "α_ℓ = 1.1": (1.0, 1.1, 1 / 3)}
    ho = fits.held_out_validation(frame, {"free": None, "universal": (1, 1, 1 / 3), **controls},
                                  exclude_top=0, n_splits=6, seed=0)
    ratios = heldout.held_out_ratios(ho, n_boot=200)
    out = heldout.control_outcomes(ratios, controls, Tolerance.rel(0.1))
    rejected = out.set_index("control").rejected
    assert rejected["α_m = 0.3"] and not rejected["α_ℓ = 1.1"]  # a near-miss passes
    law = ratios.set_index("model").loc["universal"]
    claim = decide(id="x", claim="c", kind="data_refit", quantity="ratio",
                   estimate=law.ratio, ci_low=law.ci_low, ci_high=law.ci_high, target=1.0,
                   tol=Tolerance.rel(0.1), premises=[heldout.power_premise(out)])
    assert claim.verdict == "not_reached" and "no power" in claim.note


def test_exponent_at_bound_and_half_run_step():
    from lib.real.train import half_run_step

    assert fits.exponent_at_bound(1.0) == ""
    assert "upper bound" in fits.exponent_at_bound(4.995, "α")
    assert "lower bound" in fits.exponent_at_bound(1e-20)
    frame = pd.DataFrame({"step": [0, 1, 3, 10, 30, 45, 100, 100]})
    assert half_run_step(frame.step) == 45
    with pytest.raises(ValueError):
        half_run_step(pd.DataFrame({"step": [0, 5]}).step)


def test_params_reject_bad_values():
    UniversalityParams.validated({})
    with pytest.raises(ParameterError, match="n_boot"):
        UniversalityParams.validated({"n_boot": 1})
    with pytest.raises(ParameterError, match="scan_excludes"):
        UniversalityParams.validated({"scan_excludes": [210, 40]})
    with pytest.raises(ParameterError, match="chinchilla_grid"):
        UniversalityParams.validated({"chinchilla_grid": "fine"})


def test_parameters_cell_equals_model_defaults():
    text = (REPO_ROOT / "book" / "universality.md").read_text()
    cell = re.split(r":tags: \[parameters[^\]]*\]", text, maxsplit=1)[1].split("```", 1)[0]
    values = {}
    for line in cell.strip().splitlines():
        m = re.match(r"(\w+)\s*:\s*[^=]+=\s*(.+?)\s*(#.*)?$", line)
        if m:
            values[m.group(1)] = eval(m.group(2))  # noqa: S307 - our own literal source
    defaults = UniversalityParams().model_dump()
    assert values == defaults


# ---- figures ------------------------------------------------------------------------------------


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def test_schematic_names_every_term_and_the_chapter_that_tests_it():
    import matplotlib.pyplot as plt

    from lib.universality.schematic import draw_schematic
    from tests.figures import checked_schematic

    fig, text = checked_schematic(draw_schematic)  # a Figure that renders
    plt.close(fig)
    for needle in (r"\tau^{-1/3}", "c_m/m", r"c_\ell/\ell", "One-third time", "Superposition",
                   "Inverse depth", "C^{-1/6}", "(c_D/c_N)^3"):
        assert needle in text, needle


def test_exponent_figures_draw_the_laws_guides():
    from lib.universality import plots

    frame = synthetic_four_term(TRUTH, noise=0.0)
    width, depth, tokens = (frame[c].to_numpy() for c in ("d_model", "n_layers", "num_tokens"))
    parts = fits.four_term_parts(TRUTH, width, depth, tokens)
    fig = plots.four_term_parts_figure({"width": width, "depth": depth, "data": tokens}, parts,
                                       parts, parts)
    text = _texts(fig)
    for guide in (r"\propto m^{-1}", r"\propto \ell^{-1}", r"\propto D^{-1/3}"):
        assert guide in text, guide
    width_ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "1280" in width_ticks  # integer ticks, not 10^3
