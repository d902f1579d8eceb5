"""Superposition chapter: data, model, gradients, signed decay, padding, theory, sweeps."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy import stats

from lib.core.params import ParameterError
from lib.superposition import analysis, dynamics, theory
from lib.superposition.data import SparseBatch, frequencies, sample_dense, sample_sparse
from lib.superposition.model import FeatureRecovery, init_params, loss_and_grads
from lib.superposition.optim import (
    EXP17_LOSS_SCALE,
    SignedAdamW,
    decay_factor,
    loss_scale,
    lr_b_exp17,
    lr_w_exp17,
    member_lrs,
    signed_decay_,
    warmup_cosine,
)
from lib.superposition.params import SuperpositionParams
from lib.superposition.sweep import (
    Member,
    SweepConfig,
    chunk_memory_bytes,
    loop_memory_bytes,
    member_init,
    plan,
    train_alone,
    train_chunk,
    train_sweep,
)
from tests.devices import on_devices, tol

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


# ---- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("law", ["power", "exponential", "linear"])
def test_frequencies_are_normalised_and_decreasing(law):
    p = frequencies(law, 100, alpha=1.3, scale=20.0)
    assert p.shape == (100,)
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-12)
    assert bool((p[1:] <= p[:-1]).all()) and bool((p > 0).all())


def test_frequencies_match_the_authors_formulas():
    n = 50
    i = np.arange(1, n + 1)
    np.testing.assert_allclose(frequencies("power", n, 1.2).numpy(),
                               i**-1.2 / (i**-1.2).sum())
    lin = (n - (i - 1)) / n
    np.testing.assert_allclose(frequencies("linear", n).numpy(), lin / lin.sum())
    with pytest.raises(ValueError, match="unknown"):
        frequencies("zipf", n)


def test_sparse_batches_are_exact_bernoulli_draws():
    """Marginal frequencies match p (chi-square over features), pairs are distinct, values in
    (0, 2) with mean 1, and dense() puts them in place."""
    n, B, reps = 40, 64, 200
    p = frequencies("power", n, 1.1)
    g = torch.Generator().manual_seed(3)
    counts = torch.zeros(n, dtype=torch.float64)
    vals = []
    for _ in range(reps):
        s = sample_sparse(p, B, g)
        key = s.cols * B + s.rows
        assert key.unique().numel() == key.numel()
        counts += torch.bincount(s.cols, minlength=n)
        vals.append(s.vals)
    expected = (p * B * reps).numpy()
    chi2 = float((((counts.numpy() - expected) ** 2) / (expected * (1 - p.numpy()))).sum())
    assert stats.chi2.sf(chi2, df=n) > 1e-3
    v = torch.cat(vals)
    assert float(v.min()) >= 0 and float(v.max()) <= 2
    assert float(v.mean()) == pytest.approx(1.0, abs=0.05)
    x = s.dense()
    assert x.shape == (B, n) and torch.equal(x[s.rows, s.cols], s.vals)


def test_dense_draw_has_the_same_marginals():
    p = frequencies("power", 30, 1.0)
    g = torch.Generator().manual_seed(0)
    x = torch.stack([sample_dense(p, 256, g) for _ in range(50)])  # (50, 256, 30)
    freq = (x > 0).double().mean((0, 1))
    assert float((freq - p).abs().max()) < 0.02


# ---- model and gradients ---------------------------------------------------------------------


def _batch(n=24, B=16, seed=0):
    p = frequencies("power", n, 0.8)
    return sample_sparse(p, B, torch.Generator().manual_seed(seed), torch.float64)


def test_model_shapes():
    model = FeatureRecovery(24, 5, torch.Generator().manual_seed(0))
    assert model.W.shape == (24, 5) and model.b.shape == (24,)
    x = _batch().dense()
    assert model(x).shape == x.shape
    W, b = init_params(1000, 50, torch.Generator().manual_seed(1))
    assert float(W.pow(2).sum(1).mean()) == pytest.approx(1.0, rel=0.05)  # rows of norm ≈ 1


@pytest.mark.parametrize("weighted", [False, True])
def test_batched_gradients_match_autograd_member_by_member(weighted):
    """Hand-written gradients of the stacked, padded model equal autograd on each model."""
    n, widths = 24, [3, 6]
    batch = _batch(n)
    x = batch.dense()
    g = torch.Generator().manual_seed(5)
    W = torch.zeros(2, n, 6, dtype=torch.float64)
    for k, m in enumerate(widths):
        W[k, :, :m] = torch.randn(n, m, generator=g, dtype=torch.float64) * 0.6
    b = torch.randn(2, n, generator=g, dtype=torch.float64) * 0.3
    imp = torch.rand(2, n, generator=g, dtype=torch.float64) if weighted else None
    loss, gW, gb = loss_and_grads(W.clone(), b.clone(), batch, imp)
    assert loss.shape == (2,) and gW.shape == W.shape and gb.shape == b.shape
    for k, m in enumerate(widths):
        Wk = W[k, :, :m].clone().requires_grad_(True)
        bk = b[k].clone().requires_grad_(True)
        y = torch.relu(x @ Wk @ Wk.T + bk)
        w = imp[k] if weighted else torch.ones(n, dtype=torch.float64)
        code_loss = (w * (y - x) ** 2).mean()
        code_loss.backward()
        assert float(loss[k]) == pytest.approx(float(code_loss.detach()) * n, rel=1e-12)
        torch.testing.assert_close(gW[k, :, :m], Wk.grad, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(gb[k], bk.grad, rtol=1e-10, atol=1e-12)
        assert float(gW[k, :, m:].abs().sum()) == 0.0  # padding gets no gradient


def test_gradient_matches_finite_differences():
    n = 12
    batch = _batch(n, 8, seed=2)
    g = torch.Generator().manual_seed(0)
    W = torch.randn(1, n, 3, generator=g, dtype=torch.float64) * 0.7
    b = torch.randn(1, n, generator=g, dtype=torch.float64) * 0.2
    _, gW, _ = loss_and_grads(W.clone(), b.clone(), batch)
    eps = 1e-6
    for (i, j) in [(0, 0), (1, 2), (5, 1)]:
        Wp, Wm = W.clone(), W.clone()
        Wp[0, i, j] += eps
        Wm[0, i, j] -= eps
        lp = loss_and_grads(Wp, b.clone(), batch)[0] / n  # code loss = paper loss / n
        lm = loss_and_grads(Wm, b.clone(), batch)[0] / n
        assert float((lp - lm) / (2 * eps)) == pytest.approx(float(gW[0, i, j]), rel=1e-5,
                                                            abs=1e-9)


# ---- optimiser --------------------------------------------------------------------------------


def test_signed_decay_on_a_hand_checked_example():
    """Row (3, 4) has norm 5. γ = −1, η = 0.1: factor 1 − 0.1·(−1)·(1/5 − 1) = 0.92.
    γ = 0.5, η = 0.1: factor 1 − 0.05 = 0.95. A unit row is a fixed point of weight growth."""
    W = torch.tensor([[[3.0, 4.0], [0.6, 0.8]]], dtype=torch.float64)  # (1, 2, 2)
    out = signed_decay_(W.clone(), torch.tensor([-1.0]), torch.tensor([0.1]))
    torch.testing.assert_close(out[0, 0], torch.tensor([2.76, 3.68], dtype=torch.float64))
    torch.testing.assert_close(out[0, 1], W[0, 1], atol=1e-8, rtol=0)
    out = signed_decay_(W.clone(), torch.tensor([0.5]), torch.tensor([0.1]))
    torch.testing.assert_close(out[0], 0.95 * W[0])
    # per-member γ and lr broadcast over a stack
    f = decay_factor(torch.ones(3, 4, 2), torch.tensor([-1.0, 0.0, 1.0]),
                     torch.tensor([0.1, 0.1, 0.2]))
    assert f.shape == (3, 4, 1)
    assert float(f[1].max()) == 1.0 and float(f[2, 0]) == pytest.approx(0.8)


def test_signed_adamw_decays_then_steps_like_the_batched_rule():
    """With a zero gradient Adam does nothing, so one SignedAdamW step is the decay alone."""
    for gamma in (-1.0, 0.7):
        w = torch.tensor([[3.0, 4.0], [0.1, 0.2]], dtype=torch.float64, requires_grad=True)
        opt = SignedAdamW([{"params": [w], "lr": 0.1, "weight_decay": gamma}])
        w.grad = torch.zeros_like(w)
        ref = signed_decay_(w.detach().clone()[None], torch.tensor([gamma]), torch.tensor([0.1]))
        opt.step()
        torch.testing.assert_close(w.detach(), ref[0])


def test_learning_rates_and_schedule():
    assert lr_w_exp17(8) == pytest.approx(0.02)
    assert lr_w_exp17(128) == pytest.approx(0.01)
    assert lr_b_exp17(8) == pytest.approx(0.25)
    lw, lb = member_lrs([8, 128], "exp10")
    assert torch.equal(lw, lb) and float(lw[0]) == 1e-2
    with pytest.raises(ValueError):
        member_lrs([8], "adamw")
    steps = 1000
    f = [warmup_cosine(s, steps, 0.05) for s in range(steps)]
    assert f[0] == pytest.approx(1 / 50) and max(f) == pytest.approx(1.0, abs=1e-4)
    assert f[-1] == pytest.approx(0.05)
    assert all(a <= b + 1e-12 for a, b in zip(f[:49], f[1:50], strict=True))  # warm-up rises


# ---- padding and batching ---------------------------------------------------------------------


@on_devices
def test_padded_member_trains_exactly_like_the_unpadded_model_and_the_authors_loop(device):
    """Members of widths 3 and 6 (γ = −1 and +0.5) trained in one padded chunk equal each
    model trained alone in a chunk of one, and the authors' one-model loop (nn.Module, autograd,
    SignedAdamW) on the same data, to float64 rounding; padded columns stay exactly zero."""
    n, steps = 20, 25
    cfg = SweepConfig(n=n, batch=12, steps=steps, lr_rule="exp17", final_window=5,
                      dtype=torch.float64)
    members = [Member(3, -1.0, "power", 1.0, 0), Member(6, 0.5, "power", 1.0, 0)]
    p = frequencies("power", n, 1.0)
    g = torch.Generator().manual_seed(11)
    batches = [SparseBatch(b.rows.to(device), b.cols.to(device), b.vals.to(device), b.size, b.n)
               for b in (sample_sparse(p, cfg.batch, g, torch.float64) for _ in range(steps))]
    inits = [tuple(t.to(device) for t in member_init(m, n, 0)) for m in members]
    together = train_chunk(members, cfg, device, init=inits, batches=batches)
    same, loop_tol = tol(device, 1e-10, 1e-8), tol(device, 1e-8, 1e-7)
    for k, mem in enumerate(members):
        alone = train_chunk([mem], cfg, device, init=[inits[k]], batches=batches)[0]
        torch.testing.assert_close(together[k].W, alone.W, rtol=same, atol=1e-12)
        torch.testing.assert_close(together[k].b, alone.b, rtol=same, atol=1e-12)
        np.testing.assert_allclose(together[k].losses, alone.losses, rtol=same)
        loop = train_alone(mem, cfg, device, init=inits[k],
                           dense_batches=[bt.dense() for bt in batches])
        torch.testing.assert_close(together[k].W, loop.W, rtol=loop_tol, atol=1e-10)
        torch.testing.assert_close(together[k].b, loop.b, rtol=loop_tol, atol=1e-10)
        np.testing.assert_allclose(together[k].losses, loop.losses, rtol=loop_tol)
        assert together[k].W.shape == (n, mem.width)


def test_exp17_x100_scales_the_loss_like_the_authors_and_matches_a_smaller_adam_eps():
    """exp-17.py backpropagates ``criteria(y, x) * 100``: under 'exp17_x100' the batched chunk
    equals the authors' loop with the ×100 loss, and, Adam being scale-free up to eps, it equals
    the unscaled rule run with Adam's eps divided by 100. The logged loss is not scaled."""
    from lib.core import ensemble

    assert EXP17_LOSS_SCALE == 100.0
    assert loss_scale("exp17_x100") == 100.0 and loss_scale("exp17") == 1.0
    assert loss_scale("exp10") == 1.0
    with pytest.raises(ValueError, match="unknown"):
        loss_scale("exp18")
    torch.testing.assert_close(member_lrs([8, 32], "exp17_x100")[0],
                               member_lrs([8, 32], "exp17")[0])
    n, steps = 20, 25
    mem = Member(4, -1.0, "power", 1.0, 0)
    p = frequencies("power", n, 1.0)
    g = torch.Generator().manual_seed(5)
    batches = [sample_sparse(p, 12, g, torch.float64) for _ in range(steps)]
    init = [member_init(mem, n, 0)]

    def cfg(rule):
        return SweepConfig(n=n, batch=12, steps=steps, lr_rule=rule, final_window=5,
                           dtype=torch.float64)

    scaled = train_chunk([mem], cfg("exp17_x100"), CPU, init=init, batches=batches)[0]
    loop = train_alone(mem, cfg("exp17_x100"), CPU, init=init[0],
                      dense_batches=[bt.dense() for bt in batches])
    torch.testing.assert_close(scaled.W, loop.W, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(scaled.losses, loop.losses, rtol=1e-8)
    plain = train_chunk([mem], cfg("exp17"), CPU, init=init, batches=batches)[0]
    np.testing.assert_allclose(scaled.losses[0], plain.losses[0])  # logged loss unscaled
    orig = ensemble.BatchedAdam.__init__

    def small_eps(self, *a, **k):
        orig(self, *a, **k)
        self.eps = self.eps / EXP17_LOSS_SCALE

    ensemble.BatchedAdam.__init__ = small_eps
    try:
        plain_small = train_chunk([mem], cfg("exp17"), CPU, init=init, batches=batches)[0]
    finally:
        ensemble.BatchedAdam.__init__ = orig
    torch.testing.assert_close(scaled.W, plain_small.W, rtol=1e-9, atol=1e-11)


def test_plan_chunks_groups_streams_limits_size_and_padding():
    members = [Member(m, -1.0, law, 1.0, s) for law in ("power", "linear") for s in (0, 1)
               for m in (4, 5, 8, 16, 32)]
    cfg = SweepConfig(n=64, batch=8, steps=1)
    chunks = [[members[i] for i in c] for c in plan(members, cfg, CPU, 3, max_waste=0.5)]
    flat = [m for c in chunks for m in c]
    assert len(flat) == len(members) and set(flat) == set(members)
    for c in chunks:
        assert len({m.stream for m in c}) == 1 and len(c) <= 3
        used = sum(m.width for m in c)
        assert len(c) == 1 or len(c) * max(m.width for m in c) <= 1.5 * used


def test_memory_estimate_grows_no_faster_than_members_times_model():
    one = chunk_memory_bytes(512, 256, [32])
    for k in (2, 4, 16):
        many = chunk_memory_bytes(512, 256, [32] * k)
        assert one < many <= k * one
    assert loop_memory_bytes(512, 256, 32) > 0


def test_sweep_returns_results_in_member_order_and_learns():
    cfg = SweepConfig(n=32, batch=64, steps=80, final_window=10)
    members = [Member(m, -1.0, "power", 1.2, s) for s in (0, 1) for m in (8, 4)]
    out = train_sweep(members, cfg, CPU, chunk_members=2).results
    assert [r.member for r in out] == members
    for r in out:
        assert r.finite and r.W.shape == (32, r.member.width)
        assert r.final_loss < r.losses[:10].mean()  # training lowered the loss
        assert theory.phi_half(r.W) > 0.9  # weight growth: every feature represented


# ---- theory -----------------------------------------------------------------------------------


def test_weak_loss_on_a_hand_computed_case():
    """p = (0.4, 0.3, 0.2, 0.1), top 2 kept: Σ_{i>2} (4/3 p_i − p_i²) = 4/3·0.3 − 0.05 = 0.35;
    the paper's approximation (4/3)·0.3 = 0.4."""
    p = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    assert theory.weak_loss(p, 2) == pytest.approx(0.35)
    assert theory.weak_loss(p, 2, exact=False) == pytest.approx(0.4)
    assert theory.weak_loss(p, 4) == 0.0
    assert theory.trivial_loss(p) == pytest.approx(4 / 3 - 0.3)


@pytest.mark.parametrize("m", [4, 16, 64])
def test_random_overlaps_follow_beta_half(m):
    """(u·w)² of random unit vectors: mean 1/m and variance 2(m−1)/(m²(m+2)) (Monte Carlo within
    5 standard errors), and the Beta(1/2, (m−1)/2) law (Kolmogorov–Smirnov)."""
    g = torch.Generator().manual_seed(m)
    u = theory.random_unit_vectors(20000, m, g)
    w = theory.random_unit_vectors(20000, m, g)
    sq = ((u * w).sum(1) ** 2).numpy()
    mean, var = theory.random_overlap_moments(m)
    assert mean == 1 / m
    assert abs(sq.mean() - mean) < 5 * np.sqrt(var / sq.size)
    assert sq.var() == pytest.approx(var, rel=0.08)
    assert stats.kstest(sq, stats.beta(0.5, (m - 1) / 2).cdf).pvalue > 1e-3


def test_mean_squared_overlap_and_welch_bound():
    m = 5
    eye = torch.eye(m, dtype=torch.float64)
    assert theory.mean_squared_overlap(eye) == pytest.approx(0.0)
    # a regular simplex of m + 1 unit vectors in R^m attains the Welch bound: overlaps −1/m
    e = torch.eye(m + 1, dtype=torch.float64) - 1.0 / (m + 1)
    basis = torch.linalg.svd(e)[2][:m]  # an orthonormal basis of the sum-zero plane
    simplex = e @ basis.T
    simplex = simplex / simplex.norm(dim=1, keepdim=True)
    assert theory.mean_squared_overlap(simplex) == pytest.approx(theory.welch_bound(m + 1, m))
    assert theory.welch_bound(m + 1, m) == pytest.approx(1 / m**2)
    assert theory.welch_bound(m, m) == 0.0
    assert theory.welch_bound(10**6, m) == pytest.approx(1 / m, rel=1e-5)
    W = torch.cat([simplex, torch.zeros(3, m, dtype=torch.float64)])  # 3 dropped features
    assert theory.phi_half(W) == pytest.approx((m + 1) / (m + 4))


def test_weighted_welch_bound_and_its_slope():
    """Uniform p over ν features: 1/m − 1/ν; the simplex attains the unweighted Welch bound, so
    uniform weights reduce to it up to the factor ν(ν−1)/ν²; the slope is 1 for ν ≫ m, steeper
    for ν close to m, and undefined once m ≥ ν."""
    nu = 50
    p = torch.full((nu,), 1.0 / nu, dtype=torch.float64)
    assert theory.effective_features(p) == pytest.approx(nu)
    assert theory.weighted_welch_bound(p, 10) == pytest.approx(1 / 10 - 1 / nu)
    assert theory.weighted_welch_bound(p, 10) == pytest.approx(
        theory.welch_bound(nu, 10) * (nu - 1) / nu)
    assert theory.weighted_welch_bound(p, 60) == 0.0
    big = torch.full((10**6,), 1e-6, dtype=torch.float64)
    assert theory.welch_slope(big, [8, 16, 32]) == pytest.approx(1.0, abs=1e-3)
    assert theory.welch_slope(p, [8, 16, 32]) > 1.2
    assert np.isnan(theory.welch_slope(p, [8, 16, 64]))
    # a check a simplex can meet: the weighted interference of m + 1 equal-weight vectors
    m = 4
    e = torch.eye(m + 1, dtype=torch.float64) - 1.0 / (m + 1)
    u = e @ torch.linalg.svd(e)[2][:m].T
    u = u / u.norm(dim=1, keepdim=True)
    q = torch.full((m + 1,), 1.0 / (m + 1), dtype=torch.float64)
    off = float((q[:, None] * q[None] * (u @ u.T) ** 2).sum() - (q**2).sum())
    assert off == pytest.approx(theory.weighted_welch_bound(q, m))


def test_sequential_dynamics_theory():
    assert dynamics.sequential_exponent(1.5, 0.5) == pytest.approx(0.5)
    n = 2000
    p = frequencies("power", n, 1.5)
    imp = dynamics.importance(n, 0.5)
    lr = dynamics.learning_rate(p, imp, 0.5)
    assert 8 * lr * float((p * imp).max()) * 4 / 3 == pytest.approx(0.5)
    t = np.geomspace(1e3, 1e5, 9)
    curve = dynamics.sequential_loss_curve(t, p, imp, lr, 0.01)
    assert np.all(np.diff(curve) < 0)
    slope = -np.polyfit(np.log(t), np.log(curve), 1)[0]
    assert slope == pytest.approx(0.5, abs=0.06)  # the asymptotic (a+b−1)/(a+b)


def test_dynamics_arms_run_and_share_data():
    cfg = dynamics.DynamicsConfig(n=16, bottleneck=4, batch=32, steps=60)
    members = dynamics.member_grid([(1.5, 0.5)], range(3))
    runs = dynamics.train_sweep(members, cfg, CPU)
    assert [(r.arm, r.seed) for r in runs] == [(m.arm, m.seed) for m in members]
    assert [r.arm for r in runs[:2]] == ["sequential", "superposition"]
    assert runs[0].width == 16 and runs[1].width == 4 and runs[1].gamma == -1.0
    assert all(r.finite and r.losses.shape == (60,) for r in runs)
    # the floor L_K is measured on the same run continued to 4× the steps (superposition arm)
    sup = runs[1]
    assert sup.floor_steps == 4 * 60 and np.isfinite(sup.floor)
    assert np.isnan(runs[0].floor) and runs[0].floor_steps == 0
    again = dynamics.train_chunk([members[1]], cfg, CPU)[0]
    np.testing.assert_allclose(again.losses, sup.losses)  # the continuation leaves T intact
    rows = dynamics.late_exponents(runs)
    assert {r["arm"] for r in rows} == {"sequential", "superposition"}
    for r in rows:
        assert r["n_seeds"] == 3 and r["interval"].n_seeds == 3
        assert "Student t" in r["interval"].method
    row = next(r for r in rows if r["arm"] == "superposition")
    assert np.isfinite(row["floor"]) and np.isfinite(row["excess_min"])
    sp = dynamics.speedup(runs, 1.5, 0.5)
    assert set(sp) >= {"speedup", "level"}


def test_excess_rule_reading_is_close_to_the_true_exponent_and_biased_up():
    """The L − L_K rule on an exact L_K + t^-β: it reads β plus a small upward bias (the floor is
    measured at finite time), and the bias shrinks with a longer reference run."""
    r1 = dynamics.excess_rule_reading(1.0, 4000, 4)
    assert 1.0 < r1 < 1.06
    r08 = dynamics.excess_rule_reading(0.8, 4000, 4)
    assert 0.8 < r08 < 0.9
    assert dynamics.excess_rule_reading(0.8, 4000, 16) < r08


def test_late_exponents_of_a_planted_floor_and_power_law():
    """Curves L = L_K + c·t^-1 per seed with the floor given: the excess exponent is the rule's
    reading of 1 for every seed; the raw exponent of L is flatter than 1."""
    steps, F = 3000, 4
    runs = []
    tt = np.arange(1, F * steps + 1, dtype=float)
    for seed, c in enumerate((1.0, 1.1, 0.9)):
        curve = 0.05 + c / tt
        floor = float(curve[-(F * steps) // 10:].mean())
        runs.append(dynamics.DynamicsRun(1.5, 0.5, "superposition", 4, -1.0, 0.1,
                                         curve[:steps], 1.0, True, seed, 0.01, 16, floor,
                                         F * steps))
    row = dynamics.late_exponents(runs)[0]
    expect = dynamics.excess_rule_reading(1.0, steps, F)
    assert row["excess_exponent"] == pytest.approx(expect, abs=2e-3)
    assert row["exponent"] < 0.9 and row["excess_min"] > 0


def test_width_exponent_recovers_a_planted_power_law():
    import pandas as pd

    widths = np.array([8, 16, 32, 64])
    rows = [{"law": "x", "seed": s, "width": m, "final_loss": 3.0 * m**-1.0 * (1 + 0.01 * s),
             "phi_half": 1.0} for s in range(3) for m in widths]
    iv, r2 = analysis.width_exponent(pd.DataFrame(rows))
    assert iv.estimate == pytest.approx(1.0, abs=1e-9) and r2 == pytest.approx(1.0)
    assert iv.n_seeds == 3 and iv.ci_low is None  # identical slopes: no spread, no interval


def _weak_frame(alpha, slope, seeds=3, widths=(8, 11, 16, 23, 32), noise=0.02, n=512):
    """A weak-regime frame with the represented count growing as m^slope and the loss the tail
    mass at that count, L ∝ (φn)^-(α−1), with log-normal seed noise."""
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = []
    for s in range(seeds):
        for m in widths:
            k = 1.5 * m**slope * np.exp(noise * rng.standard_normal())
            rows.append({"law": f"power α={alpha:g}", "alpha": alpha, "seed": s, "width": m,
                         "n_represented": k, "phi_half": k / n,
                         "final_loss": 2.0 * k ** -(alpha - 1)})
    return pd.DataFrame(rows)


def test_weak_premise_measures_the_represented_count_slope():
    prem, s, level = analysis.weak_premises(_weak_frame(2.0, 1.0))
    assert s.estimate == pytest.approx(1.0, abs=0.05) and all(p.ok for p in prem)
    assert level == pytest.approx(1.5, rel=0.1)
    prem, s, _ = analysis.weak_premises(_weak_frame(2.0, 0.65))
    assert s.estimate == pytest.approx(0.65, abs=0.05)
    slope_premise = next(p for p in prem if "∝ m" in p.name)
    assert not slope_premise.ok and "m^0.6" in slope_premise.detail


def test_weak_claim_is_not_reached_when_the_count_is_not_proportional_to_m():
    """The issue's case: φn ∝ m^0.65 and L the dropped tail → the width exponent claim is
    'not reached' (not 'not held') and the mechanism claim (measured / (α−1)·s) is held."""
    from lib.core.claims import Tolerance, decide

    f = _weak_frame(2.0, 0.65)
    iv, _ = analysis.width_exponent(f)
    prem, slope, _ = analysis.weak_premises(f)
    c = decide(id="w", claim="c", kind="toy_test", quantity="q", interval=iv, target=1.0,
               tol=Tolerance.rel(0.15), premises=prem)
    assert c.verdict == "not_reached" and "m^0.6" in c.note
    mech, pred, meas = analysis.mechanism_ratio(f, 2.0)
    assert pred == pytest.approx(meas, rel=1e-6)
    cm = decide(id="m", claim="c", kind="toy_test", quantity="q", interval=mech, target=1.0,
                tol=Tolerance.rel(0.15))
    assert cm.verdict == "held"
    # a loss that does not follow the dropped tail fails the mechanism (not held)
    g = f.assign(final_loss=3.0 * f["width"] ** -0.2 * np.exp(0.01 * f["seed"]))
    mech, _, _ = analysis.mechanism_ratio(g, 2.0)
    cm = decide(id="m", claim="c", kind="toy_test", quantity="q", interval=mech, target=1.0,
                tol=Tolerance.rel(0.15))
    assert cm.verdict == "not_held"


# ---- parameters -------------------------------------------------------------------------------


def test_default_and_profile_parameters_validate():
    SuperpositionParams()
    for profile in ("smoke", "full"):
        values = yaml.safe_load((ROOT / "book/params/superposition" / f"{profile}.yaml")
                                .read_text())
        SuperpositionParams.validated({**values, "profile": profile})


@pytest.mark.parametrize("bad, name", [
    ({"widths": [8, 600]}, "widths"),
    ({"strong_gamma": 0.5}, "strong_gamma"),
    ({"weak_alphas": [0.8, 1.5]}, "weak_alphas"),
    ({"dyn_a": [1.5, 2.0], "dyn_b": [0.5]}, "dyn_b"),
    ({"batch": 0}, "batch"),
    ({"widths": [8, 16]}, "widths"),
    ({"strong_lr_rule": "exp18"}, "strong_lr_rule"),
    ({"power_alphas": [9.0]}, "power_alphas"),
])
def test_bad_parameters_fail_with_the_parameter_name(bad, name):
    with pytest.raises(ParameterError, match=name):
        SuperpositionParams.validated(bad)


def test_sparse_batch_dataclass_is_consistent():
    s = SparseBatch(torch.tensor([0, 1]), torch.tensor([2, 0]), torch.tensor([0.5, 1.5]), 2, 3)
    torch.testing.assert_close(s.dense(), torch.tensor([[0, 0, 0.5], [1.5, 0, 0]]))


def test_dynamics_chunk_equals_members_alone():
    """The batched dynamics sweep (a leading member dimension, one data stream per member) gives
    each member the run it gets alone in a chunk of one, to float32 rounding; members differ in
    (a, b, seed) and both arms are checked."""
    cfg = dynamics.DynamicsConfig(n=24, bottleneck=6, batch=32, steps=80, reference_factor=2)
    members = dynamics.member_grid([(1.5, 0.0), (2.0, 0.5)], [0, 1])
    together = dynamics.train_sweep(members, cfg, CPU, chunk_members=len(members))
    for m, run in zip(members, together, strict=True):
        alone = dynamics.train_chunk([m], cfg, CPU)[0]
        assert (run.a, run.b, run.seed, run.arm) == (m.a, m.b, m.seed, m.arm)
        np.testing.assert_allclose(run.losses, alone.losses, rtol=2e-5, atol=1e-7)
        assert run.phi_half == alone.phi_half and run.lr == alone.lr
        if m.arm == "superposition":
            assert run.floor == pytest.approx(alone.floor, rel=2e-5)
    # distinct seeds and settings give distinct runs; the arms of one setting share the data
    assert not np.allclose(together[0].losses, together[4].losses)
    with pytest.raises(ValueError, match="one arm"):
        dynamics.train_chunk(members[:2], cfg, CPU)


def test_schematic_draws_the_toy():
    """The chapter's schematic is a Figure that fits the text column and names the model's
    parts: the frequency law, both uses of the tied W, the ReLU and m < n."""
    import matplotlib.pyplot as plt

    from lib.superposition.schematic import draw_schematic
    from tests.figures import checked_schematic

    fig, text = checked_schematic(draw_schematic)  # a Figure, within the column, renders
    try:
        for part in (r"p_i \propto", r"W^{\top} x", r"\mathrm{ReLU}(W h + b)", "m < n"):
            assert part in text, part
    finally:
        plt.close(fig)


def test_legend_below_puts_one_legend_under_the_panels():
    """The chapter's shared legend sits below the panels, which are lifted to make room."""
    import matplotlib.pyplot as plt

    from lib.core.plotting import figure
    from lib.superposition.plots import legend_below, legend_entries

    fig, axes = figure(ncols=2, width=5.2, height=4.8)
    try:
        axes[0, 0].plot([1, 2], [1, 2], label="one")
        axes[0, 1].plot([1, 2], [2, 1], label="two")
        legend_below(fig, legend_entries(axes[0, 0]) + legend_entries(axes[0, 1], "(b) "))
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == ["one", "(b) two"]
        assert min(ax.get_position().y0 for ax in axes.ravel()) > 0.1  # room left below
    finally:
        plt.close(fig)
