"""The sweep vocabulary every topic uses, its one chunk planner and its one seed function.

Every topic trains a *sweep*: many small models that differ in a few settings, stacked on a
leading member dimension and trained as one tensor program (``lib.core.ensemble`` holds the
batched optimisers). The same words mean the same thing in every topic folder:

- ``Member``: one run's settings (a frozen dataclass: width, depth, lr, temperature, seed, ...);
- ``SweepConfig``: what every member of a sweep shares (sizes, steps, logging);
- ``SweepResult``: the whole sweep's outcome, members in the order they were asked for;
- ``train_chunk(members, cfg, device)``: one batched program over a chunk of members;
- ``train_sweep(members, cfg, device, chunk_members=0)``: every member, chunk after chunk,
  cut by :func:`plan_chunks`;
- ``train_alone(member, cfg, device)``: the authors' one-model-at-a-time reference, which a
  member of a chunk must equal (tested in each topic);
- ``chunk_members``: the chapter parameter bounding the members of one chunk; ``0`` is automatic
  (all members on CUDA, within memory; on a CPU the topic's measured default, since stacking
  everything there falls out of cache: ``shared/notes/performance.md``).

A sweep run inside ``run.memo`` stores each finished chunk (:func:`stored_chunk`), so a long
sweep that is stopped resumes from its finished chunks.

Random streams come from :func:`seed_for` / :func:`generator`: a stable hash of (base seed, tag,
member fields), so a member draws the same numbers alone, in any chunk, on any run or process.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import torch

from lib.core.memo import chunk_store, rng_states, set_rng_states
from lib.core.results import atomic_torch_save

M = TypeVar("M")
R = TypeVar("R")


def chunk_size(device: torch.device | str, n_members: int, chunk_members: int,
               cpu_default: int, member_bytes: int = 0, mem_frac: float = 0.4) -> int:
    """Members per chunk: ``chunk_members`` when given (> 0); else every member on CUDA (as
    many as fit in ``mem_frac`` of the free memory when ``member_bytes`` is known) and the
    measured ``cpu_default`` on a CPU. Never more than ``n_members``, never below 1."""
    if chunk_members < 0:
        raise ValueError(f"parameter 'chunk_members' = {chunk_members}: allowed: an integer "
                         ">= 0 (0: automatic)")
    if cpu_default < 1:
        raise ValueError(f"cpu_default = {cpu_default}: allowed: an integer >= 1")
    if chunk_members > 0:
        size = chunk_members
    elif torch.device(device).type == "cuda":
        size = n_members
        if member_bytes > 0:
            free, _ = torch.cuda.mem_get_info(torch.device(device))
            size = min(size, int(mem_frac * free // member_bytes))
    else:
        size = cpu_default
    return max(1, min(size, n_members))


def plan_chunks(
    members: Sequence[M],
    chunk_members: int,
    device: torch.device | str,
    cpu_default: int,
    *,
    member_bytes: int = 0,
    group: Callable[[M], Hashable] | None = None,
    order: Callable[[M], Any] | None = None,
    fits: Callable[[list[M]], bool] | None = None,
) -> list[list[int]]:
    """Indices of ``members`` per chunk, each chunk of at most :func:`chunk_size` members.

    Members with different ``group`` keys never share a chunk (groups in order of first
    appearance); within a group members are sorted by ``order`` (stable; default: as given) and
    cut into consecutive chunks, a new chunk also starting where ``fits(chunk + [member])`` is
    false (e.g. a padding or memory rule; a lone member always fits). Every index appears once.
    """
    size = chunk_size(device, len(members), chunk_members, cpu_default, member_bytes)
    groups: dict[Hashable, list[int]] = {}
    for i, m in enumerate(members):
        groups.setdefault(group(m) if group is not None else None, []).append(i)
    plan: list[list[int]] = []
    for idx in groups.values():
        if order is not None:
            idx = sorted(idx, key=lambda i: order(members[i]))
        current: list[int] = []
        for i in idx:
            trial = current + [i]
            if current and (len(trial) > size
                            or (fits is not None and not fits([members[j] for j in trial]))):
                plan.append(current)
                trial = [i]
            current = trial
        if current:
            plan.append(current)
    return plan


def stored_chunk(train_chunk: Callable[..., R], members: Sequence[Any], *args: Any,
                 **kwargs: Any) -> R:
    """``train_chunk(members, *args, **kwargs)``. Inside a stored call (``run.memo``, see
    :mod:`lib.core.memo`) the chunk's result is also written atomically as soon as it finishes,
    keyed by the call, the chunk's position in it and its members; when the same call runs again
    after an interruption, a finished chunk is loaded (with the random state that followed it)
    instead of trained. The call's key covers every other argument."""
    store = chunk_store()
    if store is None:
        return train_chunk(members, *args, **kwargs)
    index, store.count = store.count, store.count + 1
    digest = hashlib.sha256(pickle.dumps(list(members), protocol=4)).hexdigest()[:16]
    path = store.folder / f"chunk-{index:05d}-{digest}.pt"
    if store.load and path.exists():
        stored = torch.load(path, weights_only=False)
        set_rng_states(stored["rng_after"])
        store.loaded += 1
        store.loaded_wall_s += stored["wall_s"]
        store.loaded_cpu_s += stored["cpu_s"]
        return stored["value"]
    w0, c0 = time.perf_counter(), time.process_time()
    value = train_chunk(members, *args, **kwargs)
    atomic_torch_save(path, {"value": value, "rng_after": rng_states(),
                             "wall_s": time.perf_counter() - w0,
                             "cpu_s": time.process_time() - c0})
    return value


def seed_for(base: int, tag: str, *fields: object) -> int:
    """A 63-bit seed, a stable hash (BLAKE2b) of ``(base, tag, fields)``: the same in every run
    and process (no Python ``hash`` randomisation), and distinct inputs give independent
    streams. ``fields`` are plain values (ints, floats, strings, tuples of them)."""
    text = repr((int(base), str(tag), _plain(fields))).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def generator(base: int, tag: str, *fields: object,
              device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`seed_for`."""
    return torch.Generator(device=device).manual_seed(seed_for(base, tag, *fields))


def _plain(value: object) -> object:
    """Numbers as floats where they are integral floats (``1.0`` and ``1`` hash alike), tuples
    for sequences, so a field's text does not depend on how it was typed."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        f = float(value)
        return int(f) if math.isfinite(f) and f == int(f) else f
    if isinstance(value, (tuple, list)):
        return tuple(_plain(v) for v in value)
    raise TypeError(f"seed_for takes plain values, got {type(value).__name__}")
