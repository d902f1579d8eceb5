"""The chapter's experiments, built from its parameters: which members each sweep trains and
with which shared settings. Each function returns the trained results and a tidy frame."""

from __future__ import annotations

import torch

from lib.superposition import dynamics
from lib.superposition.analysis import results_frame
from lib.superposition.params import SuperpositionParams
from lib.superposition.sweep import Member, SweepConfig, SweepResult, train_sweep


def sweep_config(P: SuperpositionParams, which: str) -> SweepConfig:
    """The shared settings of the 'strong', 'weak' or 'phase' sweep."""
    if which == "phase":
        n, batch, steps, rule = P.phase_n_features, P.phase_batch, P.phase_steps, "exp10"
    else:
        n, batch, steps = P.n_features, P.batch, P.steps
        rule = P.strong_lr_rule if which == "strong" else P.weak_lr_rule
    return SweepConfig(n=n, batch=batch, steps=steps, lr_rule=rule,
                       final_window=max(1, steps // 10), init_seed=P.seed,
                       data_seed=P.seed + 1)


def strong_members(P: SuperpositionParams) -> list[Member]:
    """γ < 0, every frequency law × seed × width."""
    scale = P.exp_scale_frac * P.n_features
    laws = [("power", a) for a in P.power_alphas] + [("exponential", 1.0), ("linear", 1.0)]
    return [Member(m, P.strong_gamma, law, a, s, scale)
            for law, a in laws for s in range(P.n_seeds) for m in P.widths]


def weak_members(P: SuperpositionParams) -> list[Member]:
    """γ > 0, power laws with α > 1, every seed × width."""
    return [Member(m, P.weak_gamma, "power", a, s)
            for a in P.weak_alphas for s in range(P.weak_seeds) for m in P.widths]


def phase_members(P: SuperpositionParams) -> list[Member]:
    """One seed per (γ, α, width) cell: the grid of the phase diagram."""
    return [Member(m, g, "power", a, 0)
            for a in P.phase_alphas for g in P.phase_gammas for m in P.phase_widths]


def run_sweep(P: SuperpositionParams, which: str, device: torch.device,
              overlaps: bool = False) -> SweepResult:
    """Train the 'strong', 'weak' or 'phase' sweep in chunks and tabulate it."""
    members = {"strong": strong_members, "weak": weak_members, "phase": phase_members}[which](P)
    cfg = sweep_config(P, which)
    result = train_sweep(members, cfg, device, P.chunk_members)
    result.frame = results_frame(result.results, cfg.n, overlaps=overlaps)
    return result


def dynamics_config(P: SuperpositionParams) -> dynamics.DynamicsConfig:
    return dynamics.DynamicsConfig(n=P.dyn_features, bottleneck=P.dyn_bottleneck,
                                   batch=P.dyn_batch, steps=P.dyn_steps,
                                   reference_factor=P.dyn_reference_factor)


def dynamics_members(P: SuperpositionParams) -> list[dynamics.DynamicsMember]:
    """Both arms of every (a, b) setting for every dynamics seed ``P.seed + s``."""
    return dynamics.member_grid(list(zip(P.dyn_a, P.dyn_b, strict=True)),
                                [P.seed + s for s in range(P.dyn_seeds)])


def run_dynamics_all(P: SuperpositionParams, device: torch.device) -> list[dynamics.DynamicsRun]:
    """The dynamics sweep (:func:`dynamics_members`), batched; one run per member."""
    return dynamics.train_sweep(dynamics_members(P), dynamics_config(P), device, P.chunk_members)
