"""Count the operations that make the host wait for the device, on any device.

On a GPU, a training step that reads a value back (``loss.item()``, ``if torch.isnan(x):``,
``x[mask]``) stalls until every queued kernel has run, every step: the device idles while Python
catches up. On a CPU nothing stalls, so such reads go unnoticed; this counter finds them there.

It sees two layers:

- the dispatcher (``TorchDispatchMode``): ``aten._local_scalar_dense`` is what ``.item()``,
  ``float(t)``, ``int(t)``, ``bool(t)`` and ``if t:`` call; ``nonzero``, ``masked_select``,
  ``unique`` and indexing with a boolean mask (``x[mask]``, ``x[mask] = v``) have shapes that
  depend on the data;
- tensor methods (``TorchFunctionMode``): ``.tolist()``, ``.numpy()`` and ``.cpu()`` copy to the
  host (on a CPU tensor they do not reach the dispatcher).

Reads made inside ``torch.optim`` are not counted: its optimisers keep their step counts in host
tensors (unless ``capturable``), so those reads wait for no device.

Use::

    with count_host_syncs() as syncs:
        train_chunk(...)
    syncs.total, syncs.by_op   # e.g. 3, {"aten._local_scalar_dense": 3}

On CUDA, ``torch.cuda.set_sync_debug_mode("error")`` is the device's own check; this one also runs
where CI runs.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

SYNC_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "_unique2", "unique_dim",
            "unique_consecutive"}
HOST_COPIES = {"tolist", "numpy", "cpu"}
MASK_INDEXING = {"index", "index_put", "index_put_", "_index_put_impl_"}


@dataclass
class HostSyncs:
    """What ``count_host_syncs`` saw: counts per operation name and per calling line (the
    innermost frame outside torch, ``file:line``), so a failing test says where to look."""

    by_op: Counter = field(default_factory=Counter)
    by_site: Counter = field(default_factory=Counter)

    def add(self, op: str) -> None:
        if _in_torch_optim():  # its step counters live on the host by design (no GPU wait)
            return
        self.by_op[op] += 1
        self.by_site[f"{_caller()}: {op}"] += 1

    @property
    def total(self) -> int:
        return sum(self.by_op.values())


class _DispatchCounter(TorchDispatchMode):
    def __init__(self, out: HostSyncs) -> None:
        super().__init__()
        self.out = out

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in SYNC_OPS:
            self.out.add(f"aten.{name}")
        elif name in MASK_INDEXING and _has_mask(args[1] if len(args) > 1 else None):
            self.out.add(f"aten.{name} (boolean mask)")
        return func(*args, **(kwargs or {}))


def _caller() -> str:
    """``file:line`` of the innermost frame that is not in torch or this module."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if f"{os.sep}torch{os.sep}" not in path and path != __file__ and "contextlib" not in path:
            return f"{os.path.relpath(path)}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


def _in_torch_optim() -> bool:
    """Whether the read comes from ``torch.optim``: ``torch.optim.Adam(W)`` keeps its step
    counts in host tensors unless ``capturable``, so its ``.item()`` reads wait for nothing."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if f"{os.sep}torch{os.sep}optim{os.sep}" in path:
            return True
        if f"{os.sep}torch{os.sep}" not in path and path != __file__:
            return False
        frame = frame.f_back
    return False


def _has_mask(indices: object) -> bool:
    """Whether an ``index``/``index_put`` index list holds a boolean mask (its result's shape
    depends on the data, so the device must be read first)."""
    if not isinstance(indices, (list, tuple)):
        return False
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8)
               for i in indices)


class _MethodCounter(TorchFunctionMode):
    def __init__(self, out: HostSyncs) -> None:
        super().__init__()
        self.out = out

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in HOST_COPIES:
            self.out.add(f"Tensor.{name}")
        return func(*args, **(kwargs or {}))


@contextmanager
def count_host_syncs() -> Iterator[HostSyncs]:
    """Count host synchronisations inside the block (see the module docstring)."""
    out = HostSyncs()
    with _MethodCounter(out), _DispatchCounter(out):
        yield out
