"""Sharding a sweep across processes with submitit's local executor gives exactly the
unsharded result, each shard still one batched program, and an interrupted sweep resumes."""

import functools

import pytest
import torch

from lib.core.ensemble import BatchedAdam
from lib.core.shard import run_sharded, split


def train_quadratics(configs: list[tuple[float, int]], steps: int = 50) -> list[float]:
    """One batched program: member k minimises ‖w − target_k‖² with its own lr and seed."""
    lrs = torch.tensor([lr for lr, _ in configs])
    targets = torch.stack([torch.randn(4, generator=torch.Generator().manual_seed(s))
                           for _, s in configs])  # (M, 4)
    w = torch.zeros_like(targets, requires_grad=True)
    opt = BatchedAdam([w], lrs)
    for _ in range(steps):
        opt.zero_grad()
        ((w - targets) ** 2).sum().backward()
        opt.step()
    return ((w - targets) ** 2).sum(1).detach().tolist()


CONFIGS = [(lr, s) for lr in (0.01, 0.05, 0.1) for s in range(3)]


def test_split_is_balanced_and_ordered():
    parts = split(list(range(10)), 3)
    assert [len(p) for p in parts] == [4, 3, 3]
    assert sum(parts, []) == list(range(10))
    assert split([1, 2], 5) == [[1], [2]]
    with pytest.raises(ValueError):
        split([1], 0)


@pytest.mark.slow
def test_local_executor_equals_unsharded(tmp_path):
    expected = train_quadratics(CONFIGS)
    got = run_sharded(CONFIGS, functools.partial(train_quadratics, steps=50), n_shards=3,
                      folder=tmp_path, executor="local")
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert len(list(tmp_path.glob("shard-*-of-3.pt"))) == 3


def test_resume_skips_finished_shards(tmp_path):
    calls = []

    def counting(configs):
        calls.append(len(configs))
        return train_quadratics(configs)

    first = run_sharded(CONFIGS, counting, n_shards=3, folder=tmp_path, executor="inline")
    (tmp_path / "shard-1-of-3.pt").unlink()  # as if that job had been killed
    calls.clear()
    second = run_sharded(CONFIGS, counting, n_shards=3, folder=tmp_path, executor="inline")
    assert calls == [3] and second == first


def test_bad_executor():
    with pytest.raises(ValueError, match="executor"):
        run_sharded(CONFIGS, train_quadratics, 2, "/tmp/x", executor="ray")
