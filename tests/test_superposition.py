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
    SignedAdamW,
    decay_factor,
    lr_b_exp17,
    lr_w_exp17,
    member_lrs,
    signed_decay_,
    warmup_cosine,
)
from lib.superposition.params import SuperpositionParams
from lib.superposition.sweep import (
    Member,
    TrainConfig,
    chunk_memory_bytes,
    loop_memory_bytes,
    member_init,
    plan_chunks,
    train_chunk,
    train_loop,
    train_sweep,
)

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


def test_padded_member_trains_exactly_like_the_unpadded_model_and_the_authors_loop():
    """Members of widths 3 and 6 (γ = −1 and +0.5) trained in one padded chunk equal each
    model trained alone in a chunk of one, and the authors' one-model loop (nn.Module, autograd,
    SignedAdamW) on the same data, to float64 rounding; padded columns stay exactly zero."""
    n, steps = 20, 25
    cfg = TrainConfig(n=n, batch=12, steps=steps, lr_rule="exp17", final_window=5,
                      dtype=torch.float64)
    members = [Member(3, -1.0, "power", 1.0, 0), Member(6, 0.5, "power", 1.0, 0)]
    p = frequencies("power", n, 1.0)
    g = torch.Generator().manual_seed(11)
    batches = [sample_sparse(p, cfg.batch, g, torch.float64) for _ in range(steps)]
    inits = [member_init(m, n, 0) for m in members]
    together = train_chunk(members, cfg, CPU, init=inits, batches=batches)
    for k, mem in enumerate(members):
        alone = train_chunk([mem], cfg, CPU, init=[inits[k]], batches=batches)[0]
        torch.testing.assert_close(together[k].W, alone.W, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(together[k].b, alone.b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(together[k].losses, alone.losses, rtol=1e-10)
        loop = train_loop(mem, cfg, CPU, init=inits[k],
                          dense_batches=[bt.dense() for bt in batches])
        torch.testing.assert_close(together[k].W, loop.W, rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(together[k].b, loop.b, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(together[k].losses, loop.losses, rtol=1e-8)
        assert together[k].W.shape == (n, mem.width)


def test_plan_chunks_groups_streams_limits_size_and_padding():
    members = [Member(m, -1.0, law, 1.0, s) for law in ("power", "linear") for s in (0, 1)
               for m in (4, 5, 8, 16, 32)]
    chunks = plan_chunks(members, max_members=3, max_waste=0.5)
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
    cfg = TrainConfig(n=32, batch=64, steps=80, final_window=10)
    members = [Member(m, -1.0, "power", 1.2, s) for s in (0, 1) for m in (8, 4)]
    out = train_sweep(members, cfg, CPU, max_members=2)
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
    runs = dynamics.run_dynamics([(1.5, 0.5)], cfg, CPU)
    assert [r.arm for r in runs] == ["sequential", "superposition"]
    assert runs[0].width == 16 and runs[1].width == 4 and runs[1].gamma == -1.0
    assert all(r.finite and r.losses.shape == (60,) for r in runs)
    rows = dynamics.late_exponents(runs, n_boot=20)
    assert {r["arm"] for r in rows} == {"sequential", "superposition"}
    sp = dynamics.speedup(runs, 1.5, 0.5)
    assert set(sp) >= {"speedup", "level"}


def test_width_exponent_recovers_a_planted_power_law():
    import pandas as pd

    widths = np.array([8, 16, 32, 64])
    rows = [{"law": "x", "seed": s, "width": m, "final_loss": 3.0 * m**-1.0 * (1 + 0.01 * s),
             "phi_half": 1.0} for s in range(3) for m in widths]
    boot, r2 = analysis.width_exponent(pd.DataFrame(rows), n_boot=50)
    assert boot.estimate == pytest.approx(1.0, abs=1e-9) and r2 == pytest.approx(1.0)
    assert analysis.ci_text(float("nan"), 1.0) == "[n/a]"
    assert analysis.verdict_summary({"a": "held", "b": "not_held"}) == \
        "held for a; did not hold for b"


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
    ({"power_alphas": [9.0]}, "power_alphas"),
])
def test_bad_parameters_fail_with_the_parameter_name(bad, name):
    with pytest.raises(ParameterError, match=name):
        SuperpositionParams.validated(bad)


def test_sparse_batch_dataclass_is_consistent():
    s = SparseBatch(torch.tensor([0, 1]), torch.tensor([2, 0]), torch.tensor([0.5, 1.5]), 2, 3)
    torch.testing.assert_close(s.dense(), torch.tensor([[0, 0, 0.5], [1.5, 0, 0]]))
