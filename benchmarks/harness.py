"""Run every benchmark module, add the speed-up ratio and the environment, write the results."""

from __future__ import annotations

import importlib
import os
import pkgutil
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from pydantic import Field

import benchmarks
from lib.core.params import ChapterParams
from lib.core.results import REPO_ROOT, environment_record, write_csv, write_json


class PerformanceParams(ChapterParams):
    """Parameters of the book's Performance page."""

    run_benchmarks: bool = Field(True, description="measure batched vs loop in this build")
    quick: bool = Field(True, description="short benchmark workloads (about a minute each)")


def timed(fn: Callable[[], object], device: torch.device) -> tuple[float, float, float | None]:
    """Wall and CPU seconds of ``fn()``, and the CUDA peak memory in MB (None on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    return wall, cpu, peak


def modules(only: list[str] | None = None) -> list[str]:
    """Names of the ``bench_*`` modules, optionally filtered by topic (``bench_<topic>``)."""
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    return [n for n in names if not only or n.removeprefix("bench_") in only]


def collect(devices: list[str], quick: bool, only: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmarks on each device; one row per (workload, mode, members)."""
    rows = []
    for device in devices:
        for name in modules(only):
            module = importlib.import_module(f"benchmarks.{name}")
            t0 = time.time()
            for row in module.run(device=device, quick=quick):
                rows.append({"device": device, "module": name, **row})
            print(f"{name:<24} {device:<5} {time.time() - t0:6.1f} s", flush=True)
    return pd.DataFrame(rows)


def speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """Loop wall time / batched wall time for each workload measured both ways."""
    if frame.empty:
        return frame
    keys = ["device", "chapter", "workload", "members", "steps"]
    wide = frame.pivot_table(index=keys, columns="mode", values="wall_s", aggfunc="min")
    if not {"batched", "loop"} <= set(wide.columns):
        return pd.DataFrame()
    wide = wide.dropna(subset=["batched", "loop"]).reset_index()
    wide["speedup"] = wide["loop"] / wide["batched"]
    return wide.rename(columns={"batched": "batched_s", "loop": "loop_s"})


def available_devices(requested: str) -> list[str]:
    if requested == "all":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [requested]


def write(frame: pd.DataFrame, folder: Path, device_names: list[str]) -> None:
    write_csv(folder / "bench.csv", frame)
    write_csv(folder / "speedup.csv", speedups(frame))
    write_json(folder / "environment.json",
               environment_record("cuda" if "cuda" in device_names else "cpu"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="short workloads (about a minute each)")
    p.add_argument("--device", default="all", choices=("cpu", "cuda", "all"))
    p.add_argument("--only", nargs="+", metavar="TOPIC", help="e.g. one_third superposition")
    p.add_argument("--out", default=str(REPO_ROOT / "results" / "bench"))
    args = p.parse_args(argv)
    # one torch thread unless BOOK_THREADS says otherwise: on 2 busy cores these small sweeps
    # run many times slower (in CPU time too) with two threads spinning
    torch.set_num_threads(int(os.environ.get("BOOK_THREADS", "1")))
    devices = available_devices(args.device)
    frame = collect(devices, args.quick, args.only)
    write(frame, Path(args.out), devices)
    print(speedups(frame).to_string(index=False))
    print(f"written: {args.out}/bench.csv, speedup.csv, environment.json")
    return 0
