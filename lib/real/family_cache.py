"""One trained GPT family shared by the chapters that study it.

The superposition, one-third-time, inverse-depth and universality chapters all read the same
self-trained family (overlaps across widths, loss against τ, against depth, the four-term fit).
Training it is most of their real-model cost, so the first chapter to ask trains it and stores it
under a key of everything that determines it — the family parameters
(:class:`lib.real.family.FamilyParams`), the seed, the device type, the torch version and the
source of ``lib/real`` — and the others load it. An exclusive file lock makes a chapter that asks
while another is training wait for that result instead of training a second copy (the book runs
two chapters at a time). A change to any of those inputs is a different key, so a stale family is
never read; the file is written atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch

from lib.core.results import atomic_torch_save
from lib.real.assets import VENDOR
from lib.real.family import FamilyParams
from lib.real.train import FamilyResult

CACHE = VENDOR / "cache" / "family"
LIB_REAL = Path(__file__).resolve().parent


def family_key(P: FamilyParams, seed: int, device: torch.device) -> str:
    """Hash of every input that determines the trained family."""
    h = hashlib.sha256()
    fields = P.model_dump() | {"seed": seed}
    h.update(json.dumps(fields, sort_keys=True, default=str).encode())
    h.update(f"{device.type}|torch {torch.__version__}".encode())
    for src in sorted(LIB_REAL.glob("*.py")):
        h.update(src.name.encode() + src.read_bytes())
    return h.hexdigest()[:20]


def shared_family(P: FamilyParams, seed: int, device: torch.device,
                  train: Callable[[], FamilyResult], cache: Path = CACHE
                  ) -> tuple[FamilyResult, bool]:
    """The family for ``P`` and ``seed``: loaded if cached, else ``train()`` under an exclusive
    lock and stored. Returns (family, whether it came from the cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    key = family_key(P, seed, device)
    path = cache / f"{key}.pt"
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if path.exists():
            return torch.load(path, weights_only=False), True
        family = train()
        atomic_torch_save(path, family)
        return family, False
