"""A sweep stored chunk by chunk (lib.core.sweep.stored_chunk inside lib.core.memo.Memo): an
interrupted call resumes from its finished chunks to the result of an uninterrupted one, in the
same process and after its process was killed."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.core.memo import Memo, chunk_store
from lib.core.results import REPO_ROOT
from lib.core.sweep import stored_chunk
from lib.depth.sweep import SweepConfig, member_grid, train_sweep

CALLS: list[int] = []


def noisy_chunk(members, scale):
    """A chunk that draws from the global generator (so a loaded chunk must restore it)."""
    CALLS.append(members[0])
    return [m * scale + float(torch.rand(())) for m in members]


def sweep(members, scale, fail_at=None):
    out = []
    for k in range(0, len(members), 2):
        if k == fail_at:
            raise KeyboardInterrupt("stopped half way")
        out += stored_chunk(noisy_chunk, members[k:k + 2], scale)
    return out + [float(torch.rand(()))]  # a draw after the chunks: the state must follow them


def test_outside_a_memo_call_a_chunk_is_just_trained(tmp_path):
    assert chunk_store() is None
    CALLS.clear()
    torch.manual_seed(0)
    assert len(stored_chunk(noisy_chunk, [1, 2], 1.0)) == 2 and CALLS == [1]
    assert not any(tmp_path.iterdir())


def test_a_resumed_call_equals_an_uninterrupted_one_and_cleans_up(tmp_path, monkeypatch):
    members = list(range(8))
    torch.manual_seed(2)
    whole = Memo(tmp_path / "a")("sweep", sweep, members, 3.0)
    # an interrupted first try with the key of the finished retry (where to stop is read from
    # the environment, not passed), as a killed kernel re-running the same cell
    memo = Memo(tmp_path / "b")
    monkeypatch.setenv("FAIL_AT", "6")
    CALLS.clear()
    torch.manual_seed(2)
    with pytest.raises(KeyboardInterrupt):
        memo("sweep", _sweep_env, members, 3.0)
    assert CALLS == [0, 2, 4]
    monkeypatch.delenv("FAIL_AT")
    CALLS.clear()
    torch.manual_seed(2)
    resumed = memo("sweep", _sweep_env, members, 3.0)
    assert CALLS == [6]  # only the chunk that had not finished
    assert memo.resumed_chunks["sweep"] == 3
    assert resumed == whole  # values and the random state after the chunks
    assert not list((tmp_path / "b").glob("*.chunks"))  # removed once the result is stored
    # BOOK_MEMO=refresh recomputes every chunk
    refresh = Memo(tmp_path / "c", mode="refresh")
    monkeypatch.setenv("FAIL_AT", "6")
    torch.manual_seed(2)
    with pytest.raises(KeyboardInterrupt):
        refresh("sweep", _sweep_env, members, 3.0)
    monkeypatch.delenv("FAIL_AT")
    CALLS.clear()
    torch.manual_seed(2)
    assert refresh("sweep", _sweep_env, members, 3.0) == whole and CALLS == [0, 2, 4, 6]


def _sweep_env(members, scale):
    fail = os.environ.get("FAIL_AT")
    return sweep(members, scale, int(fail) if fail else None)


# ---- a long-style depth sweep killed in its own process, then resumed ------------------------

SCRIPT = textwrap.dedent("""
    import sys, time
    import torch
    import lib.depth.sweep as S
    from lib.core.memo import Memo
    log, memo_dir = sys.argv[1], sys.argv[2]
    train = S.train_chunk

    def logged(members, cfg, device):
        res = train(members, cfg, device)
        with open(log, "a") as fh:
            fh.write(f"{members[0].depth},{members[0].rho},{members[0].replicate}\\n")
        time.sleep(1.0)  # room for the test to kill this process between two chunks
        return res

    S.train_chunk = logged
    members = S.member_grid([2, 3], [0.0, 1.0], 3)
    cfg = S.SweepConfig(teacher_depth=6, steps=12, batch_size=16, n_checkpoints=3, n_test=64)
    __import__("random").seed(0)  # a chapter seeds every global generator (the memo key)
    __import__("numpy").random.seed(0)
    torch.manual_seed(0)
    res = Memo(__import__("pathlib").Path(memo_dir))("kl_sweep", S.train_sweep, members, cfg,
                                                    torch.device("cpu"), 2)
    torch.save({"test_loss": res.test_loss, "wall_s": res.wall_s}, memo_dir + "/out.pt")
""")
MEMBERS = member_grid([2, 3], [0.0, 1.0], 3)
CFG = SweepConfig(teacher_depth=6, steps=12, batch_size=16, n_checkpoints=3, n_test=64)


@pytest.mark.slow
def test_a_killed_depth_sweep_resumes_from_its_finished_chunks(tmp_path):
    script, log, memo_dir = tmp_path / "run.py", tmp_path / "chunks.log", tmp_path / "memo"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(script), str(log), str(memo_dir)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(memo_dir.glob("*.chunks/chunk-*.pt")):  # the first chunk is stored
        assert proc.poll() is None and time.monotonic() < deadline, "no chunk was stored"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(memo_dir.glob("*.chunks/chunk-*.pt")))
    first = log.read_text().splitlines()
    assert 1 <= done_before < 6 and not (memo_dir / "out.pt").exists()

    subprocess.run(cmd, cwd=REPO_ROOT, env=env, check=True, timeout=300)
    lines = log.read_text().splitlines()
    retrained = lines[len(first):]
    assert len(retrained) == 6 - done_before  # the stored chunks were not trained again
    assert not set(first[:done_before]) & set(retrained)
    out = torch.load(memo_dir / "out.pt", weights_only=False)
    whole = train_sweep(MEMBERS, CFG, torch.device("cpu"), 2)
    np.testing.assert_allclose(out["test_loss"], whole.test_loss, rtol=1e-6)
    assert out["wall_s"] > 0 and not list(memo_dir.glob("*.chunks"))
    assert Path(memo_dir).is_dir()
