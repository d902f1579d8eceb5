"""Measure before adopting: ``torch.compile`` and TF32 on the one-third chapter's step.

The step of the one-third sweep is :func:`lib.one_third.sweep.head_gradient`: two batched
matrix products, two softmaxes over the vocabulary and a few elementwise operations per
member, the kind of small kernels ``torch.compile`` can fuse. This script times it, at the
chapter's sizes, eager against compiled (compile time apart) and, on CUDA, with TF32 matrix
products allowed against full float32, and reports the largest difference of the gradients
each variant computes from eager float32's. Nothing here is adopted by the chapters unless it is
faster *and* agrees to float32 rounding; the measurement is written to
``results/bench/compile.csv`` with the environment.

    python -m benchmarks.compile_check [--device cuda] [--members 64]

It is not one of the ``bench_*`` modules: compiling takes tens of seconds on a CPU, too long for
the book's build.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from benchmarks.harness import timed
from lib.core.results import REPO_ROOT, environment_record, write_csv, write_json
from lib.one_third.sweep import head_gradient


def inputs(members: int, vocab: int, d: int, batch: int, device: torch.device,
           seed: int = 0) -> tuple[torch.Tensor, ...]:
    """A batch, one teacher per member and the members' weights, as the chapter has them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, d, generator=g)  # (B, d)
    t_w = torch.randn(members, vocab, d, generator=g)  # (G, V, d)
    w = 0.1 * torch.randn(members, vocab, d, generator=g)  # (M, V, d)
    local = torch.arange(members)
    return tuple(t.to(device) for t in (x, t_w, w, local))


def run(device: str = "cpu", members: int = 64, vocab: int = 128, d: int = 32,
        batch: int = 1024, repeats: int = 20) -> list[dict]:
    dev = torch.device(device)
    args = inputs(members, vocab, d, batch, dev)
    reference = head_gradient(*args)
    rows = []

    def best_time(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> float:
        fn()  # warm-up
        return timed(fn, device, min_wall_s=float("inf"), max_repeats=repeats).wall_s

    def row(mode: str, fn: Callable[[], torch.Tensor], compile_s: float = 0.0) -> None:
        diff = float((fn() - reference).abs().max())
        rows.append({"chapter": "one_third_time", "workload": "head_gradient", "mode": mode,
                     "device": device, "members": members, "vocab": vocab, "d": d,
                     "batch": batch, "step_s": best_time(fn, dev, repeats),
                     "compile_s": round(compile_s, 2), "max_abs_diff": diff,
                     "reference_scale": float(reference.abs().max())})

    row("eager", lambda: head_gradient(*args))
    compiled = torch.compile(head_gradient)
    t0 = time.perf_counter()
    compiled(*args)  # compiles
    row("compiled", lambda: compiled(*args), time.perf_counter() - t0)
    if dev.type == "cuda":
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        try:
            row("eager, TF32", lambda: head_gradient(*args))
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
    eager = rows[0]["step_s"]
    for r in rows:
        r["speedup_vs_eager"] = eager / r["step_s"]
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compile_check",
                                description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--members", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(REPO_ROOT / "results" / "bench"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    frame = pd.DataFrame(run(a.device, a.members))
    write_csv(Path(a.out) / "compile.csv", frame)
    write_json(Path(a.out) / "compile_environment.json", environment_record(a.device))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
