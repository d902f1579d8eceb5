"""Stored sweep results (lib/core/memo.py): a hit is exactly what recomputing would give, the
random state included, and anything that could change the result is a miss."""

import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from lib.core import memo as memo_module
from lib.core.memo import Memo, call_key


@dataclass(frozen=True)
class Config:
    steps: int
    lr: float


CALLS: list[int] = []


def sweep(cfg: Config, members: list[int], scale: torch.Tensor) -> dict:
    """A stand-in for a sweep: it draws from every global generator, as a sweep may."""
    CALLS.append(cfg.steps)
    noise = torch.randn(len(members)) + np.random.rand() + random.random()
    return {"loss": scale * torch.tensor(members, dtype=torch.float32) * cfg.lr + noise}


def after_cells() -> tuple:
    """What the cells after the sweep draw (a bootstrap, say)."""
    return torch.rand(3).tolist(), np.random.rand(2).tolist(), random.random()


def seeded(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.fixture
def memo(tmp_path):
    CALLS.clear()
    return Memo(tmp_path / "memo")


ARGS = (Config(10, 0.1), [1, 2, 3], torch.tensor(2.0))


def test_a_hit_equals_recomputing_and_restores_the_random_state(memo):
    seeded()
    fresh = memo("sweep", sweep, *ARGS)
    fresh_after = after_cells()
    seeded()
    loaded = memo("sweep", sweep, *ARGS)
    assert CALLS == [10]  # computed once, loaded the second time
    torch.testing.assert_close(loaded["loss"], fresh["loss"], rtol=0, atol=0)
    assert after_cells() == fresh_after  # later cells draw the same numbers
    assert memo.hits == ["sweep"] and memo.misses == ["sweep"]
    # the cost shown is the computation's, also when loaded
    other = Memo(memo.folder)
    seeded()
    other("sweep", sweep, *ARGS)
    assert other.hits == ["sweep"] and other.wall_s["sweep"] == memo.wall_s["sweep"] > 0


def test_arguments_code_and_random_state_are_in_the_key(memo, monkeypatch):
    seeded()
    memo("sweep", sweep, *ARGS)
    seeded()
    memo("sweep", sweep, Config(10, 0.2), *ARGS[1:])  # another lr
    seeded()
    memo("sweep", sweep, ARGS[0], ARGS[1], torch.tensor(3.0))  # another tensor value
    seeded(1)
    memo("sweep", sweep, *ARGS)  # the call starts from another random state
    assert CALLS == [10, 10, 10, 10]
    seeded()
    k1 = call_key("sweep", sweep, ARGS, {})
    monkeypatch.setattr(memo_module, "lib_fingerprint", lambda: "other code")
    assert call_key("sweep", sweep, ARGS, {}) != k1


def test_refresh_and_off_modes(tmp_path):
    CALLS.clear()
    seeded()
    Memo(tmp_path)("sweep", sweep, *ARGS)
    seeded()
    Memo(tmp_path, mode="refresh")("sweep", sweep, *ARGS)
    seeded()
    off = Memo(tmp_path / "off", mode="off")
    off("sweep", sweep, *ARGS)
    assert CALLS == [10, 10, 10] and not (tmp_path / "off").exists()


def test_writes_are_atomic_and_old_entries_pruned(memo):
    for lr in (0.1, 0.2, 0.3, 0.4, 0.5):
        seeded()
        memo("sweep", sweep, Config(10, lr), *ARGS[1:])
    files = sorted(p.name for p in memo.folder.iterdir())
    assert len(files) == memo_module.KEEP and all(f.startswith("sweep-") for f in files)
    assert not list(memo.folder.glob(".*"))  # no temporary file left behind


def test_unpicklable_arguments_are_refused_with_the_call_named(memo):
    with pytest.raises(TypeError, match="memo 'bad'.*cannot be pickled"):
        memo("bad", sweep, Config(1, 0.1), [1], lambda x: x)


def test_chapter_run_records_loaded_results(tmp_path, monkeypatch):
    from lib.core.chapter import ChapterRun
    from lib.core.params import ChapterParams

    monkeypatch.setenv("BOOK_MEMO_DIR", str(tmp_path / "memo"))
    params = ChapterParams(results_dir=str(tmp_path / "results"))
    first = ChapterRun("demo", params)
    first.memo("sweep", sweep, *ARGS)
    second = ChapterRun("demo", params)  # re-seeds: same state as the first run
    second.memo("sweep", sweep, *ARGS)
    env = second.finish()
    assert env["memo_loaded"] == ["sweep"]
    assert "stored results loaded: sweep" in second.reproducibility_markdown(env)
