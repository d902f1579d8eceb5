"""The batched programs on a GPU: every sweep's member equals the same model trained alone on
the same device, and a sweep's measured peak memory stays under the bound computed from its
shapes. The CPU versions of these checks are in each topic's tests.

They run on the devices named by ``TEST_DEVICES`` (comma separated), by default ``cuda`` when
a GPU is present and none otherwise, so CI (no GPU) skips them. ``TEST_DEVICES=cpu`` runs the
same code on the CPU, which is how this file's own logic is checked without a GPU:

    TEST_DEVICES=cpu .venv/bin/python -m pytest -q tests/test_cuda.py     # any machine
    .venv/bin/python -m pytest -q tests/test_cuda.py                      # on a GPU machine

Tolerances are looser than the CPU tests': CUDA kernels sum in other orders. TF32 stays off
(PyTorch's default for float32 matmuls), so the comparison is of float32 against float32.
"""

import os

import numpy as np
import pytest
import torch

_default = "cuda" if torch.cuda.is_available() else ""
DEVICES = [d for d in os.environ.get("TEST_DEVICES", _default).split(",") if d]
pytestmark = pytest.mark.skipif(not DEVICES, reason="no GPU (set TEST_DEVICES=cpu to run here)")
params = pytest.mark.parametrize("device", [torch.device(d) for d in DEVICES] or [None])


def _peak_bytes(device: torch.device, fn) -> int | None:
    """CUDA max allocated during ``fn`` (above what was allocated before); None on a CPU."""
    if device.type != "cuda":
        fn()
        return None
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


@params
def test_one_third_member_equals_model_alone(device):
    from lib.one_third.sweep import Member, SweepConfig, train_alone, train_chunk

    cfg = SweepConfig(n_embd=8, vocab_size=16, batch_size=64, steps=40, n_logs=8, test_batches=1)
    members = [Member("adam", lr, t, s) for lr, t, s in
               zip([3e-3, 3e-2, 0.1, 0.3], [1e-2, 0.3, 1e-2, 1.0], [0, 0, 1, 2], strict=True)]
    result = train_chunk(members, cfg, device)
    for k, member in enumerate(members):
        alone = train_alone(member, cfg, device)
        np.testing.assert_allclose(result.test_loss[k], alone.test_loss[0], rtol=2e-3, atol=1e-6)
    assert np.all(result.test_loss[:, -1] < result.test_loss[:, 0])


@params
def test_depth_padded_member_equals_model_alone(device):
    from lib.depth.reference import train_alone
    from lib.depth.sweep import Member, SweepConfig, train_chunk

    cfg = SweepConfig(teacher_depth=8, steps=6, batch_size=16, lr_multiplier=5.0,
                      n_checkpoints=2, n_test=64)
    members = [Member(4, 0.0, 0, 0.5, "kl", "euler"), Member(2, 0.0, 0, 0.5, "kl", "euler")]
    res = train_chunk(members, cfg, device)
    for k in (1, 0):
        alone, losses = train_alone(members[k], cfg, device)
        assert np.all(np.isfinite(losses))
        for name, v in alone.weights().items():
            torch.testing.assert_close(res.weights[k][name].cpu(), v.cpu(), rtol=1e-3, atol=1e-4)


@params
def test_superposition_padded_member_equals_authors_loop(device):
    from lib.superposition.data import SparseBatch, frequencies, sample_sparse
    from lib.superposition.sweep import Member, TrainConfig, member_init, train_chunk, train_loop

    n, steps = 20, 25
    cfg = TrainConfig(n=n, batch=12, steps=steps, lr_rule="exp17", final_window=5,
                      dtype=torch.float64)
    members = [Member(3, -1.0, "power", 1.0, 0), Member(6, 0.5, "power", 1.0, 0)]
    p = frequencies("power", n, 1.0)
    g = torch.Generator().manual_seed(11)
    batches = [SparseBatch(b.rows.to(device), b.cols.to(device), b.vals.to(device), b.size, b.n)
               for b in (sample_sparse(p, cfg.batch, g, torch.float64) for _ in range(steps))]
    inits = [tuple(t.to(device) for t in member_init(m, n, 0)) for m in members]
    together = train_chunk(members, cfg, device, init=inits, batches=batches)
    for k, mem in enumerate(members):
        loop = train_loop(mem, cfg, device, init=inits[k],
                          dense_batches=[bt.dense() for bt in batches])
        torch.testing.assert_close(together[k].W.cpu(), loop.W.cpu(), rtol=1e-8, atol=1e-10)


@params
def test_real_family_stacked_equals_loop(device):
    from lib.real.batched import train_family_batched
    from lib.real.train import TrainConfig, family_grid, train_family
    from tests.tiny_data import token_data

    data = token_data()
    cfg = TrainConfig(steps=12, batch_size=4, block_size=16, warmup_steps=3, n_evals=4,
                      eval_windows=8, lr=3e-3)
    members = family_grid([16, 32], [1, 3], [0, 1])
    alone = train_family(members, data, cfg, device)
    stacked = train_family_batched(members, data, cfg, device, by="width")
    a, b = alone.frame(), stacked.frame()
    np.testing.assert_allclose(b.heldout_nats, a.heldout_nats, rtol=0, atol=1e-4)


@params
def test_depth_sweep_peak_memory_is_under_its_shape_bound(device):
    """Measured CUDA peak of one chunk ≤ the analytic size from the shapes (× 1.5 for the
    allocator's rounding and temporaries), at two member counts."""
    from lib.depth.sweep import SweepConfig, member_grid, sweep_memory_bytes, train_chunk

    if device.type != "cuda":
        pytest.skip("peak memory is measured on CUDA (the CPU bound test is tests/test_memory.py)")
    cfg = SweepConfig(teacher_depth=64, steps=4, batch_size=128, n_checkpoints=1, n_test=2048)
    for replicates in (1, 4):
        members = member_grid([2, 4, 8, 16], [0.0], replicates)
        peak = _peak_bytes(device, lambda m=members: train_chunk(m, cfg, device))
        assert peak <= 1.5 * sweep_memory_bytes(members, cfg), (replicates, peak)


@params
def test_one_third_sweep_peak_memory_is_under_its_shape_bound(device):
    from lib.one_third.sweep import Member, SweepConfig, sweep_memory_bytes, train_chunk

    if device.type != "cuda":
        pytest.skip("peak memory is measured on CUDA (the CPU bound test is tests/test_memory.py)")
    cfg = SweepConfig(n_embd=64, vocab_size=1024, batch_size=256, steps=4, n_logs=2,
                      test_batches=1)
    for n in (1, 8):
        members = [Member("adam", 1e-2 * (1 + k), 0.1, 0) for k in range(n)]
        peak = _peak_bytes(device, lambda m=members: train_chunk(m, cfg, device))
        assert peak <= 1.5 * sweep_memory_bytes(n, cfg), (n, peak)


@params
def test_es_padded_run_equals_run_alone(device):
    """ES runs of different population sizes in one program (padded) equal each run alone on
    the device: the padded positions are skipped by index, not by a boolean mask."""
    from lib.es import quadratic
    from lib.es.estimator import EsRun, run_es

    reward = quadratic.quadratic_reward(torch.linspace(0.1, 1.0, 8, device=device))
    theta0 = torch.ones(8, device=device)
    together = run_es(reward, theta0, [EsRun(5, 11), EsRun(12, 12)], 0.1, 0.5, 10, log_every=5)
    alone = run_es(reward, theta0, [EsRun(5, 11)], 0.1, 0.5, 10, log_every=5)
    torch.testing.assert_close(together.theta[0].cpu(), alone.theta[0].cpu(), rtol=1e-5,
                               atol=1e-6)
