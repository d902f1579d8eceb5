"""lib/es: the quadratic model's closed forms, its Monte Carlo, the ES update, the geometry of
perturbations, the digits network and its curvature."""

import functools
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from lib.core.params import ParameterError
from lib.es import experiments as ex
from lib.es import geometry, quadratic
from lib.es.curvature import (
    dense_curvature,
    hvp,
    participation_ratio,
    squared_curvature_trace,
    top_eigenvalues,
)
from lib.es.estimator import (
    Member,
    expected_zscore_norm,
    naive_gradient,
    train_chunk,
    train_sweep,
    zscore,
)
from lib.es.network import (
    MLP,
    expected_accuracy,
    load_digits_task,
    population_memory_bytes,
    pretrain,
    reward_fn,
    shift_images,
)
from lib.es.params import EsCurvatureParams
from tests.devices import on_devices, tol

ONE_MODE = quadratic.Spectrum((1.0,), (1.0,), (1,))
TOY = quadratic.Spectrum.two_block(16, 1.0, 1.0, 112, 0.05, 0.0)


# ---- the quadratic model: closed forms ------------------------------------------------------


def test_exact_curve_at_a_hand_computed_point():
    # one mode, λ = 1, x0 = 1, α = 0.1, σ = 1, N = 10: a = 0.9, b² = 1e-3.
    # t = 2: mean a² = 0.81, var b²(1 + a²) = 1.81e-3, E[J] = 1 − ½(0.6561 + 0.00181)
    curve = quadratic.expected_reward(ONE_MODE, 0.1, 1.0, 10, 2)
    assert curve[0] == pytest.approx(0.5)
    assert curve[2] == pytest.approx(1 - 0.5 * (0.6561 + 0.00181), abs=1e-12)
    mean, var = quadratic.mode_moments(ONE_MODE, 0.1, 1.0, 10, 2)
    assert mean[:, 0] == pytest.approx([1.0, 0.9, 0.81])
    assert var[:, 0] == pytest.approx([0.0, 1e-3, 1.81e-3])


def test_counts_weight_modes_like_repeated_modes():
    blocks = quadratic.Spectrum((1.0, 0.05), (0.5, 0.1), (3, 2))
    flat = quadratic.Spectrum((1.0,) * 3 + (0.05,) * 2, (0.5,) * 3 + (0.1,) * 2, (1,) * 5)
    np.testing.assert_allclose(quadratic.expected_reward(blocks, 0.1, 1.0, 7, 50),
                               quadratic.expected_reward(flat, 0.1, 1.0, 7, 50))


def test_stationary_variance_and_plateau_formula():
    lam = np.array([1.0, 0.05])
    v = quadratic.stationary_variance(lam, 0.1, 1.0, 10)
    a, b2 = 1 - 0.1 * lam, (0.1 / math.sqrt(10)) ** 2
    np.testing.assert_allclose(v, b2 / (1 - a**2))  # the AR(1) stationary variance
    gap = quadratic.plateau_gap(TOY, 0.1, 1.0, 10)
    assert gap == pytest.approx(0.5 * (16 * 1.0 * v[0] + 112 * 0.05 * v[1]))
    assert gap == pytest.approx(0.005 * (16 / 1.9 + 112 / 1.995))
    curve = quadratic.expected_reward(TOY, 0.1, 1.0, 10, 5000)
    assert curve[-1] == pytest.approx(1 - gap, abs=1e-9)
    assert quadratic.plateau_gap(TOY, 0.1, 1.0, 40) == pytest.approx(gap / 4)  # ∝ 1/N


def test_unrelaxed_fraction_of_the_slowest_mode():
    spec = quadratic.Spectrum.two_block(16, 1.0, 1.0, 112, 0.05, 0.0)
    assert quadratic.unrelaxed_fraction(spec, 0.1, 300) == pytest.approx(0.995 ** 600)
    assert quadratic.unrelaxed_fraction(spec, 0.1, 1000) < 0.01 < \
        quadratic.unrelaxed_fraction(spec, 0.1, 150)


def test_decay_terms_and_t_peak():
    amp, gamma = quadratic.decay_terms(TOY, 0.1, 1.0, 10)
    t = np.arange(200)
    curve = quadratic.expected_reward(TOY, 0.1, 1.0, 10, 199)
    j_inf = 1 - quadratic.plateau_gap(TOY, 0.1, 1.0, 10)
    np.testing.assert_allclose(curve - j_inf, (amp[None] * np.exp(-gamma[None] * t[:, None]))
                               .sum(1), atol=1e-10)
    t_peak = quadratic.t_peak_two_block(TOY, 0.1, 1.0, 10)
    fine = np.linspace(0, 200, 200_001)
    cont = (amp[None] * np.exp(-gamma[None] * fine[:, None])).sum(1)
    assert t_peak == pytest.approx(fine[np.argmax(cont)], abs=1e-3)
    assert t_peak == pytest.approx(31.84, abs=0.01)  # the configuration checked in papers.md
    no_peak = quadratic.Spectrum.two_block(16, 1.0, 0.0, 112, 0.05, 1.0)  # stiff start at rest
    assert math.isnan(quadratic.t_peak_two_block(no_peak, 0.1, 1.0, 10))


def test_unstable_step_is_rejected():
    with pytest.raises(ValueError, match="diverges"):
        quadratic.check_stable(TOY, 2.5)


# ---- the quadratic model: Monte Carlo ------------------------------------------------------


def test_monte_carlo_mean_within_its_standard_error_of_the_exact_curve():
    spec = quadratic.Spectrum.two_block(4, 1.0, 1.0, 12, 0.05, 0.0)
    gen = torch.Generator().manual_seed(0)
    rewards = quadratic.simulate(spec, 0.1, 1.0, torch.full((4000,), 10), 60, gen).numpy()
    exact = quadratic.expected_reward(spec, 0.1, 1.0, 10, 60)
    mean, sem = rewards.mean(0), rewards.std(0, ddof=1) / np.sqrt(len(rewards))
    z = (mean[1:] - exact[1:]) / sem[1:]
    assert np.abs(z).max() < 4.5
    assert (np.abs(z) < 2).mean() > 0.8
    assert rewards[:, 0] == pytest.approx(spec.initial_reward())


def test_monte_carlo_plateau_matches_eq19():
    spec = quadratic.Spectrum.two_block(4, 1.0, 1.0, 12, 0.2, 0.0)
    mc = ex.monte_carlo_sweep(spec, 0.1, 1.0, [5, 20], 200, 600, 200, seed=1,
                              device=torch.device("cpu"), chunk_members=150)
    for i, n in enumerate([5, 20]):
        gap = 1 - mc.plateau[i]
        predicted = quadratic.plateau_gap(spec, 0.1, 1.0, n)
        assert abs(gap.mean() - predicted) < 4 * gap.std(ddof=1) / np.sqrt(len(gap))


def test_monte_carlo_chunks_give_the_same_statistics():
    spec = quadratic.Spectrum.two_block(2, 1.0, 1.0, 3, 0.05, 0.0)
    kwargs = dict(spec=spec, alpha=0.1, sigma=1.0, pop_sizes=[4, 8], replicates=6, steps=10,
                  plateau_from=5, seed=0, device=torch.device("cpu"))
    one = ex.monte_carlo_sweep(**kwargs, chunk_members=1000)
    again = ex.monte_carlo_sweep(**kwargs, chunk_members=1000)
    np.testing.assert_array_equal(one.mean, again.mean)  # reproducible
    assert one.mean.shape == (2, 11) and one.early.shape == (2, 6, 11)
    assert one.plateau.shape == (2, 6)


# ---- the ES update --------------------------------------------------------------------------


def test_zscore_masks_padding():
    r = torch.tensor([[1.0, 2.0, 3.0, 99.0], [4.0, 4.0, 5.0, 5.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    z = zscore(r, mask)
    sd = math.sqrt(2 / 3)
    assert torch.allclose(z[0], torch.tensor([-1 / sd, 0.0, 1 / sd, 0.0]), atol=1e-6)
    assert torch.allclose(z[1], torch.tensor([-1.0, -1.0, 1.0, 1.0]), atol=1e-6)


def test_expected_zscore_norm():
    assert expected_zscore_norm(2) == pytest.approx(1 / math.sqrt(math.pi))
    draws = torch.randn(200_000, 7, generator=torch.Generator().manual_seed(0))
    assert expected_zscore_norm(7) == pytest.approx(draws.std(1, unbiased=False).mean().item(),
                                                    abs=2e-3)


def test_es_step_on_a_2d_quadratic_has_the_known_expectation():
    # R(θ) = −½ θᵀHθ at θ = (1, −2): ∇R = −Hθ. With σ → 0 the z-scored step has expectation
    # α E[s_N] ∇R/‖∇R‖ (the z-score removes the gradient's length). One iteration of many runs.
    h = torch.tensor([2.0, 0.5], dtype=torch.float64)
    theta = torch.tensor([1.0, -2.0], dtype=torch.float64)
    grad = -h * theta
    reward = quadratic.quadratic_reward(h, j_star=0.0)
    runs = [Member(5, s) for s in range(6000)]
    res = train_chunk(reward, theta, runs, alpha=0.1, sigma=1e-5, iters=1)
    steps = (res.theta - theta) / 0.1  # (R, 2)
    expected = expected_zscore_norm(5) * grad / grad.norm()
    sem = steps.std(0) / math.sqrt(len(runs))
    assert torch.all((steps.mean(0) - expected).abs() < 4 * sem)
    # the paper's naive estimator (raw rewards, 1/σ) is unbiased for ∇R on a quadratic
    gen = torch.Generator().manual_seed(1)
    eps = torch.randn(20_000, 8, 2, generator=gen, dtype=torch.float64)
    sigma = 0.3
    r = reward(theta + sigma * eps.reshape(-1, 2)).reshape(20_000, 8)
    g_hat = naive_gradient(r, eps, sigma)  # (R, 2)
    sem = g_hat.std(0) / math.sqrt(len(g_hat))
    assert torch.all((g_hat.mean(0) - grad).abs() < 4 * sem)


@functools.lru_cache(maxsize=1)
def _small_task():
    task = load_digits_task(seed=0, n_pretrain=300, n_reward=40, shift_pixels=1)
    mlp = MLP(6)
    return task, mlp, pretrain(mlp, task, steps=30, lr=0.02, seed=0)


@on_devices
def test_padded_run_equals_the_run_alone(device):
    """Runs of different population sizes in one padded program equal each run alone (the
    padded positions are skipped by index, not by a boolean mask)."""
    task, mlp, theta0 = _small_task()
    task, theta0 = task.to(device, torch.float64), theta0.to(device, torch.float64)  # fp64
    f = reward_fn(mlp, task.x_reward, task.y_reward)
    together = train_chunk(f, theta0, [Member(5, 11), Member(12, 12)], 0.2, 0.05, 8, log_every=2)
    alone = train_chunk(f, theta0, [Member(5, 11)], 0.2, 0.05, 8, log_every=2)
    rtol = tol(device, 1e-10, 1e-8)  # CUDA sums in other orders
    torch.testing.assert_close(together.theta[0], alone.theta[0], rtol=rtol, atol=1e-12)
    torch.testing.assert_close(together.logs["reward"][0], alone.logs["reward"][0], rtol=rtol,
                               atol=1e-12)
    assert together.logs["reward"].shape == (2, 5)  # iterations 0, 2, 4, 6, 8
    # chunking keeps the order of the runs and their results
    runs = [Member(12, 12), Member(5, 11), Member(7, 13)]
    chunked = train_sweep(f, theta0, runs, 0.2, 0.05, 8, 2, nets_per_chunk=8)
    whole = train_chunk(f, theta0, runs, 0.2, 0.05, 8, 2)
    torch.testing.assert_close(chunked.theta, whole.theta, rtol=1e-10, atol=1e-12)


def test_es_improves_the_shifted_reward():
    task, mlp, theta0 = _small_task()
    f = reward_fn(mlp, task.x_reward, task.y_reward)
    res = train_chunk(f, theta0, [Member(20, 0)], alpha=0.3, sigma=0.05, iters=40, log_every=40)
    start, end = res.logs["reward"][0]
    assert end > start + 0.05


# ---- geometry -------------------------------------------------------------------------------


def test_best_of_n_equals_the_average_over_all_subsets():
    pool = torch.tensor([[0.3, -1.0, 2.0, 0.1, -0.4, 1.2]], dtype=torch.float64)
    best = geometry.best_of_n(pool, 4)[0]
    for n in range(1, 5):
        brute = np.mean([max(c) for c in itertools.combinations(pool[0].tolist(), n)])
        assert best[n - 1].item() == pytest.approx(brute)


def test_gaussian_expected_max_and_saturation():
    curve = geometry.gaussian_expected_max(50)
    assert curve[0] == pytest.approx(0.0, abs=1e-6)
    assert curve[1] == pytest.approx(1 / math.sqrt(math.pi), abs=1e-6)
    n_sat = geometry.saturation_n(curve, 0.9, 50)
    assert 20 < n_sat < 40 and curve[int(n_sat)] >= 0.9 * curve[49] >= curve[int(n_sat) - 2]
    assert math.isnan(geometry.saturation_n(-np.ones(50), 0.9, 50))


@pytest.mark.parametrize("kind", ["low_rank", "isotropic"])
def test_sufficient_statistics_and_materialised_noise_agree(kind):
    land = geometry.Landscape(kind, 400, 10, 1.0, 0.5)
    stat = geometry.sample_delta_r(land, 0.1, 4000, torch.Generator().manual_seed(0))
    full = geometry.sample_delta_r(land, 0.1, 4000, torch.Generator().manual_seed(1),
                                   materialise=True, max_elements=100_000)
    assert stats.ks_2samp(stat.numpy(), full.numpy()).pvalue > 1e-3
    # mean ΔR = −½σ² tr H = −½ σ² k λ for both (same trace)
    assert stat.mean().item() == pytest.approx(-0.05, abs=0.005)


def test_low_rank_law_does_not_depend_on_dimension():
    draws = [geometry.sample_delta_r(geometry.Landscape("low_rank", d, 10, 1.0, 0.5), 0.1, 500,
                                     torch.Generator().manual_seed(3)) for d in (10, 10**6)]
    torch.testing.assert_close(draws[0], draws[1])  # the same draws: only Uᵀε enters
    iso = [geometry.sample_delta_r(geometry.Landscape("isotropic", d, 10, 1.0, 0.5), 0.1, 4000,
                                   torch.Generator().manual_seed(4)) for d in (100, 10**5)]
    assert (iso[1] > 0).double().mean() < (iso[0] > 0).double().mean()


def test_geometry_sweep_tables():
    curves, pools = ex.geometry_sweep([20, 200], 5, 1.0, 0.5, 0.1, 30, 3, 10, 20, 0,
                                      torch.device("cpu"))
    assert len(curves) == 2 * 2 * 3 * 10 and len(pools) == 2 * 2 * 3
    assert set(pools.materialised) == {True, False}
    slope = ex.slope_interval(curves, "low_rank", 10)
    assert np.isfinite(slope.estimate) and slope.n_seeds == 3
    assert slope.ci_low < slope.estimate < slope.ci_high


def test_flat_in_dim_interval_is_a_t_interval_over_per_replicate_slopes():
    dims = np.array([10.0, 100.0, 1000.0])
    rows = np.array([[0.5, 0.4, 0.3], [0.6, 0.5, 0.4], [0.55, 0.42, 0.31]])
    iv = ex.flat_in_dim_interval(dims, rows)
    per_row = [np.polyfit(np.log10(dims), r, 1)[0] for r in rows]
    assert iv.estimate == pytest.approx(np.mean(per_row))
    assert iv.n_seeds == 3 and iv.ci_low < iv.estimate < iv.ci_high
    with pytest.raises(ValueError):
        ex.flat_in_dim_interval(dims[:1], rows[:, :1])


def test_t_peak_interval_over_batches_finds_a_known_peak():
    t = np.arange(200)
    covered, estimates = 0, []
    for seed in range(60):  # coverage of the nominal-95 % interval over noisy replicates
        rng = np.random.default_rng(seed)
        curves = -((t - 60.0) / 40) ** 2 + 0.05 * rng.standard_normal((40, 200))
        iv = ex.t_peak_interval(curves, 8)
        assert iv.n_seeds == 8
        covered += iv.ci_low <= 60 <= iv.ci_high
        estimates.append(iv.estimate)
    assert covered / 60 >= 0.85 and abs(np.mean(estimates) - 60) < 1
    with pytest.raises(ValueError):
        ex.t_peak_interval(curves, 1)


# ---- the digits network and its curvature ---------------------------------------------------


def test_network_shapes_and_reference_forward():
    mlp = MLP(5)
    theta = mlp.init(torch.Generator().manual_seed(0))
    assert theta.shape == (mlp.n_params,) == (64 * 5 + 5 + 5 * 10 + 10,)
    x = torch.rand(7, 64)
    batch = torch.stack([theta, 2 * theta])  # (2, D)
    logits = mlp.logits(batch, x)
    assert logits.shape == (2, 7, 10)
    w1, b1, w2, b2 = (t[1] for t in mlp.unflatten(batch))
    ref = torch.tanh(x @ w1 + b1) @ w2 + b2
    torch.testing.assert_close(logits[1], ref, rtol=1e-5, atol=1e-5)
    y = torch.randint(0, 10, (7,))
    r = expected_accuracy(mlp, batch, x, y)
    probs = torch.softmax(ref, -1)[torch.arange(7), y].mean()
    assert r.shape == (2,) and r[1].item() == pytest.approx(probs.item(), rel=1e-5)


def test_digits_task_and_shift():
    img = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 8, 8)
    out = shift_images(img, 2)
    assert torch.all(out[:, :, :2] == 0) and torch.equal(out[:, :, 2:], img[:, :, :6])
    task = load_digits_task(seed=0, n_pretrain=1000, n_reward=100, shift_pixels=1)
    assert task.x_pretrain.shape == (1000, 64) and task.x_reward.shape == (100, 64)
    assert task.x_test.shape == (697, 64)
    assert 0 <= task.x_pretrain.min() and task.x_pretrain.max() <= 1
    assert torch.all(task.x_reward.reshape(-1, 8, 8)[:, :, 0] == 0)  # first column blanked
    with pytest.raises(ValueError):
        load_digits_task(seed=0, n_pretrain=1700, n_reward=200, shift_pixels=1)


def _curvature_setup():
    task = load_digits_task(seed=0, n_pretrain=200, n_reward=30, shift_pixels=1)
    mlp = MLP(3)
    theta = pretrain(mlp, task, steps=20, lr=0.05, seed=0).double()
    x, y = task.x_reward.double(), task.y_reward

    def f(t):
        return expected_accuracy(mlp, t[None], x, y)[0]

    return f, theta


def test_hvp_matches_finite_differences_of_the_gradient():
    f, theta = _curvature_setup()
    v = torch.randn(theta.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    h = 1e-5

    def grad(t):
        t = t.clone().requires_grad_(True)
        return torch.autograd.grad(f(t), t)[0]

    fd = (grad(theta + h * v) - grad(theta - h * v)) / (2 * h)
    torch.testing.assert_close(hvp(f, theta, v), fd, rtol=1e-5, atol=1e-8)


def test_lanczos_and_hutchinson_match_the_dense_curvature():
    f, theta = _curvature_setup()
    dense = dense_curvature(f, theta)
    eigs = torch.linalg.eigvalsh(dense).numpy()
    top = eigs[np.argsort(-np.abs(eigs))][:5]
    np.testing.assert_allclose(top_eigenvalues(f, theta, 5), top, rtol=1e-5, atol=1e-9)
    tr2, se = squared_curvature_trace(f, theta, 200, torch.Generator().manual_seed(0))
    exact = float((dense**2).sum())
    assert abs(tr2 - exact) < 4 * se + 1e-12
    assert participation_ratio(np.array([1.0, 1.0, 0.0])) == pytest.approx(2.0)


# ---- memory, criteria, parameters ------------------------------------------------------------


def test_memory_grows_linearly_in_members():
    mlp = MLP(32)
    one, ten = (population_memory_bytes(mlp, n, 100) for n in (1, 10))
    assert ten == 10 * one
    assert one >= 4 * 2 * mlp.n_params
    assert quadratic.simulate_memory_bytes(20, 128, 100) <= 20 * quadratic.simulate_memory_bytes(
        1, 128, 100)


def test_decay_interval_mean_equals_the_decay_statistic_and_separates_cases():
    t = np.linspace(0, 1, 100)
    rng = np.random.default_rng(1)
    rise_decay = np.stack([1 - np.exp(-20 * t) - 0.3 * t + 0.01 * rng.standard_normal(100)
                           for _ in range(4)])
    rising = np.stack([1 - np.exp(-5 * t) + 0.01 * rng.standard_normal(100) for _ in range(4)])
    iv = ex.decay_interval(rise_decay)
    assert iv.estimate == pytest.approx(ex.decay_statistic(rise_decay))
    assert iv.ci_low > 0.1
    flat = ex.decay_interval(rising)
    assert flat.estimate == pytest.approx(ex.decay_statistic(rising))
    assert flat.ci_high < 0.02


def test_label_noise_flips_a_fixed_fraction_of_reward_labels_only():
    clean = load_digits_task(seed=0, n_pretrain=200, n_reward=50, shift_pixels=1)
    noisy = load_digits_task(seed=0, n_pretrain=200, n_reward=50, shift_pixels=1,
                             label_noise=0.2)
    assert int(noisy.flipped.sum()) == 10 and int(clean.flipped.sum()) == 0
    changed = noisy.y_reward != clean.y_reward
    assert torch.equal(changed, noisy.flipped)  # every flipped label is another class
    assert torch.equal(noisy.y_test, clean.y_test) and torch.equal(noisy.x_reward, clean.x_reward)
    again = load_digits_task(seed=0, n_pretrain=200, n_reward=50, shift_pixels=1,
                             label_noise=0.2)
    assert torch.equal(again.y_reward, noisy.y_reward)  # seeded
    assert noisy.to("cpu").flipped is not None
    with pytest.raises(ValueError, match="label_noise"):
        load_digits_task(seed=0, n_pretrain=200, n_reward=50, shift_pixels=1, label_noise=1.0)


def test_decay_statistic_separates_decay_from_a_plateau():
    t = np.linspace(0, 1, 100)
    rise_decay = np.stack([1 - np.exp(-20 * t) - 0.3 * t for _ in range(3)])
    plateau = np.stack([1 - np.exp(-20 * t) for _ in range(3)])
    assert ex.decay_statistic(rise_decay) > 0.1
    assert ex.decay_statistic(plateau) < 0.01
    assert 0 < ex.peak_position(rise_decay) < 40


def test_parameters_validate_and_reject_bad_input():
    params = EsCurvatureParams()
    assert params.ref_pop in params.pop_sizes
    with pytest.raises(ParameterError, match="ref_pop"):
        EsCurvatureParams.validated({"ref_pop": 7})
    with pytest.raises(ParameterError, match="alpha"):
        EsCurvatureParams.validated({"alpha": 2.5})
    with pytest.raises(ParameterError, match="es_sigma"):
        EsCurvatureParams.validated({"es_sigma": -1})
    with pytest.raises(ParameterError, match="probe_hidden"):
        EsCurvatureParams.validated({"hidden": 64})


def test_schematic_draws_the_population_and_the_update():
    import matplotlib.pyplot as plt

    from lib.es.schematic import draw_schematic
    from tests.figures import checked_schematic

    fig, texts = checked_schematic(draw_schematic, n=9)
    assert "perturb" in texts and r"\Sigma_i R_i" in texts and "repeat" in texts
    population = fig.axes[0].collections[-1]  # the scatter of θ + σ ε_i
    assert population.get_offsets().shape == (9, 2)
    plt.close(fig)
