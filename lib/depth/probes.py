"""How a trained student uses its layers (arXiv 2602.05970, §2 hidden-state probes, applied to
the toy): the angle between successive residual updates, the size of each update, and what
happens to the loss when middle layers are dropped or shuffled.

Signatures the paper reads (Pythia-410m, Fig. 2): successive updates ``Δh_l = h_{l+1} − h_l`` are
nearly orthogonal, ``θ(Δh_l, Δh_{l+1}) ≈ π/2`` (ensemble averaging of similar but independent
corrections), whereas discretised smooth dynamics move in nearly the same direction from one
layer to the next (θ small); update sizes fall like 1/ℓ when ℓ layers share the work.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from lib.depth.model import forward, kl_to_teacher, mse_to_teacher, stack_members
from lib.depth.sweep import SweepConfig, SweepResult, Teacher, build_teacher, test_inputs


def residual_stream(weights: dict[str, torch.Tensor], x: torch.Tensor,
                    integrator: str = "euler") -> torch.Tensor:
    """States ``[h_0, …, h_ℓ]`` (ℓ+1, B, d) of one student on inputs ``x`` (B, d)."""
    with torch.no_grad():
        _, states = forward(stack_members([weights], integrator), x[None], record=True)
    return torch.stack([s[0] for s in states])


def angles(u: torch.Tensor, v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Angle in radians between rows of ``u`` and ``v`` (…, d) -> (…)."""
    cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1)).clamp_min(eps)
    return torch.arccos(cos.clamp(-1.0, 1.0))


def successive_update_angles(states: torch.Tensor) -> np.ndarray:
    """Token-averaged ``θ(Δh_l, Δh_{l+1})`` for l = 0 … ℓ−2: (ℓ−1,) radians."""
    delta = states[1:] - states[:-1]  # (ℓ, B, d)
    return angles(delta[:-1], delta[1:]).mean(-1).numpy()


def update_rms(states: torch.Tensor) -> np.ndarray:
    """Token-averaged RMS of each update ``Δh_l`` (the input ``h_0`` has RMS 1): (ℓ,)."""
    delta = states[1:] - states[:-1]  # (ℓ, B, d)
    return delta.square().mean(-1).sqrt().mean(-1).numpy()


def middle_layers(depth: int) -> list[int]:
    """Layers other than the first and the last (the paper's "middle layers")."""
    return list(range(1, depth - 1))


def select_layers(weights: dict[str, torch.Tensor], layers: list[int]) -> dict[str, torch.Tensor]:
    """A student made of ``layers`` of ``weights`` in the given order (Euler blocks); a trained
    head (``weights["head"]``, exp-9 setup) is kept as it is."""
    idx = torch.tensor(layers, dtype=torch.long)
    return {k: (v if k == "head" else v[idx]) for k, v in weights.items()}


def student_loss(weights: dict[str, torch.Tensor], x: torch.Tensor, z_teacher: torch.Tensor,
                 head: torch.Tensor, loss: str = "kl", temperature: float = 1.0) -> float:
    """Loss of one (Euler) student on inputs ``x`` (B, d) against the teacher's normalised
    output ``z_teacher`` (B, d) through the teacher's ``head`` (d, V). A student with its own
    trained head (``weights["head"]``, exp-9) uses it, its logits not divided by T; otherwise
    it shares the teacher's head and temperature (exp-9-3)."""
    with torch.no_grad():
        z_s = forward(stack_members([weights]), x[None])[0]  # (1, B, d)
        if loss == "mse":
            return float(mse_to_teacher(z_s, z_teacher[None])[0])
        t_logp = torch.log_softmax(z_teacher[None] @ head / temperature, dim=-1)  # (1, B, V)
        s_logits = z_s @ weights["head"] if "head" in weights else z_s @ head / temperature
        return float(kl_to_teacher(s_logits, t_logp)[0])


def teacher_output(teacher: Teacher, x: torch.Tensor) -> torch.Tensor:
    """The teacher's normalised output (B, d) on inputs ``x`` (B, d)."""
    with torch.no_grad():
        return forward(stack_members([teacher.weights]), x[None])[0][0]


def ablations(weights: dict[str, torch.Tensor], teacher: Teacher, x: torch.Tensor,
              n_permutations: int, seed: int = 0, loss: str = "kl",
              temperature: float = 1.0, setup: str = "shared") -> dict[str, float]:
    """Relative loss increase ``L_ablated / L − 1`` when one middle layer is dropped (mean over
    the middle layers) and when the middle layers are randomly shuffled (mean over
    ``n_permutations`` shuffles). Interchangeable layers give a shuffle cost near 0."""
    depth = weights["w_fc"].shape[0]
    mid = middle_layers(depth)
    z_t = teacher_output(teacher, x)
    head = teacher.head_for(setup)

    def cost(layers: list[int]) -> float:
        return student_loss(select_layers(weights, layers), x, z_t, head, loss, temperature)

    base = cost(list(range(depth)))
    drop = [cost([i for i in range(depth) if i != j]) for j in mid]
    rng = np.random.default_rng(seed)
    shuffled = [cost([0] + [mid[i] for i in rng.permutation(len(mid))] + [depth - 1])
                for _ in range(n_permutations)]
    return {
        "loss": base,
        "drop_one_middle": float(np.mean(drop)) / base - 1 if drop else math.nan,
        "shuffle_middle": float(np.mean(shuffled)) / base - 1 if mid else math.nan,
    }


def probe_table(weights: dict[str, torch.Tensor], x: torch.Tensor) -> pd.DataFrame:
    """Per layer of one student: update RMS, RMS × depth, and the angle to the next update."""
    states = residual_stream(weights, x)
    depth = states.shape[0] - 1
    theta = successive_update_angles(states)
    rms = update_rms(states)
    return pd.DataFrame({
        "layer": np.arange(depth),
        "relative_position": (np.arange(depth) + 0.5) / depth,
        "update_rms": rms,
        "update_rms_x_depth": rms * depth,
        "angle_to_next": np.r_[theta, np.nan],
    })


def _members_at(result: SweepResult, depth: int | None, temperature: float | None
                ) -> list[int]:
    return [i for i, m in enumerate(result.members)
            if result.ok[i] and m.integrator == "euler"
            and (depth is None or m.depth == depth)
            and (temperature is None or m.temperature == temperature)]


def probe_sweep(result: SweepResult, cfg: SweepConfig, n_tokens: int,
                temperature: float | None = None) -> pd.DataFrame:
    """:func:`probe_table` for every finite Euler member (at ``temperature``), on the first
    ``n_tokens`` test inputs of its replicate; one row per (member, layer)."""
    frames = []
    for i in _members_at(result, None, temperature):
        m = result.members[i]
        x = test_inputs(m.teacher_key, cfg)[:n_tokens]
        f = probe_table(result.weights[i], x)
        f.insert(0, "depth", m.depth)
        f.insert(0, "replicate", m.replicate)
        f.insert(0, "rho", m.rho)
        frames.append(f)
    if not frames:  # every student diverged: an empty (numeric) table, not an error
        return pd.DataFrame(columns=["rho", "replicate", "depth", "layer", "relative_position",
                                     "update_rms", "update_rms_x_depth", "angle_to_next"],
                            dtype=float)
    return pd.concat(frames, ignore_index=True)


def ablation_sweep(result: SweepResult, cfg: SweepConfig, depth: int, n_tokens: int,
                   n_permutations: int, temperature: float | None = None) -> pd.DataFrame:
    """:func:`ablations` for every finite Euler member of ``depth``; one row per member."""
    rows = []
    for i in _members_at(result, depth, temperature):
        m = result.members[i]
        teacher = build_teacher(m.rho, m.replicate, cfg)
        x = test_inputs(m.teacher_key, cfg)[:n_tokens]
        out = ablations(result.weights[i], teacher, x, n_permutations, seed=cfg.seed + i,
                        loss=m.loss, temperature=m.temperature, setup=m.head)
        rows.append({"rho": m.rho, "replicate": m.replicate, "depth": m.depth, **out})
    columns = ["rho", "replicate", "depth", "loss", "drop_one_middle", "shuffle_middle"]
    if not rows:  # every student of this depth diverged: an empty (numeric) table
        return pd.DataFrame(columns=columns, dtype=float)
    return pd.DataFrame(rows, columns=columns)
