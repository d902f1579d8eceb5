"""One model at a time, the authors' way (liuyz0/DepthScaling ``exp/exp-9.py`` for a trained head,
``exp-9-3.py`` for the shared head, ``exp-9-4.py``/``exp-9-6.py`` for MSE):
an ``nn.Module`` student, ``torch.optim.Adam``, autograd, and the teacher re-run for every
student at every step. The tests train a member of a batched sweep next to this and require the
same weights; the benchmark times it against the sweep on the same work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lib.depth.model import mlps_per_layer, rmsnorm
from lib.depth.sweep import (
    Member,
    SweepConfig,
    base_lr,
    build_teacher,
    decays,
    init_student,
    input_stream,
    lr_factor,
)


class MLP(nn.Module):
    """c_proj(relu(c_fc(x))²), the authors' block MLP."""

    def __init__(self, w_fc: torch.Tensor, b_fc: torch.Tensor, w_proj: torch.Tensor) -> None:
        super().__init__()
        self.c_fc = nn.Linear(w_fc.shape[1], w_fc.shape[0], bias=True)
        self.c_proj = nn.Linear(w_proj.shape[1], w_proj.shape[0], bias=False)
        with torch.no_grad():
            self.c_fc.weight.copy_(w_fc)
            self.c_fc.bias.copy_(b_fc)
            self.c_proj.weight.copy_(w_proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.relu(self.c_fc(x)) ** 2)


class ToyResNet(nn.Module):
    """Pre-RMSNorm residual MLP stack (Euler blocks, or RK2 midpoint layers of two MLPs)."""

    def __init__(self, weights: dict[str, torch.Tensor], integrator: str = "euler") -> None:
        super().__init__()
        self.per = mlps_per_layer(integrator)
        self.mlps = nn.ModuleList(
            MLP(weights["w_fc"][i], weights["b_fc"][i], weights["w_proj"][i])
            for i in range(weights["w_fc"].shape[0])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = rmsnorm(x)  # (B, d)
        for k in range(0, len(self.mlps), self.per):
            if self.per == 1:
                h = h + self.mlps[k](rmsnorm(h))
            else:
                mid = h + 0.5 * self.mlps[k](rmsnorm(h))
                h = h + self.mlps[k + 1](rmsnorm(mid))
        return rmsnorm(h)  # (B, d)

    def weights(self) -> dict[str, torch.Tensor]:
        out = {
            "w_fc": torch.stack([m.c_fc.weight.detach() for m in self.mlps]),
            "b_fc": torch.stack([m.c_fc.bias.detach() for m in self.mlps]),
            "w_proj": torch.stack([m.c_proj.weight.detach() for m in self.mlps]),
        }
        if isinstance(getattr(self, "head", None), nn.Parameter):
            out["head"] = self.head.detach()
        return out


def train_alone(member: Member, cfg: SweepConfig, device: torch.device | str = "cpu",
                init: dict[str, torch.Tensor] | None = None) -> tuple[ToyResNet, list[float]]:
    """Train one student alone on its replicate's input stream; return it and its losses."""
    teacher_info = build_teacher(member.rho, member.replicate, cfg)
    teacher = ToyResNet(teacher_info.weights).to(device)
    trained = member.head == "trained"
    head = teacher_info.head_for(member.head).to(device)  # (d, V), the teacher's, fixed
    student = ToyResNet(init if init is not None else init_student(member, cfg),
                        member.integrator).to(device)
    params = list(student.parameters())
    if trained:  # exp-9: the student's own head, zero at initialisation, trained
        student.head = nn.Parameter(torch.zeros_like(head))
        params.append(student.head)
    lr = base_lr(member) * cfg.lr_multiplier
    opt = torch.optim.Adam(params, lr=lr)
    stream = input_stream(member.teacher_key, cfg, device)
    losses = []
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr * (lr_factor(step, cfg.steps) if decays(member) else 1.0)
        x = torch.randn((cfg.batch_size, head.shape[0]), generator=stream, device=device)
        with torch.no_grad():
            z_t = teacher(x)  # (B, d)
        z_s = student(x)
        if member.loss == "mse":
            loss = F.mse_loss(z_s, z_t)
        else:
            t_logp = F.log_softmax(z_t @ head / member.temperature, dim=-1)  # (B, V)
            s_logits = z_s @ student.head if trained else z_s @ head / member.temperature
            s_logp = F.log_softmax(s_logits, dim=-1)
            loss = F.kl_div(s_logp, t_logp, reduction="batchmean", log_target=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return student, losses
