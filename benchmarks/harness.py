"""Run every benchmark module, add the speed-up ratio and the environment, write the results.

Each module measures its chapter's batched sweep against the same work trained one model at a
time, in these series (the ``series`` column):

- ``members``: the members trained (1, 4, 16, 64, then on until a memory bound computed from the
  shapes or a time cap) at the chapter's model size; the loop at 1, 4, 16 (and on, outside quick
  mode, within the time cap);
- ``model_size``: the model's size knob doubled a few times at a fixed number of members
  (``model_size`` is the parameter count of one member, ``size`` the knob's value);
- ``chunk`` (non-quick, where a module has it): one sweep at several chunk sizes, where the
  chapter's CPU chunk size comes from (the speed-up uses the chapter's size, ``chapter_default``);
- ``paper`` (non-quick, CUDA, where a module has it): the paper's grid for a few steps.

Memory: ``peak_mem_mb`` is ``torch.cuda.max_memory_allocated`` on CUDA and, on a CPU, the analytic
size of what one chunk holds (``analytic_mem_mb``, from the topic's lib); ``rss_peak_mb`` is the
measured growth of the process's peak resident set during the run (Linux; the peak is reset
through ``/proc/self/clear_refs`` after returning freed heap with ``malloc_trim``): it includes
the allocator's slack and is noisy below a few MB.

Hardware use: ``flop_per_member_step`` is counted, not guessed: the workload is run once more
under ``torch.utils.flop_counter.FlopCounterMode`` (matmul-class operations, forward and
backward; elementwise work such as ``exp``, and sparse gathers and scatters, are not counted) and
divided by members × steps: the loop at :data:`FLOP_MEMBERS` members (its cost per member is
constant), the batched program at the largest number of members of the members series (it
shares teachers and data across a chunk, so its count per member falls as members grow).
``achieved_gflops`` is that count times the measured member-steps per second, and
``fraction_of_peak`` its ratio to ``peak_gflops``: the best float32 matrix product measured on the
same device, with the same threads, in the same run (:func:`matmul_peak_gflops`).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import pkgutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import Field

import benchmarks
from lib.core.fit import fit_loglog
from lib.core.params import ChapterParams
from lib.core.results import REPO_ROOT, environment_record, write_csv, write_json

QUICK_MEMBERS = (1, 4, 16, 64)  # the members series in quick mode
QUICK_LOOP_MEMBERS = (1, 4, 16)  # the loop is linear in members: three points show it
MAX_MEMBERS = 4096  # the members series stops here at the latest (non-quick)
TIME_CAP_S = 20.0  # non-quick: stop where a point's predicted wall time exceeds this
FLOP_MEMBERS = 2  # members of the loop run whose FLOPs are counted (the loop is linear in them)


class PerformanceParams(ChapterParams):
    """Parameters of the book's Performance page."""

    run_benchmarks: bool = Field(True, description="measure batched vs loop in this build")
    quick: bool = Field(True, description="short benchmark workloads (about a minute in all)")


# ---- timing and memory --------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Best wall and CPU seconds over the repeats; CUDA peak and CPU peak-RSS growth in MB."""

    wall_s: float
    cpu_s: float
    cuda_peak_mb: float | None
    rss_peak_mb: float | None
    repeats: int


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _start_rss() -> int | None:
    """Return freed heap to the OS, reset the peak RSS, and give the RSS now (kB); None where
    this is not Linux or the peak cannot be reset."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return _status_kb("VmRSS")
    except (OSError, AttributeError):
        return None


def timed(fn: Callable[[], object], device: torch.device, min_wall_s: float = 0.0,
          max_repeats: int = 1) -> Timing:
    """Run ``fn`` (again while the total stays under ``min_wall_s``, at most ``max_repeats``
    times) and keep the fastest wall and CPU time; memory is measured on the first run."""
    rss0 = _start_rss() if device.type == "cpu" else None
    best_wall = best_cpu = float("inf")
    cuda_peak = rss_peak = None
    total, n = 0.0, 0
    while n < max(1, max_repeats) and (n == 0 or total < min_wall_s):
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if n == 0:
            if device.type == "cuda":
                cuda_peak = torch.cuda.max_memory_allocated() / 2**20
            elif rss0 is not None:
                rss_peak = max(0, _status_kb("VmHWM") - rss0) / 1024
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
        total, n = total + wall, n + 1
    return Timing(best_wall, best_cpu, cuda_peak, rss_peak, n)


def memory_limit_bytes(device: torch.device) -> int:
    """What a point of the members series may hold: half the free GPU memory, or a quarter of
    the available RAM on a CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] // 2
    try:
        return _meminfo_kb("MemAvailable") * 1024 // 4
    except OSError:
        return 4 * 2**30


def _meminfo_kb(field: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/meminfo")


# ---- FLOPs and the device's peak -----------------------------------------------------------


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs that ``fn`` dispatches in matmul-class operations (mm, bmm, addmm, baddbmm,
    convolution, attention), forward and backward, as ``FlopCounterMode`` counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_peak_gflops(device: torch.device, n: int | None = None, repeats: int = 5,
                       tf32: bool = False) -> float:
    """The best rate of an ``n × n`` float32 matrix product on ``device`` (GFLOP/s): the
    practical peak the sweeps' float32 work is compared with. ``tf32`` allows TensorFloat-32 on
    CUDA for this measurement only (the sweeps keep PyTorch's default, full float32)."""
    n = n or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        a @ b  # warm-up
        best = timed(lambda: a @ b, device, min_wall_s=float("inf"), max_repeats=repeats).wall_s
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return 2 * n**3 / best / 1e9


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch (intra-op) threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def thread_peaks_gflops(threads: Sequence[int] = (1, 2)) -> dict[int, float]:
    """The CPU's float32 matmul peak (:func:`matmul_peak_gflops`) at each thread count: what a
    sweep run with that many threads is compared with."""
    out = {}
    for n in threads:
        with torch_threads(n):
            out[n] = matmul_peak_gflops(torch.device("cpu"))
    return out


def flop_per_member_step(s: Scaling, mode: str, size: int, device: torch.device,
                         members: int = FLOP_MEMBERS) -> float:
    """Counted FLOPs of one member-step of ``s`` in ``mode`` at ``size`` (see the module
    docstring); NaN where counting fails."""
    work = s.build(members, size, s.steps)
    fn = s.batched if mode == "batched" else s.loop
    try:
        return count_flops(lambda: fn(work, device)) / (members * s.steps)
    except RuntimeError:  # an op FlopCounterMode cannot run through
        return float("nan")


def add_hardware_use(frame: pd.DataFrame, peaks: dict[str, float]) -> pd.DataFrame:
    """``achieved_gflops`` and ``fraction_of_peak`` for the rows that have a FLOP count."""
    if frame.empty or "flop_per_member_step" not in frame:
        return frame
    frame = frame.copy()
    frame["achieved_gflops"] = frame["flop_per_member_step"] * frame["member_steps_per_s"] / 1e9
    frame["peak_gflops"] = frame["device"].map(peaks)
    frame["fraction_of_peak"] = frame["achieved_gflops"] / frame["peak_gflops"]
    return frame


def make_row(chapter: str, workload: str, series: str, mode: str, members: int, steps: int,
             timing: Timing, analytic_bytes: int, *, size_knob: str = "", size: float = 0,
             model_size: int = 0, chunk_members: int | None = None, **extra: Any) -> dict:
    """One benchmark row (the schema every module returns)."""
    analytic = analytic_bytes / 2**20
    on_cuda = timing.cuda_peak_mb is not None
    return {"chapter": chapter, "workload": workload, "series": series, "mode": mode,
            "members": members, "size_knob": size_knob, "size": size, "model_size": model_size,
            "steps": steps, "chunk_members": chunk_members,
            "wall_s": round(timing.wall_s, 6), "cpu_s": round(timing.cpu_s, 6),
            "member_steps_per_s": round(members * steps / timing.wall_s, 2),
            "peak_mem_mb": round(timing.cuda_peak_mb if on_cuda else analytic, 3),
            "mem_source": "cuda max allocated" if on_cuda else "analytic",
            "analytic_mem_mb": round(analytic, 3),
            "rss_peak_mb": None if timing.rss_peak_mb is None else round(timing.rss_peak_mb, 2),
            "repeats": timing.repeats, **extra}


def chunk_series(chapter: str, workload: str, series: str, members: int, steps: int,
                 sizes: Sequence[int], default: int, batched: Callable[[int], object],
                 loop: Callable[[], object], memory: Callable[[str, int], int],
                 device: torch.device, *, per_member: int = 1, **common: Any) -> list[dict]:
    """One sweep trained at several chunk sizes (``batched(size)``) and one model at a time
    (``loop()``): the rows that show where a chapter's chunk size comes from. ``sizes`` are in
    units of ``per_member`` (e.g. perturbed networks of an ES run); ``default`` is the chapter's
    size (flagged ``chapter_default``); ``memory(mode, size)`` the analytic peak in bytes."""
    rows = []
    for size in sizes:
        t = timed(lambda s=size: batched(s), device)
        rows.append(make_row(chapter, workload, series, "batched", members, steps, t,
                             memory("batched", size), chunk_members=max(1, size // per_member),
                             chapter_default=size == default, **common))
    t = timed(loop, device)
    rows.append(make_row(chapter, workload, series, "loop", members, steps, t,
                         memory("loop", 1), chunk_members=1, **common))
    return rows


# ---- the members and model-size series ----------------------------------------------------


@dataclass
class Scaling:
    """A workload measured both ways as members and model size grow.

    ``build(members, size, steps)`` makes the work (any object) for ``members`` members at the
    size knob's value ``size``; ``batched(work, device)`` trains it as the chapter does (chunked
    by device), ``loop(work, device)`` one model at a time the authors' way;
    ``memory(work, mode, device)`` is the analytic peak in bytes of what one chunk (batched) or
    one model (loop) holds; ``chunk(work, device)`` the members per chunk; ``n_params(size)``
    the parameters of one member.
    """

    chapter: str
    workload: str
    size_knob: str
    base_size: int  # the knob's value in the members series (the chapter's)
    sizes: Sequence[int]  # the knob's values in the model-size series
    size_members: int  # members in the model-size series
    steps: int
    build: Callable[[int, int, int], Any]
    batched: Callable[[Any, torch.device], object]
    loop: Callable[[Any, torch.device], object]
    memory: Callable[[Any, str, torch.device], int]
    chunk: Callable[[Any, torch.device], int]
    n_params: Callable[[int], int]
    quick_members: Sequence[int] = QUICK_MEMBERS  # cheap workloads may go further in quick mode
    quick_loop_members: Sequence[int] = QUICK_LOOP_MEMBERS


def members_series() -> list[int]:
    """1, 4, 16, … up to :data:`MAX_MEMBERS` (non-quick; the memory and time caps stop it)."""
    return [4**k for k in range(round(np.log(MAX_MEMBERS) / np.log(4)) + 1)]


def scaling_rows(s: Scaling, device: torch.device, quick: bool,
                 time_cap_s: float = TIME_CAP_S) -> list[dict]:
    """Rows of the ``members`` and ``model_size`` series of ``s`` (batched and loop, same work,
    same steps and seeds at every point). The series stops where the analytic memory exceeds
    :func:`memory_limit_bytes` or, outside quick mode, beyond the quick mode's members (1, 4, 16,
    64; loop 1, 4, 16), where the wall time predicted from the previous point (cost linear in
    members) exceeds ``time_cap_s``. Every model size is measured."""
    limit = memory_limit_bytes(device)
    done: dict[tuple[str, int, int], tuple[Timing, int, int]] = {}

    def measure(mode: str, members: int, size: int) -> tuple[Timing, int, int] | None:
        if (mode, members, size) in done:
            return done[(mode, members, size)]
        work = s.build(members, size, s.steps)
        mem = s.memory(work, mode, device)
        if mem > limit:
            return None
        fn = s.batched if mode == "batched" else s.loop
        try:
            timing = timed(lambda: fn(work, device), device, min_wall_s=0.3, max_repeats=3)
        except torch.cuda.OutOfMemoryError:  # the analytic size undercounts temporaries
            torch.cuda.empty_cache()
            print(f"{s.chapter}: {mode} out of GPU memory at {members} members, size {size}")
            return None
        out = (timing, mem, s.chunk(work, device) if mode == "batched" else 1)
        done[(mode, members, size)] = out
        return out

    # warm up both code paths (kernels, caches) on a tiny run
    tiny = s.build(1, s.base_size, 2)
    s.batched(tiny, device)
    s.loop(tiny, device)

    rows = []

    def add(series: str, mode: str, members: int, size: int, got: tuple) -> None:
        timing, mem, chunk = got
        rows.append(make_row(s.chapter, s.workload, series, mode, members, s.steps, timing, mem,
                             size_knob=s.size_knob, size=size, model_size=s.n_params(size),
                             chunk_members=chunk))

    def sweep(series: str, mode: str, points: list[tuple[int, int]],
              always: Sequence[int] = ()) -> None:
        last = None  # (members × size, wall) of the previous point
        for members, size in points:
            predicted = last[1] * members * size / last[0] if last else 0.0
            if not quick and members not in always and predicted > time_cap_s:
                break
            got = measure(mode, members, size)
            if got is None:  # over the memory bound: larger points are too
                break
            add(series, mode, members, size, got)
            last = (members * size, got[0].wall_s)

    grow = list(s.quick_members) if quick else members_series()
    loop_grow = list(s.quick_loop_members) if quick else grow
    sweep("members", "batched", [(m, s.base_size) for m in grow], always=s.quick_members)
    sweep("members", "loop", [(m, s.base_size) for m in loop_grow],
          always=s.quick_loop_members)
    for mode in ("batched", "loop"):  # every size: the time cap does not apply here
        sweep("model_size", mode, [(s.size_members, z) for z in sorted(s.sizes)],
              always=[s.size_members])
    # counted FLOPs: the loop's per member-step is the same at any number of members; the
    # batched program shares work (teachers, data) across a chunk, so it is counted at the
    # largest number of members measured, the point the Performance page reports
    loop_flops = flop_per_member_step(s, "loop", s.base_size, device)
    batched = [r for r in rows if r["series"] == "members" and r["mode"] == "batched"]
    top = max(batched, key=lambda r: r["members"]) if batched else None
    for row in rows:
        if row["series"] == "members" and row["mode"] == "loop":
            row["flop_per_member_step"] = loop_flops
    if top is not None:
        top["flop_per_member_step"] = flop_per_member_step(s, "batched", s.base_size, device,
                                                           members=top["members"])
    return rows


# ---- collecting and summarising -----------------------------------------------------------


def modules(only: list[str] | None = None) -> list[str]:
    """Names of the ``bench_*`` modules, optionally filtered by topic (``bench_<topic>``)."""
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    return [n for n in names if not only or n.removeprefix("bench_") in only]


def collect(devices: list[str], quick: bool, only: list[str] | None = None) -> pd.DataFrame:
    """Run the benchmarks on each device; one row per (workload, series, mode, members, size)."""
    rows = []
    peaks = {}
    for device in devices:
        peaks[device] = matmul_peak_gflops(torch.device(device))
        for name in modules(only):
            module = importlib.import_module(f"benchmarks.{name}")
            t0 = time.time()
            for row in module.run(device=device, quick=quick):
                rows.append({"device": device, "module": name, **row})
            print(f"{name:<24} {device:<5} {time.time() - t0:6.1f} s", flush=True)
    return add_hardware_use(pd.DataFrame(rows), peaks)


def device_peaks(frame: pd.DataFrame, devices: list[str]) -> dict[str, float]:
    """The float32 matmul peak of each device, as measured by :func:`collect`, and TF32's on
    CUDA (measured here), for the environment record."""
    out = {}
    for device in devices:
        if "peak_gflops" in frame:
            peak = frame.loc[frame["device"] == device, "peak_gflops"].dropna()
            if not peak.empty:
                out[f"{device}_fp32_matmul_gflops"] = round(float(peak.iloc[0]), 1)
        if torch.device(device).type == "cuda":
            out[f"{device}_tf32_matmul_gflops"] = round(
                matmul_peak_gflops(torch.device(device), tf32=True), 1)
    return out


SPEEDUP_KEYS = ["device", "chapter", "workload", "series", "members", "size", "steps"]


def speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """Loop wall time / batched wall time wherever the same work was measured both ways (in a
    ``chunk`` series: the chapter's chunk size, not the best one)."""
    if frame.empty or not {"batched", "loop"} <= set(frame["mode"]):
        return pd.DataFrame()
    frame = frame.copy()
    for key in ("series", "size"):
        if key not in frame:
            frame[key] = "" if key == "series" else 0
    if "chapter_default" in frame:
        frame = frame[~frame["chapter_default"].eq(False)]
    wide = frame.pivot_table(index=SPEEDUP_KEYS, columns="mode", values="wall_s", aggfunc="min")
    wide = wide.dropna(subset=["batched", "loop"]).reset_index()
    wide["speedup"] = wide["loop"] / wide["batched"]
    wide.columns.name = None
    return wide.rename(columns={"batched": "batched_s", "loop": "loop_s"})


def scaling_exponents(frame: pd.DataFrame, series: str = "members", x: str = "members",
                      y: str = "wall_s", min_x: float = 4) -> pd.DataFrame:
    """Slope of ``log y`` against ``log x`` (``lib.core.fit.fit_loglog``) for each device,
    chapter, workload and mode of a series, over the points with ``x >= min_x``: for the wall
    time against members, 1 means cost linear in members, below 1 that batching amortises."""
    cols = ["device", "chapter", "workload", "mode", "slope", "stderr", "r2", "n_points",
            "x_min", "x_max"]
    if frame.empty or "series" not in frame:
        return pd.DataFrame(columns=cols)
    part = frame[(frame["series"] == series) & (frame[x] >= min_x)]
    out = []
    for key, g in part.groupby(["device", "chapter", "workload", "mode"]):
        g = g.dropna(subset=[x, y])
        if g[x].nunique() < 2:
            continue
        xs, ys = g[x].to_numpy(float), g[y].to_numpy(float)
        if len(g) >= 3:
            fit = fit_loglog(xs, ys)
            slope, stderr, r2, n = -fit.exponent, fit.stderr, fit.r2, fit.n
        else:  # two timings: their slope describes the cost, with no error estimate
            slope = float(np.diff(np.log(ys))[0] / np.diff(np.log(xs))[0])
            stderr, r2, n = float("nan"), float("nan"), 2
        out.append({**dict(zip(cols[:4], key, strict=True)), "slope": slope,
                    "stderr": stderr, "r2": r2, "n_points": n,
                    "x_min": g[x].min(), "x_max": g[x].max()})
    return pd.DataFrame(out, columns=cols)


def available_devices(requested: str) -> list[str]:
    if requested == "all":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [requested]


def write(frame: pd.DataFrame, folder: Path, device_names: list[str]) -> None:
    write_csv(folder / "bench.csv", frame)
    write_csv(folder / "speedup.csv", speedups(frame))
    write_csv(folder / "scaling.csv", pd.concat(
        [scaling_exponents(frame).assign(series="members", x="members"),
         scaling_exponents(frame, "model_size", "model_size", min_x=0).assign(
             series="model_size", x="model_size")]))
    env = environment_record("cuda" if "cuda" in device_names else "cpu")
    env["matmul_peaks"] = device_peaks(frame, device_names)
    env["threads"] = torch.get_num_threads()
    write_json(folder / "environment.json", env)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short workloads (about a minute in all)")
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
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(speedups(frame).to_string(index=False))
        print(scaling_exponents(frame).round(3).to_string(index=False))
    print(f"written: {args.out}/bench.csv, speedup.csv, scaling.csv, environment.json")
    return 0
