"""ES curvature chapter: batched sweeps against one-run-at-a-time loops, on the same work.

Two workloads, each with a ``members`` and a ``model_size`` series (and, outside quick mode on a
CPU, a ``chunk`` series showing where the chapter's chunk sizes come from):

- ``quadratic MC``: the Monte Carlo of Eq. 14 (population N = 10, 300 steps in quick mode).
  Members are replicates; the size knob is the number of modes D (the chapter's 128: 16 stiff +
  112 flat, scaled). Batched: chunks of ``CPU_MC_MEMBERS`` replicates (all at once on CUDA), one
  tensor op per step, as :func:`lib.es.experiments.monte_carlo_sweep` runs them. Loop: one
  replicate at a time.
- ``ES network``: ES fine-tuning of the digits MLP (N = 30, reward set of 100). Members are runs;
  the size knob is the hidden width (the chapter's 32). Batched:
  :func:`lib.es.estimator.train_sweep`, at most ``CPU_NETS_PER_CHUNK`` perturbed networks per
  program on a CPU. Loop: the authors' way (VsonicV/es-fine-tuning-paper): one model; per
  iteration and per perturbation draw the noise from the member's seed, perturb the parameters in
  place, score, restore; z-score; update.

``peak_mem_mb``: ``torch.cuda.max_memory_allocated`` on CUDA; on CPU the analytic size of what a
chunk holds (``quadratic.simulate_memory_bytes``, ``network.population_memory_bytes``).

    python -m benchmarks --only es [--device cuda] [--quick]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmarks.harness import Scaling, chunk_series, scaling_rows
from lib.core.sweep import chunk_size
from lib.es import quadratic
from lib.es.estimator import CPU_NETS_PER_CHUNK, Member, train_sweep, zscore
from lib.es.experiments import CPU_MC_MEMBERS
from lib.es.network import MLP, expected_accuracy, load_digits_task, population_memory_bytes

CHAPTER = "es_curvature"
POP_MC, POP_NET = 10, 30
ALPHA_MC, SIGMA_MC = 0.1, 1.0
ALPHA_NET, SIGMA_NET, REWARD_SET = 0.5, 0.05, 100


# ---- the quadratic Monte Carlo --------------------------------------------------------------


@dataclass(frozen=True)
class McWork:
    members: int
    spec: quadratic.Spectrum
    steps: int


def spectrum(dim: int) -> quadratic.Spectrum:
    """The chapter's two-block spectrum (1/8 stiff modes at λ = 1, 7/8 flat at λ = 0.05)."""
    return quadratic.Spectrum.two_block(dim // 8, 1.0, 1.0, dim - dim // 8, 0.05, 0.0)


def mc_chunk(work: McWork, device: torch.device, cpu_members: int = CPU_MC_MEMBERS) -> int:
    return chunk_size(device, work.members, 0, cpu_members)


def mc_batched(work: McWork, device: torch.device, cpu_members: int = CPU_MC_MEMBERS) -> None:
    pops = torch.full((work.members,), POP_MC)
    size = mc_chunk(work, device, cpu_members)
    for c, start in enumerate(range(0, work.members, size)):
        gen = torch.Generator(device=device).manual_seed(c)
        quadratic.simulate(work.spec, ALPHA_MC, SIGMA_MC, pops[start: start + size], work.steps,
                           gen)


def mc_loop(work: McWork, device: torch.device) -> None:
    pops = torch.full((work.members,), POP_MC)
    for m in range(work.members):
        gen = torch.Generator(device=device).manual_seed(m)
        quadratic.simulate(work.spec, ALPHA_MC, SIGMA_MC, pops[m: m + 1], work.steps, gen)


def mc_memory(work: McWork, mode: str, device: torch.device,
              cpu_members: int = CPU_MC_MEMBERS) -> int:
    size = 1 if mode == "loop" else mc_chunk(work, device, cpu_members)
    return quadratic.simulate_memory_bytes(size, work.spec.dim, work.steps)


def mc_scaling(quick: bool) -> Scaling:
    return Scaling(
        chapter=CHAPTER, workload=f"quadratic MC (N = {POP_MC})", size_knob="modes D",
        base_size=128, sizes=(128, 256, 512, 1024), size_members=16,
        steps=300 if quick else 2000,
        build=lambda members, dim, steps: McWork(members, spectrum(dim), steps),
        batched=mc_batched, loop=mc_loop, memory=mc_memory, chunk=mc_chunk,
        n_params=lambda dim: dim, quick_members=(1, 4, 16, 64, 256, 1024),
        quick_loop_members=(1, 4, 16, 64))


# ---- ES on the digits network ---------------------------------------------------------------


@dataclass(frozen=True)
class NetWork:
    mlp: MLP
    theta0: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    runs: list[Member]
    iters: int


_TASK = {}


def net_work(members: int, hidden: int, iters: int, device: torch.device) -> NetWork:
    if device.type not in _TASK:
        _TASK[device.type] = load_digits_task(0, 1200, REWARD_SET, 1).to(device)
    task = _TASK[device.type]
    mlp = MLP(hidden)
    theta0 = mlp.init(torch.Generator(device=device).manual_seed(0))
    return NetWork(mlp, theta0, task.x_reward, task.y_reward,
                   [Member(POP_NET, s) for s in range(members)], iters)


def net_nets_per_chunk(work: NetWork, device: torch.device,
                       nets_per_chunk: int = CPU_NETS_PER_CHUNK) -> int:
    """Perturbed networks in the largest chunk of :func:`train_sweep` (equal populations)."""
    total = POP_NET * len(work.runs)
    if device.type == "cuda":
        return total
    return min(total, POP_NET * max(1, nets_per_chunk // POP_NET))


def net_batched(work: NetWork, device: torch.device,
                nets_per_chunk: int = CPU_NETS_PER_CHUNK) -> None:
    def f(theta: torch.Tensor) -> torch.Tensor:
        return expected_accuracy(work.mlp, theta, work.x, work.y)

    train_sweep(f, work.theta0, work.runs, ALPHA_NET, SIGMA_NET, work.iters, work.iters,
                   nets_per_chunk=nets_per_chunk)


def net_loop(work: NetWork, device: torch.device) -> None:
    """One run at a time, one model evaluated per perturbation, as in the authors' code."""
    for run in work.runs:
        theta = work.theta0.clone()
        gen = torch.Generator(device=theta.device).manual_seed(run.seed)
        for _ in range(work.iters):
            seeds = torch.randint(0, 2**31 - 1, (run.pop_size,), generator=gen).tolist()
            rewards = torch.empty(run.pop_size, device=theta.device)
            for n, s in enumerate(seeds):
                g = torch.Generator(device=theta.device).manual_seed(s)
                noise = torch.randn(theta.shape, generator=g, device=theta.device)
                theta.add_(SIGMA_NET * noise)  # perturb in place
                rewards[n] = expected_accuracy(work.mlp, theta[None], work.x, work.y)[0]
                theta.sub_(SIGMA_NET * noise)  # restore
            z = zscore(rewards[None], torch.ones(1, run.pop_size, dtype=torch.bool,
                                                  device=theta.device))[0]
            update = torch.zeros_like(theta)
            for n, s in enumerate(seeds):  # regenerate each member's noise from its seed
                g = torch.Generator(device=theta.device).manual_seed(s)
                update.add_(torch.randn(theta.shape, generator=g, device=theta.device), alpha=z[n])
            theta.add_(ALPHA_NET / run.pop_size * update)


def net_memory(work: NetWork, mode: str, device: torch.device,
               nets_per_chunk: int = CPU_NETS_PER_CHUNK) -> int:
    nets = 1 if mode == "loop" else net_nets_per_chunk(work, device, nets_per_chunk)
    return population_memory_bytes(work.mlp, nets, REWARD_SET)


def net_scaling(quick: bool, device: torch.device) -> Scaling:
    return Scaling(
        chapter=CHAPTER, workload=f"ES network (N = {POP_NET}, digits MLP)",
        size_knob="hidden width", base_size=32,
        sizes=(32, 64, 128) if quick else (32, 64, 128, 256), size_members=4,
        steps=10 if quick else 50,
        build=lambda members, hidden, iters: net_work(members, hidden, iters, device),
        batched=net_batched, loop=net_loop, memory=net_memory,
        chunk=lambda w, dev: net_nets_per_chunk(w, dev) // POP_NET,
        n_params=lambda hidden: MLP(hidden).n_params)


# ---- chunk sizes (non-quick, CPU) -------------------------------------------------------------


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    dev = torch.device(device)
    rows = scaling_rows(mc_scaling(quick), dev, quick)
    rows += scaling_rows(net_scaling(quick, dev), dev, quick)
    if quick or dev.type == "cuda":
        return rows
    mc = McWork(1024, spectrum(128), 300)
    rows += chunk_series(
        CHAPTER, "quadratic MC, chapter chunk sizes (1024 replicates)", "chunk", 1024, 300,
        [32, CPU_MC_MEMBERS, 1024], CPU_MC_MEMBERS, lambda c: mc_batched(mc, dev, c),
        lambda: mc_loop(mc, dev), lambda mode, c: mc_memory(mc, mode, dev, c), dev,
        size_knob="modes D", size=128, model_size=128)
    net = net_work(12, 32, 50, dev)
    rows += chunk_series(
        CHAPTER, "ES network, chapter chunk sizes (12 runs)", "chunk", 12, 50,
        [POP_NET, CPU_NETS_PER_CHUNK, 12 * POP_NET], CPU_NETS_PER_CHUNK,
        lambda c: net_batched(net, dev, c), lambda: net_loop(net, dev),
        lambda mode, c: net_memory(net, mode, dev, c), dev, per_member=POP_NET,
        size_knob="hidden width", size=32, model_size=MLP(32).n_params)
    return rows
