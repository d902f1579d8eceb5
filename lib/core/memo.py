"""Keep the result of a chapter's expensive call (a sweep) on disk, so that re-running the chapter
with other fit or plot parameters, or after an interruption, loads it instead of training again.

A stored result is used only where recomputing would give the same thing. The key covers

- the call: a name, the function's module and qualified name, and its arguments (pickled:
  dataclasses, configs, member lists, tensors and devices all pickle deterministically);
- the code: the source of every file under ``lib/``, and the torch version;
- the random state the call starts from: Python's, NumPy's and torch's global generators (and
  CUDA's where it is initialised), since a sweep may draw from them.

The generators' states *after* the call are stored with the result and restored on a hit, so
the cells that follow draw exactly the numbers they would have drawn. Files are written
atomically (temporary file + rename): an interrupted write leaves no entry, never a half one.

While a call runs, the chunks of a sweep it trains are stored too, each as soon as it finishes
(``lib.core.sweep.stored_chunk``, in ``<name>-<key>.chunks/`` beside the call's entry): a call
interrupted after hours (a killed kernel, the end of a working session) resumes from its finished
chunks when the same call comes again (same key), and the chunk folder is removed once the whole
result is stored. A loaded chunk restores the random state that followed it, as a loaded call does.

``BOOK_MEMO_DIR`` names the folder (the runner sets it in each chapter kernel's environment to
its build folder's ``memo/``, and empties a chapter's part of it on ``--force``; default
``_build/memo``). ``BOOK_MEMO=refresh`` recomputes and overwrites, ``BOOK_MEMO=off`` neither
reads nor writes. Both are read when a chapter opens its memo (:meth:`Memo.for_chapter`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import shutil
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from lib.core.results import REPO_ROOT, atomic_torch_save

T = TypeVar("T")
MODES = ("on", "refresh", "off")
MEMO_DIR_VAR = "BOOK_MEMO_DIR"  # environment variables read by Memo.for_chapter
MEMO_MODE_VAR = "BOOK_MEMO"
KEEP = 3  # entries kept per name (e.g. a fit parameter toggled back and forth)


@cache
def lib_fingerprint() -> str:
    """sha256 of every ``lib/**/*.py`` (path and content): any change of code is a new key."""
    h = hashlib.sha256()
    for path in sorted((REPO_ROOT / "lib").rglob("*.py")):
        h.update(str(path.relative_to(REPO_ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@dataclass
class ChunkStore:
    """Where the chunks of the stored call now running are kept (``lib.core.sweep.stored_chunk``
    numbers them in the order the call asks for them); ``load`` False recomputes them
    (``BOOK_MEMO=refresh``). What the loaded chunks cost when computed is added up, so the call's
    timings stay those of the computation."""

    folder: Path
    load: bool = True
    count: int = 0  # chunks asked for so far
    loaded: int = 0
    loaded_wall_s: float = 0.0
    loaded_cpu_s: float = 0.0


_CHUNK_STORE: ContextVar[ChunkStore | None] = ContextVar("chunk_store", default=None)


def chunk_store() -> ChunkStore | None:
    """The chunk store of the stored call now running, None outside ``Memo.__call__``."""
    return _CHUNK_STORE.get()


def rng_states() -> dict[str, Any]:
    """The global generators' states (CUDA only where it is already initialised)."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(),
              "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def call_key(name: str, fn: Callable, args: tuple, kwargs: dict) -> str:
    """The key of one call (see the module docstring); TypeError naming the call where its
    arguments cannot be pickled (a lambda, an open file): such a call cannot be stored."""
    h = hashlib.sha256()
    h.update(f"{name}\0{fn.__module__}.{fn.__qualname__}\0{torch.__version__}\0".encode())
    h.update(lib_fingerprint().encode())
    try:
        h.update(pickle.dumps((args, sorted(kwargs.items())), protocol=4))
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise TypeError(f"memo {name!r}: the arguments of {fn.__qualname__} cannot be "
                        f"pickled, so the call cannot be keyed ({err})") from None
    states = rng_states()
    h.update(pickle.dumps(states["python"], protocol=4))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    h.update(f"{kind}\0{pos}\0{has_gauss}\0{cached!r}".encode() + keys.tobytes())
    h.update(states["torch"].numpy().tobytes())
    for s in states.get("cuda", []):
        h.update(s.numpy().tobytes())
    return h.hexdigest()


@dataclass
class Memo:
    """The stored results of one chapter's calls; ``hits`` and ``misses`` name the calls of
    this run (they go into the chapter's environment record)."""

    folder: Path
    mode: str = "on"
    hits: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    # what each call cost when it was computed (also for a loaded result: the page's timings
    # stay those of the computation)
    wall_s: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    # chunks of a call loaded from an interrupted earlier run of it (0 or absent: none)
    resumed_chunks: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_chapter(cls, chapter: str, profile: str) -> Memo:
        root = Path(os.environ.get(MEMO_DIR_VAR, REPO_ROOT / "_build" / "memo"))
        mode = os.environ.get(MEMO_MODE_VAR, "on")
        if mode not in MODES:
            raise ValueError(f"{MEMO_MODE_VAR}={mode!r}: allowed {', '.join(MODES)}")
        return cls(root / profile / chapter, mode)

    def __call__(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, or its stored result when the key matches."""
        if self.mode == "off":
            return self._timed(name, fn, args, kwargs)
        key = call_key(name, fn, args, kwargs)
        path = self.folder / f"{name}-{key[:20]}.pt"
        if self.mode == "on" and path.exists():
            stored = torch.load(path, weights_only=False)
            set_rng_states(stored["rng_after"])
            self.wall_s[name], self.cpu_s[name] = stored["wall_s"], stored["cpu_s"]
            self.hits.append(name)
            return stored["value"]
        chunks = ChunkStore(path.with_suffix(".chunks"), load=self.mode == "on")
        token = _CHUNK_STORE.set(chunks)
        try:
            value = self._timed(name, fn, args, kwargs)
        finally:
            _CHUNK_STORE.reset(token)
        self.wall_s[name] += chunks.loaded_wall_s
        self.cpu_s[name] += chunks.loaded_cpu_s
        self.resumed_chunks[name] = chunks.loaded
        atomic_torch_save(path, {"value": value, "rng_after": rng_states(), "name": name,
                                 "wall_s": self.wall_s[name], "cpu_s": self.cpu_s[name]})
        stored = sorted(self.folder.glob(f"{name}-*.pt"), key=lambda p: p.stat().st_mtime)
        for old in stored[:-KEEP]:  # the newest KEEP entries per name
            old.unlink(missing_ok=True)
        # this call's chunks, and those of calls of this name that will never finish (their
        # key is gone: the code or the arguments changed)
        for folder in self.folder.glob(f"{name}-*.chunks"):
            shutil.rmtree(folder, ignore_errors=True)
        self.misses.append(name)
        return value

    def _timed(self, name: str, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        w0, c0 = time.perf_counter(), time.process_time()
        value = fn(*args, **kwargs)
        self.wall_s[name] = time.perf_counter() - w0
        self.cpu_s[name] = time.process_time() - c0
        return value
