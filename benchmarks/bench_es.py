"""ES curvature chapter: batched sweeps against one-run-at-a-time loops, on the same work.

- ``quadratic_mc``: the Monte Carlo of Eq. 14 (128 modes). Batched: members (replicates) in
  chunks of ``CPU_MC_MEMBERS`` (all at once on CUDA), one tensor op per step. Loop: one replicate
  at a time. Extra batched rows at other chunk sizes show where the CPU chunk size comes from.
- ``es_network``: ES fine-tuning of the digits MLP (width 32, N = 30, reward set of 100).
  Batched: :func:`lib.es.estimator.run_es_chunked`, every run's population one tensor program.
  Loop: the authors' way (VsonicV/es-fine-tuning-paper): one model; per iteration and per
  perturbation draw the noise from the member's seed, perturb the parameters in place, score,
  restore; z-score; update.

``peak_mem_mb``: ``torch.cuda.max_memory_allocated`` on CUDA; on CPU the analytic size of what a
chunk holds (``quadratic.simulate_memory_bytes``, ``network.population_memory_bytes``).
"""

from __future__ import annotations

import time

import torch

from lib.es import quadratic
from lib.es.estimator import CPU_NETS_PER_CHUNK, EsRun, run_es_chunked, zscore
from lib.es.experiments import CPU_MC_MEMBERS
from lib.es.network import MLP, expected_accuracy, load_digits_task, population_memory_bytes

CHAPTER = "es_curvature"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> tuple[float, float | None]:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return wall, peak


def _row(workload: str, mode: str, members: int, steps: int, wall: float, mem_mb: float,
         **extra) -> dict:
    return {"chapter": CHAPTER, "workload": workload, "mode": mode, "members": members,
            "steps": steps, "wall_s": wall, "member_steps_per_s": members * steps / wall,
            "peak_mem_mb": mem_mb, **extra}


def bench_quadratic(device: torch.device, members: int, steps: int) -> list[dict]:
    spec = quadratic.Spectrum.two_block(16, 1.0, 1.0, 112, 0.05, 0.0)
    pops = torch.full((members,), 10)

    def batched(chunk: int) -> None:
        size = members if device.type == "cuda" else chunk
        for start in range(0, members, size):
            gen = torch.Generator(device=device).manual_seed(start)
            quadratic.simulate(spec, 0.1, 1.0, pops[start: start + size], steps, gen)

    def loop() -> None:
        for m in range(members):
            gen = torch.Generator(device=device).manual_seed(m)
            quadratic.simulate(spec, 0.1, 1.0, pops[m: m + 1], steps, gen)

    rows = []
    chunks = [CPU_MC_MEMBERS] if device.type == "cuda" else sorted({32, CPU_MC_MEMBERS, 1024})
    for chunk in chunks:
        wall, peak = _timed(lambda c=chunk: batched(c), device)
        size = members if device.type == "cuda" else min(chunk, members)
        mem = peak if peak is not None else quadratic.simulate_memory_bytes(size, spec.dim,
                                                                            steps) / 2**20
        workload = "quadratic_mc" if chunk == CPU_MC_MEMBERS else f"quadratic_mc[chunk={chunk}]"
        rows.append(_row(workload, "batched", members, steps, wall, mem, chunk=size))
    wall, peak = _timed(loop, device)
    mem = peak if peak is not None else quadratic.simulate_memory_bytes(1, spec.dim, steps) / 2**20
    rows.append(_row("quadratic_mc", "loop", members, steps, wall, mem, chunk=1))
    return rows


def _es_loop(mlp: MLP, theta0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, runs: list[EsRun],
             alpha: float, sigma: float, iters: int) -> None:
    """One run at a time, one model evaluated per perturbation, as in the authors' code."""
    for run in runs:
        theta = theta0.clone()
        gen = torch.Generator(device=theta.device).manual_seed(run.seed)
        for _ in range(iters):
            seeds = torch.randint(0, 2**31 - 1, (run.pop_size,), generator=gen).tolist()
            rewards = torch.empty(run.pop_size, device=theta.device)
            for n, s in enumerate(seeds):
                g = torch.Generator(device=theta.device).manual_seed(s)
                noise = torch.randn(theta.shape, generator=g, device=theta.device)
                theta.add_(sigma * noise)  # perturb in place
                rewards[n] = expected_accuracy(mlp, theta[None], x, y)[0]
                theta.sub_(sigma * noise)  # restore
            z = zscore(rewards[None], torch.ones(1, run.pop_size, dtype=torch.bool,
                                                  device=theta.device))[0]
            update = torch.zeros_like(theta)
            for n, s in enumerate(seeds):  # regenerate each member's noise from its seed
                g = torch.Generator(device=theta.device).manual_seed(s)
                update.add_(torch.randn(theta.shape, generator=g, device=theta.device), alpha=z[n])
            theta.add_(alpha / run.pop_size * update)


def bench_network(device: torch.device, runs_n: int, iters: int) -> list[dict]:
    task = load_digits_task(0, 1200, 100, 1).to(device)
    mlp = MLP(32)
    theta0 = mlp.init(torch.Generator(device=device).manual_seed(0))
    runs = [EsRun(30, s) for s in range(runs_n)]

    def f(theta: torch.Tensor) -> torch.Tensor:
        return expected_accuracy(mlp, theta, task.x_reward, task.y_reward)

    rows = []
    sizes = [CPU_NETS_PER_CHUNK] if device.type == "cuda" else sorted({30, CPU_NETS_PER_CHUNK,
                                                                       30 * runs_n})
    for nets in sizes:
        wall, peak = _timed(lambda n=nets: run_es_chunked(f, theta0, runs, 0.5, 0.05, iters,
                                                          iters, nets_per_chunk=n), device)
        in_chunk = 30 * runs_n if device.type == "cuda" else min(30 * runs_n, max(30, nets))
        mem = peak if peak is not None else population_memory_bytes(mlp, in_chunk, 100) / 2**20
        workload = "es_network" if nets == CPU_NETS_PER_CHUNK else f"es_network[nets={nets}]"
        rows.append(_row(workload, "batched", runs_n, iters, wall, mem, chunk=in_chunk))
    wall, peak = _timed(lambda: _es_loop(mlp, theta0, task.x_reward, task.y_reward, runs, 0.5,
                                         0.05, iters), device)
    mem = peak if peak is not None else population_memory_bytes(mlp, 1, 100) / 2**20
    rows.append(_row("es_network", "loop", runs_n, iters, wall, mem, chunk=1))
    return rows


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    if quick:
        return bench_quadratic(dev, members=256, steps=300) + bench_network(dev, 6, 10)
    return bench_quadratic(dev, members=1024, steps=2000) + bench_network(dev, 12, 50)
