"""Memory of a batched sweep: its measured peak (CPU RSS) stays under the bound computed from
its shapes (lib.depth.sweep.sweep_memory_bytes), and grows no faster than the members."""

import json
import subprocess
import sys

import pytest

from lib.core.results import REPO_ROOT

pytestmark = pytest.mark.slow

SCRIPT = """
import json, resource, sys, torch
from lib.depth.sweep import SweepConfig, member_grid, sweep_memory_bytes, train_chunk
torch.set_num_threads(1)
n = int(sys.argv[1])
members = member_grid([2, 4, 8, 16], [0.0], n // 4)  # n members, n // 4 teachers
cfg = SweepConfig(teacher_depth=16, steps=3, batch_size=2048, n_checkpoints=2, n_test=2048)
# warm up on one tiny member: loads the kernels' code pages, which are not the sweep's memory
train_chunk(member_grid([2], [0.0], 1),
            SweepConfig(teacher_depth=2, steps=1, batch_size=8, n_checkpoints=1, n_test=8),
            torch.device("cpu"))
import os
before = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")  # RSS now
train_chunk(members, cfg, torch.device("cpu"))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"members": len(members), "peak_growth": after - before,
                  "bound": sweep_memory_bytes(members, cfg)}))
"""


def _measure(n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n)], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_peak_memory_within_shape_bound_and_linear_in_members():
    # the least of two runs each: glibc and torch's allocator add run-to-run noise of ~100 MB
    small = min((_measure(4) for _ in range(2)), key=lambda m: m["peak_growth"])
    large = min((_measure(16) for _ in range(2)), key=lambda m: m["peak_growth"])
    slack = 64 * 2**20  # interpreter and allocator noise
    assert large["peak_growth"] <= 1.5 * large["bound"] + slack, large
    # 4x the members: at most ~4x the memory (plus the same slack)
    assert large["peak_growth"] <= 4.5 * max(small["peak_growth"], 1) + slack, (small, large)
    assert large["bound"] <= 4.5 * small["bound"]
