"""lib/one_third: the softmax head, its batched sweep, the aligned-ansatz theory, the fits."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lib.core.params import ParameterError
from lib.core.report import local_slopes
from lib.one_third.analysis import (
    collapse_r2,
    decay_shape,
    decay_table,
    every_lr_interval,
    exponent_map,
    exponential_evidence,
    fixed_effects_exponent,
    lr_spread,
    pooled_fit,
    regime_table,
    window_fit,
)
from lib.one_third.model import Head, kl_to_teacher, rmsnorm, teacher_weight
from lib.one_third.params import OneThirdParams
from lib.one_third.sweep import (
    Member,
    SweepConfig,
    SweepResult,
    grid_members,
    head_gradient,
    log_steps,
    sweep_memory_bytes,
    train_alone,
    train_chunk,
    train_sweep,
)
from lib.one_third.theory import AlignedAnsatz, c0, gaussian_logits, window_exponent
from tests.devices import on_devices, tol

SMALL = SweepConfig(n_embd=8, vocab_size=16, batch_size=64, steps=40, n_logs=8, test_batches=1)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: thread hand-offs would cost more than the work (and a lot more
    on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- model -------------------------------------------------------------------------------


def test_shapes_and_teacher_init():
    w = teacher_weight(3, n_embd=32, vocab_size=128)
    assert w.shape == (128, 32)
    assert w.abs().max() <= 1 / math.sqrt(32)
    assert torch.equal(w, teacher_weight(3, 32, 128))  # reproducible per seed
    assert not torch.equal(w, teacher_weight(4, 32, 128))
    head = Head(32, 128)
    x = torch.randn(10, 32)
    assert head(x, temperature=0.1).shape == (10, 128)
    assert torch.allclose(rmsnorm(x).pow(2).mean(-1), torch.ones(10), atol=1e-4)
    # logit std of the nn.Linear-init teacher is 1/sqrt(3): beta* = 1/(sqrt(3) T)
    xs = rmsnorm(torch.randn(20000, 32))
    assert (xs @ w.T).std().item() == pytest.approx(1 / math.sqrt(3), rel=0.1)


def test_kl_matches_torch_kl_div():
    t, s = torch.randn(2, 50, 7), torch.randn(2, 50, 7)
    ours = kl_to_teacher(t, s)
    assert ours.shape == (2,)
    for m in range(2):
        ref = F.kl_div(F.log_softmax(s[m], -1), F.log_softmax(t[m], -1), reduction="batchmean",
                       log_target=True)
        torch.testing.assert_close(ours[m], ref)


def test_head_gradient_equals_autograd_of_the_kl():
    """The sweep's analytic gradient (lib.one_third.sweep.head_gradient) is dL/dW of the one
    loss, kl_to_teacher, for members sharing a batch and teachers picked by ``local``."""
    M, G, B, V, d = 3, 2, 40, 11, 6
    g = torch.Generator().manual_seed(0)
    x = rmsnorm(torch.randn(B, d, generator=g, dtype=torch.float64))  # (B, d)
    w = torch.randn(M, V, d, generator=g, dtype=torch.float64, requires_grad=True)
    t_w = torch.randn(G, V, d, generator=g, dtype=torch.float64) * 5
    local = torch.tensor([0, 1, 0])
    t_logits = torch.einsum("bd,mvd->mbv", x, t_w[local])  # (M, B, V)
    s_logits = torch.einsum("bd,mvd->mbv", x, w)  # (M, B, V)
    kl_to_teacher(t_logits, s_logits).sum().backward()
    analytic = head_gradient(x, t_w, w.detach(), local)
    assert analytic.shape == (M, V, d)
    torch.testing.assert_close(analytic, w.grad, rtol=1e-10, atol=1e-12)


# ---- the batched sweep ---------------------------------------------------------------------


def test_log_steps():
    s = log_steps(2000, 40)
    assert s[0] == 1 and s[-1] == 2000 and np.all(np.diff(s) > 0)
    assert 25 <= s.size <= 40
    assert np.all(log_steps(10, 50) == np.arange(1, 11))


def _mixed_members(optimizer, lrs):
    return [Member(optimizer, lr, t, s) for lr, t, s in
            zip(lrs, [1e-2, 0.3, 1e-2, 1.0], [0, 0, 1, 2], strict=False)]


@on_devices
@pytest.mark.parametrize("optimizer,lrs", [("adam", [3e-3, 3e-2, 0.1, 0.3]),
                                           ("sgd", [0.3, 3.0, 10.0, 3.0])])
def test_sweep_member_equals_torch_optim_alone(optimizer, lrs, device):
    """Member k of the batched sweep (analytic gradient, batched optimiser, shared data and
    teachers) equals the same model trained alone with torch.optim and autograd."""
    members = _mixed_members(optimizer, lrs)
    result = train_chunk(members, SMALL, device)
    assert result.test_loss.shape == (4, len(SMALL.log_steps()))
    assert result.members == members  # caller's order is kept
    rtol = tol(device, 2e-4, 2e-3)
    for k, member in enumerate(members):
        alone = train_alone(member, SMALL, device)
        np.testing.assert_allclose(result.test_loss[k], alone.test_loss[0], rtol=rtol,
                                   atol=1e-7)
        np.testing.assert_allclose(result.student_beta[k], alone.student_beta[0], rtol=rtol)
        np.testing.assert_allclose(result.alignment[k], alone.alignment[0],
                                   rtol=tol(device, 1e-4, 1e-3), atol=1e-6)
    assert np.all(result.test_loss[:, -1] < result.test_loss[:, 0])  # it learns


def test_chunked_equals_unchunked():
    members = (grid_members("adam", [1e-2, 0.1], [1e-2, 1.0], [0, 1])
               + grid_members("sgd", [1.0], [1e-2, 1.0], [0]))
    whole = train_sweep(members, SMALL, chunk_members=100)
    for size in (1, 3):
        chunked = train_sweep(members, SMALL, chunk_members=size)
        assert chunked.members == members
        np.testing.assert_allclose(chunked.test_loss, whole.test_loss, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(chunked.alignment, whole.alignment, rtol=1e-5, atol=1e-9)


def test_divergence_is_per_member():
    """A member blown up by an absurd lr is flagged and does not touch its chunk-mates."""
    good = Member("sgd", 1.0, 0.05, 0)
    bad = Member("sgd", float("inf"), 0.05, 0)
    result = train_chunk([good, bad], SMALL)
    assert result.finite.tolist() == [True, False]
    np.testing.assert_allclose(result.test_loss[0], train_alone(good, SMALL).test_loss[0],
                               rtol=2e-4, atol=1e-7)


def test_sweep_rejects_mixed_optimisers_and_duplicates():
    with pytest.raises(ValueError, match="one optimiser"):
        train_chunk([Member("adam", 0.1, 1.0, 0), Member("sgd", 0.1, 1.0, 0)], SMALL)
    with pytest.raises(ValueError, match="distinct"):
        train_sweep([Member("adam", 0.1, 1.0, 0)] * 2, SMALL)


def test_memory_grows_linearly_with_members():
    cfg = SweepConfig()
    one = sweep_memory_bytes(1, cfg)
    per_model = 4 * cfg.vocab_size * cfg.n_embd * 4  # weights + Adam moments + gradient
    for m in (2, 16, 96):
        mem = sweep_memory_bytes(m, cfg)
        assert m * per_model <= mem <= m * one
    assert sweep_memory_bytes(16, cfg, n_groups=4, n_seeds=1) < sweep_memory_bytes(16, cfg)


# ---- theory --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ansatz():
    return AlignedAnsatz(gaussian_logits(2000, 128, seed=0), n_blocks=20)


def test_c0_value():
    assert c0(128) == pytest.approx(3.1152, abs=1e-4)
    assert c0(32000) == pytest.approx(4.5549, abs=1e-4)  # the paper's LLM vocabulary
    with pytest.raises(ValueError):
        c0(1)


def kl_direct(ansatz, betas, beta_star) -> np.ndarray:
    """``KL(softmax(β* z) ‖ softmax(β z))`` by the model's loss, block means ``(n_blocks, K)``
    (the check of the ansatz's closed form)."""
    z = ansatz.z.view(ansatz.n_blocks, -1, ansatz.vocab_size)  # (blocks, n/blocks, V)
    return np.stack([kl_to_teacher(beta_star * z, b * z).numpy() for b in betas], axis=1)


def test_ansatz_loss_zero_at_teacher_and_equals_kl(ansatz):
    betas = np.array([0.5, 3.0, 20.0, 80.0])
    loss = ansatz.loss_and_grad(betas, 100.0)[0]
    assert abs(ansatz.loss_and_grad([60.0], 60.0)[0].mean()) < 1e-10
    np.testing.assert_allclose(loss, kl_direct(ansatz, betas, 100.0), rtol=1e-9, atol=1e-10)
    assert np.all(np.diff(loss.mean(0)) < 0)  # L falls towards beta*


def test_ansatz_gradient_equals_finite_differences(ansatz):
    beta_s, h = 50.0, 1e-4
    for beta in (0.7, 4.0, 25.0):
        fd = (ansatz.loss_and_grad([beta + h], beta_s)[0]
              - ansatz.loss_and_grad([beta - h], beta_s)[0]) / (2 * h)
        np.testing.assert_allclose(ansatz.loss_and_grad([beta], beta_s)[1], fd, rtol=1e-5,
                                   atol=1e-9)
    u = ansatz.stats(np.array([0.0, 1.0, 10.0, 100.0]))[1].mean(0)
    assert np.all(np.diff(u) < 0)  # U falls with beta (dU/dbeta = -Var <= 0)
    assert u[0] == pytest.approx(0.0, abs=0.05)  # U(0) = -mean(z)
    # U(beta) -> -E[max z] (ground state) as beta -> infinity
    assert u[-1] == pytest.approx(-ansatz.z.max(1).values.mean().item(), rel=0.02)


def test_ansatz_exponents_near_paper_numerics(ansatz):
    """The paper's test-2 windows at beta* = 100 give slopes -1.15 and -2.26 (V = 128)."""
    betas = np.linspace(0, 1, 100)[1:] * 100
    ex = ansatz.beta_exponents(betas[:9], 100.0, n_boot=50)
    gx = ansatz.beta_exponents(betas[1:59], 100.0, n_boot=50)
    assert ex["loss"].estimate == pytest.approx(-1.15, abs=0.05)
    assert gx["grad"].estimate == pytest.approx(-2.26, abs=0.05)


def test_variance_rate_and_entropy(ansatz):
    betas = np.array([0.5, 2.0, 8.0])
    h = 1e-4
    du = (ansatz.stats(betas + h)[1] - ansatz.stats(betas - h)[1]) / (2 * h)
    np.testing.assert_allclose(ansatz.energy_variance(betas), -du, rtol=1e-5)
    # near beta = 0 the softmax is uniform: Var ~ 1 and the SGD rate is 2/V
    assert ansatz.decay_rate(1e-6) == pytest.approx(2 / 128, rel=0.02)
    s = ansatz.entropy(np.array([0.0, 1.0, 5.0])).mean(0)
    assert s[0] == pytest.approx(math.log(128)) and s[1] > s[2]
    target = float(ansatz.entropy([3.0]).mean())
    assert ansatz.beta_at_entropy(target) == pytest.approx(3.0, abs=1e-4)


def test_sgd_trajectory_is_monotone_and_near_one_third(ansatz):
    tr = ansatz.trajectory(577.0)
    assert np.all(np.diff(tr.tau) > 0) and np.all(np.diff(tr.loss) < 0)
    assert np.all(np.diff(tr.beta) > 0) and tr.beta[-1] < 577.0
    alpha = window_exponent(tr.tau, tr.loss, (1e4, 1e5))
    assert 0.3 < alpha < 0.42
    # small beta* reads steeper in the same window (the finite-beta* correction)
    small = ansatz.trajectory(40.0)
    assert window_exponent(small.tau, small.loss, (1e4, 1e5)) > alpha + 0.05


# ---- fits ----------------------------------------------------------------------------------


def _synthetic(alpha=1 / 3, n_seeds=4, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    tau = np.geomspace(1, 1e4, 40)
    return tau, 2.0 * tau ** -alpha * np.exp(noise * rng.standard_normal((n_seeds, tau.size)))


def test_window_fit_recovers_known_exponent():
    tau, losses = _synthetic(0.4)
    fit = window_fit(tau, losses, (10, 1e4))
    assert fit.estimate == pytest.approx(0.4, abs=0.01)
    assert fit.ci_low <= 0.4 <= fit.ci_high and fit.r2 > 0.99 and fit.n_seeds == 4
    assert "Student t over 4" in fit.ci_method and len(fit.per_seed) == 4
    assert fit.estimate == pytest.approx(np.mean(fit.per_seed))  # mean of per-seed slopes
    iv = fit.interval()
    assert iv.ci_low == fit.ci_low and iv.n_seeds == 4
    assert math.isnan(window_fit(tau, losses, (1e5, 1e6)).estimate)  # empty window
    one = window_fit(tau, losses[:1], (10, 1e4))  # one seed: OLS slope s.e.
    assert one.ci_low < one.ci_high and "one seed" in one.ci_method


def test_fixed_effects_exponent_ignores_prefactors():
    tau = np.geomspace(1, 100, 20)
    curves = [(tau * s, c * (tau * s) ** -0.33) for s, c in ((1, 1.0), (10, 3.0), (0.1, 0.2))]
    est, r2 = fixed_effects_exponent(curves)
    assert est == pytest.approx(0.33, abs=1e-9) and r2 == pytest.approx(1.0)


def test_decay_shape_tells_exponential_from_power_law():
    tau = np.geomspace(1, 1e3, 40)
    expo = decay_shape(tau, 0.2 * np.exp(-tau / 30), loss_floor=1e-12)
    power = decay_shape(tau, tau ** (-1 / 3), loss_floor=1e-12)
    assert expo["r2_exponential"] > expo["r2_power"] and expo["reached_floor"]
    assert power["r2_power"] > power["r2_exponential"] and not power["reached_floor"]
    assert power["power_exponent"] == pytest.approx(1 / 3)
    assert expo["last_local_exponent"] > 5


def test_exponential_evidence_from_measured_decay():
    from lib.core.claims import judge

    steps = np.geomspace(1, 1000, 25).round()
    members = [Member("sgd", 1.0, 1.0, s) for s in range(3)]
    rng = np.random.default_rng(0)

    def table(curve):
        loss = np.array([curve(steps) * np.exp(0.05 * rng.standard_normal(steps.size))
                         for _ in members])
        ones = np.ones_like(loss)
        return decay_table(SweepResult(members, steps, loss, ones, ones, np.ones(3)), 1e-9)

    def verdict(tab):
        iv, premise, info = exponential_evidence(tab)
        assert info["n_runs"] == 3 and iv.n_seeds == 3
        return judge(iv.estimate, iv.ci_low, iv.ci_high, 0.0, side="above",
                     premises=[premise])[0], iv

    v, iv = verdict(table(lambda t: np.exp(-t / 20)))
    assert v == "held" and iv.ci_low > 0 and "Student t over 3 seeds" in iv.method
    assert verdict(table(lambda t: t ** (-1 / 3)))[0] == "not_reached"  # < 2 decades
    v, iv = verdict(table(lambda t: t ** -2.0))
    assert v == "not_held" and iv.ci_high < 0


def test_collapse_r2_and_local_slopes():
    tau = np.geomspace(1, 1e3, 30)
    curve = tau ** (-1 / 3)
    lrs = (0.1, 1.0, 10.0)
    in_tau = collapse_r2([(lr * tau, (lr * tau) ** (-1 / 3) * (1 + 0.1 / (lr * tau)))
                          for lr in lrs])
    in_steps = collapse_r2([(tau, (lr * tau) ** (-1 / 3) * (1 + 0.1 / (lr * tau)))
                            for lr in lrs])
    assert in_tau > 0.999 > in_steps
    x, s = local_slopes(tau, curve, span=4)
    np.testing.assert_allclose(s, 1 / 3)
    assert x.size == tau.size - 4
    loss_mid, s = local_slopes(tau, curve, span=2, at="y")
    np.testing.assert_allclose(s, 1 / 3)
    assert np.all(np.diff(loss_mid) < 0)


def test_exponent_map_and_pooled_fit_on_synthetic_result():
    steps = np.geomspace(1, 1000, 20).round()
    members, rows = [], []
    for lr in (0.1, 1.0):
        for temp in (1e-3, 1.0):
            for seed in range(3):
                members.append(Member("sgd", lr, temp, seed))
                tau = lr * steps
                rows.append(tau ** -0.35 if temp < 0.1 else np.exp(-tau) + 1e-16)
    loss = np.array(rows) * (1 + 0.01 * np.random.default_rng(0).random((12, 20)))
    res = SweepResult(members, steps, loss, np.ones_like(loss), np.ones_like(loss), np.ones(12))
    table = exponent_map(res, "sgd", decades=2, loss_floor=1e-9)
    assert len(table) == 4
    cold = table[table.temperature < 0.1]
    np.testing.assert_allclose(cold.exponent, 0.35, atol=0.02)
    assert table[table.temperature > 0.1].converged.all() and not cold.converged.any()
    pooled = pooled_fit(res, "sgd", [0.1, 1.0], 1e-3, (1, 100))
    assert pooled.estimate == pytest.approx(0.35, abs=0.02) and pooled.n_seeds == 3
    assert pooled.ci_low < 0.35 < pooled.ci_high and len(pooled.per_seed) == 3

    import matplotlib

    matplotlib.use("Agg")
    from lib.one_third.plots import exponent_heatmap

    fig, ax = matplotlib.pyplot.subplots()
    exponent_heatmap(ax, table)
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts.count("exp") == 2 and "0.35" in texts
    matplotlib.pyplot.close(fig)


def _lr_result(alphas, n_seeds=3, beta=5.0, noise=0.01, diverge=None):
    """A synthetic SGD sweep at one temperature: lr -> exponent, β constant, seeds noisy."""
    steps = np.geomspace(1, 1000, 30).round()
    rng = np.random.default_rng(1)
    members, loss = [], []
    for lr, alpha in alphas.items():
        for seed in range(n_seeds):
            members.append(Member("sgd", lr, 1e-3, seed))
            curve = (lr * steps) ** -alpha * np.exp(noise * rng.standard_normal(steps.size))
            if diverge == (lr, seed):
                curve = curve * np.nan
            loss.append(curve)
    loss = np.array(loss)
    beta = np.full_like(loss, beta)
    return SweepResult(members, steps, loss, beta, np.ones_like(loss), np.ones(len(members)))


def test_regime_table_applies_one_rule_to_every_lr():
    res = _lr_result({0.01: 0.5, 1.0: 0.34, 10.0: 0.33}, diverge=(10.0, 1))
    tab = regime_table(res, "sgd", 1e-3, (20.0, 100.0), c0=3.0)
    by_lr = tab.set_index("lr")
    assert not by_lr.loc[0.01, "passes"] and "point" in by_lr.loc[0.01, "fails"]  # τ ≤ 10
    assert by_lr.loc[1.0, "passes"] and by_lr.loc[1.0, "exponent"] == pytest.approx(0.34, abs=0.01)
    assert not by_lr.loc[10.0, "passes"] and "diverged" in by_lr.loc[10.0, "fails"]
    cold = regime_table(_lr_result({1.0: 0.34}, beta=2.0), "sgd", 1e-3, (20.0, 100.0), c0=3.0)
    assert not cold.passes.any() and "c0" in cold.fails.iloc[0]


def test_every_lr_interval_is_an_intersection_union_test():
    from lib.core.claims import Tolerance, judge

    tol = Tolerance.rel(0.15)

    def verdict(alphas, noise=0.003):
        tab = regime_table(_lr_result(alphas, noise=noise), "sgd", 1e-3, (20.0, 100.0), c0=1.0)
        comp = every_lr_interval(tab, 1 / 3, tol)
        return judge(comp.estimate, comp.ci_low, comp.ci_high, 1 / 3, tol)[0], comp

    v, comp = verdict({1.0: 0.33, 3.0: 0.34, 10.0: 0.335})
    assert v == "held" and comp.decided_by.startswith("all 3")
    v, comp = verdict({1.0: 0.33, 3.0: 0.48, 10.0: 0.335})  # one lr far off: not held
    assert v == "not_held" and comp.estimate == pytest.approx(0.48, abs=0.01)
    assert "lr = 3" in comp.decided_by
    v, _ = verdict({1.0: 0.33, 3.0: 0.375})  # one lr straddles the band edge 0.383
    assert v in ("partly", "held")
    with pytest.raises(ValueError, match="no learning rate"):
        every_lr_interval(regime_table(_lr_result({0.01: 0.3}), "sgd", 1e-3, (20.0, 100.0),
                                       c0=1.0), 1 / 3, tol)


def test_lr_spread_is_one_for_lr_independent_exponents():
    from lib.core.claims import Tolerance, judge

    tol = Tolerance.rel(0.15)
    same = regime_table(_lr_result({1.0: 0.33, 10.0: 0.33}, noise=0.003), "sgd", 1e-3,
                        (20.0, 100.0), c0=1.0)
    iv = lr_spread(same)
    assert iv.estimate == pytest.approx(1.0, abs=0.03) and iv.n_seeds == 3
    assert judge(iv.estimate, iv.ci_low, iv.ci_high, 1.0, tol)[0] == "held"
    apart = regime_table(_lr_result({1.0: 0.22, 10.0: 0.48}, noise=0.003), "sgd", 1e-3,
                         (20.0, 100.0), c0=1.0)
    iv = lr_spread(apart)
    assert iv.estimate == pytest.approx(0.48 / 0.22, rel=0.05)
    assert judge(iv.estimate, iv.ci_low, iv.ci_high, 1.0, tol)[0] == "not_held"
    with pytest.raises(ValueError, match="≥ 2"):
        lr_spread(same[same.lr == 1.0])


# ---- parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad,name", [
    ({"adam_lrs": [0.1, -1.0]}, "adam_lrs[1]"),
    ({"sgd_lrs": [0.0]}, "sgd_lrs[0]"),
    ({"temperatures": [1e-3, 0.0]}, "temperatures[1]"),
    ({"temperatures": [-1.0]}, "temperatures[0]"),
    ({"adam_fit_lrs": [0.5]}, "adam_fit_lrs"),
    ({"sgd_window": [100.0, 10.0]}, "sgd_window"),
    ({"steps": 20, "n_logs": 40}, "n_logs"),
    ({"n_seeds": 0}, "n_seeds"),
])
def test_parameter_errors_name_the_parameter(bad, name):
    with pytest.raises(ParameterError, match=f"parameter '{name}'".replace("[", r"\[")
                       .replace("]", r"\]")):
        OneThirdParams.validated(bad)


def test_default_parameters_validate():
    p = OneThirdParams.validated({})
    assert p.seeds == [0, 1, 2] and p.grid_lr("sgd", 10.0) == 10.0


def test_schematic_draws_the_teacher_student_head():
    import matplotlib.pyplot as plt

    from lib.one_third.schematic import draw_schematic
    from tests.figures import checked_schematic

    fig, texts = checked_schematic(draw_schematic)
    for part in ("teacher logits", "student logits", "KL", "softmax"):
        assert part in texts, part
    bars = [ax for ax in fig.axes if ax.patches and ax is not fig.axes[0]]
    assert len(bars) == 2  # the two softmaxes: the teacher's peaked, the student's flatter
    tallest = [max(p.get_height() for p in ax.patches) for ax in bars]
    assert tallest[0] > tallest[1]
    plt.close(fig)


def test_guides_follow_the_claimed_power_law():
    import matplotlib

    matplotlib.use("Agg")
    from lib.one_third.plots import guide_above, offset_guide

    x = np.geomspace(1, 1000, 30)
    fig, ax = matplotlib.pyplot.subplots()
    guide_above(ax, 1 / 3, (10, 100), [(x, 2 * x ** -0.5), (x, x ** -0.5)], lift=2.0)
    (line,) = ax.lines
    gx, gy = line.get_data()
    assert gx[0] == pytest.approx(10) and gx[-1] == pytest.approx(100)
    assert gy[0] == pytest.approx(2 * 2 * 10 ** -0.5)  # lift × the higher curve at the start
    assert np.log(gy[-1] / gy[0]) / np.log(10) == pytest.approx(-1 / 3)
    guide_above(ax, 1 / 3, (2000, 5000), [(x, x ** -0.5)])  # no curve reaches the window
    assert len(ax.lines) == 1

    y = 2.0 + 3.0 * x ** (-1 / 3)
    offset_guide(ax, 1 / 3, x, y)
    gx, gy = ax.lines[-1].get_data()
    assert np.allclose(gy, 2.0 + 3.0 * gx ** (-1 / 3))  # recovers L0 and c from the two ends
    matplotlib.pyplot.close(fig)
