"""Checks that only a GPU can make: a sweep's measured CUDA peak memory stays under the bound
computed from its shapes, and the GPT family stacked with ``torch.func`` equals its loop.

The batched = alone checks of every topic (one_third, depth, superposition, es) are not repeated
here: they are parametrised over devices in each topic's tests (``tests/devices.py``), so on a GPU
machine ``pytest -k cuda tests/`` runs the same test bodies on CUDA.

These run on the devices named by ``TEST_DEVICES`` (comma separated), by default ``cuda`` when
a GPU is present and none otherwise, so CI (no GPU) skips them; ``TEST_DEVICES=cpu`` runs the
code paths that are not CUDA-only on the CPU.
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
