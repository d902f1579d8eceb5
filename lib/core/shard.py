"""Beyond one device: split a sweep's members into shards, run each shard as one batched program
on its own GPU or machine with submitit (local processes, or SLURM as the authors' clusters
use), and merge the results in member order.

Each shard's result is written atomically to ``folder/shard-<k>-of-<n>.pt`` as soon as it
finishes, so an interrupted sweep resumes: shards already on disk are not run again.

    results = run_sharded(configs, train_chunk, n_shards=4, folder="results/shards/x",
                          executor="slurm", slurm={"partition": "gpu", "timeout_min": 240})

``train_chunk(list_of_configs) -> list_of_results`` must be importable (a module-level function
or a ``functools.partial`` of one), as every job runs it in a fresh process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from lib.core.results import atomic_torch_save

EXECUTORS = ("inline", "local", "slurm")


def split(items: Sequence[Any], n_shards: int) -> list[list[Any]]:
    """Contiguous, balanced shards (sizes differ by at most one), none empty."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    n = min(n_shards, max(1, len(items)))
    base, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        size = base + (1 if k < extra else 0)
        out.append(list(items[start:start + size]))
        start += size
    return out


def _shard_path(folder: Path, k: int, n: int) -> Path:
    return folder / f"shard-{k}-of-{n}.pt"


def _save(path: Path, value: Any) -> None:
    atomic_torch_save(path, value)


def _run_and_save(train_chunk: Callable[[list], list], shard: list, path: str) -> str:
    """What one job does: train its shard as one batched program, write the result."""
    result = train_chunk(shard)
    if len(result) != len(shard):
        raise RuntimeError(f"train_chunk returned {len(result)} results for {len(shard)} configs")
    _save(Path(path), result)
    return path


def run_sharded(
    configs: Sequence[Any],
    train_chunk: Callable[[list], list],
    n_shards: int,
    folder: str | Path,
    executor: str = "local",
    gpus_per_shard: int = 0,
    slurm: dict[str, Any] | None = None,
) -> list:
    """Run ``configs`` in ``n_shards`` jobs and return the per-config results in order."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r}: allowed {', '.join(EXECUTORS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shards = split(configs, n_shards)
    n = len(shards)
    todo = [k for k in range(n) if not _shard_path(folder, k, n).exists()]
    if todo and executor == "inline":
        for k in todo:
            _run_and_save(train_chunk, shards[k], str(_shard_path(folder, k, n)))
    elif todo:
        import submitit

        if executor == "local":
            ex = submitit.LocalExecutor(folder=folder / "logs")
            ex.update_parameters(timeout_min=24 * 60, gpus_per_node=gpus_per_shard)
        else:
            ex = submitit.AutoExecutor(folder=folder / "logs", cluster="slurm")
            ex.update_parameters(gpus_per_node=gpus_per_shard, tasks_per_node=1,
                                 nodes=1, **(slurm or {}))
        jobs = [ex.submit(_run_and_save, train_chunk, shards[k], str(_shard_path(folder, k, n)))
                for k in todo]
        for job in jobs:
            job.result()  # raises with the job's traceback if a shard failed
    merged: list = []
    for k in range(n):
        merged.extend(torch.load(_shard_path(folder, k, n), weights_only=False))
    return merged
