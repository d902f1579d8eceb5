"""Device resolution: cpu by default, cuda when asked and present, a clear fallback otherwise."""

from __future__ import annotations

import os
import warnings

import torch

THREADS_VAR = "BOOK_THREADS"  # torch threads of a chapter, set by the runner in its kernel


def resolve_device(requested: str = "cpu") -> torch.device:
    """Return the torch device to use; warn (never fail) when cuda is asked for but absent."""
    if requested not in ("cpu", "cuda"):
        raise ValueError(f"parameter 'device' = {requested!r}: allowed: 'cpu' or 'cuda'")
    if requested == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            "device='cuda' was requested but no CUDA GPU is visible to torch "
            f"(torch {torch.__version__}); running on the CPU instead. Install a CUDA build of "
            "torch and check `nvidia-smi` to use a GPU.",
            stacklevel=2,
        )
        return torch.device("cpu")
    return torch.device(requested)


def set_threads() -> int:
    """Use ``BOOK_THREADS`` of this process's environment (the runner sets it in each chapter
    kernel's, sharing the cores out over ``-j``), else all cores."""
    n = int(os.environ.get(THREADS_VAR, "0")) or (os.cpu_count() or 1)
    torch.set_num_threads(n)
    return n


def describe(device: torch.device) -> str:
    """One line naming the device, e.g. 'cuda (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
