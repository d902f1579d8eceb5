"""The shared sweep scaffolding: one chunk planner and one seed function."""

import subprocess
import sys

import pytest
import torch

from lib.core.sweep import chunk_size, generator, plan_chunks, seed_for

CPU = torch.device("cpu")


def test_chunk_size_device_rule():
    assert chunk_size(CPU, 100, 0, 8) == 8  # automatic on a CPU: the measured default
    assert chunk_size(CPU, 3, 0, 8) == 3  # never more than the members
    assert chunk_size("cuda", 100, 0, 8) == 100  # automatic on CUDA: all (no memory bound)
    assert chunk_size(CPU, 100, 5, 8) == 5 and chunk_size("cuda", 100, 5, 8) == 5
    with pytest.raises(ValueError, match="chunk_members"):
        chunk_size(CPU, 10, -1, 8)


def test_plan_sizes_and_order():
    members = list(range(7))
    assert plan_chunks(members, 3, CPU, 8) == [[0, 1, 2], [3, 4, 5], [6]]
    assert plan_chunks(members, 0, CPU, 4) == [[0, 1, 2, 3], [4, 5, 6]]
    assert plan_chunks(members, 0, "cuda", 4) == [members]
    with pytest.raises(ValueError, match="chunk_members"):
        plan_chunks(members, -2, CPU, 4)


def test_plan_groups_orders_and_fits():
    words = ["bb", "a", "ccc", "dd", "e", "ff", "g"]
    plan = plan_chunks(words, 2, CPU, 8, group=len, order=lambda w: w)
    flat = sorted(i for c in plan for i in c)
    assert flat == list(range(len(words)))  # every member once
    for c in plan:
        assert len({len(words[i]) for i in c}) == 1 and len(c) <= 2
        assert [words[i] for i in c] == sorted(words[i] for i in c)
    assert plan == [[0, 3], [5], [1, 4], [6], [2]]  # groups in order of first appearance
    # a load rule cuts chunks early; a lone member always fits
    loads = [3, 3, 3, 9]
    assert plan_chunks(loads, 10, CPU, 10, fits=lambda c: sum(c) <= 6) == [[0, 1], [2], [3]]


def test_seed_is_stable_across_processes_and_distinct():
    here = seed_for(7, "data", 1.5, 0.5, ("power", None))
    code = ("from lib.core.sweep import seed_for; "
            "print(seed_for(7, 'data', 1.5, 0.5, ('power', None)))")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "123", "PATH": ""},
                           cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert int(there.stdout) == here
    assert 0 <= here < 2**63
    seeds = {seed_for(b, t, x) for b in range(3) for t in ("init", "data") for x in range(50)}
    assert len(seeds) == 300  # distinct members, distinct streams
    assert seed_for(0, "x", 1) == seed_for(0, "x", 1.0)  # how a number was typed does not matter
    a = torch.randn(1000, generator=generator(0, "data", 1))
    b = torch.randn(1000, generator=generator(0, "data", 2))
    assert torch.equal(a, torch.randn(1000, generator=generator(0, "data", 1)))
    assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 0.15
    with pytest.raises(TypeError):
        seed_for(0, "x", object())
