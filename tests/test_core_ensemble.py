"""Batched optimisers: member k of a batched run equals the same model trained alone."""

import pytest
import torch

from lib.core.ensemble import BatchedAdam, BatchedSGD, make_optimizer


def _problem(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=g)
    y = torch.randn(64, 3, generator=g)
    w0 = torch.randn(5, 3, generator=g) * 0.1
    return x, y, w0


def _loss(w, x, y):
    return ((x @ w - y) ** 2).mean()


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_batched_matches_torch_optim_member_by_member(name):
    lrs = torch.tensor([1e-3, 3e-2, 1e-1, 0.3])
    problems = [_problem(s) for s in range(len(lrs))]
    w = torch.stack([p[2] for p in problems]).clone().requires_grad_(True)  # (M, 5, 3)
    opt = make_optimizer(name, [w], lrs)
    for _ in range(25):
        loss = sum(_loss(w[k], problems[k][0], problems[k][1]) for k in range(len(lrs)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for k, lr in enumerate(lrs.tolist()):
        x, y, w0 = problems[k]
        wk = w0.clone().requires_grad_(True)
        cls = torch.optim.Adam if name == "adam" else torch.optim.SGD
        ref = cls([wk], lr=lr)
        for _ in range(25):
            ref.zero_grad()
            _loss(wk, x, y).backward()
            ref.step()
        torch.testing.assert_close(w[k].detach(), wk.detach(), rtol=1e-5, atol=1e-6)


def test_masked_entries_stay_zero_and_unmasked_match_unpadded():
    """A width-2 model padded to width 4 trains exactly like the width-2 model alone."""
    x, y, _ = _problem(0)
    w_small = torch.randn(5, 2) * 0.1
    w_pad = torch.zeros(1, 5, 4)
    w_pad[0, :, :2] = w_small
    mask = torch.zeros(1, 5, 4)
    mask[0, :, :2] = 1
    w_pad.requires_grad_(True)
    opt = BatchedAdam([w_pad], torch.tensor([0.05]), masks=[mask])
    ws = w_small.clone().requires_grad_(True)
    ref = torch.optim.Adam([ws], lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        ((x @ w_pad[0])[:, :2].sub(y[:, :2]) ** 2).mean().backward()
        opt.step()
        ref.zero_grad()
        ((x @ ws - y[:, :2]) ** 2).mean().backward()
        ref.step()
    assert torch.all(w_pad[0, :, 2:] == 0)
    torch.testing.assert_close(w_pad[0, :, :2].detach(), ws.detach(), rtol=1e-5, atol=1e-6)


def test_sgd_schedule_scale_and_explicit_grads():
    p = torch.ones(2, 3)
    opt = BatchedSGD([p], torch.tensor([1.0, 2.0]))
    opt.step(grads=[torch.ones(2, 3)], scale=0.5)
    assert torch.allclose(p[0], torch.full((3,), 0.5))
    assert torch.allclose(p[1], torch.zeros(3))


def test_unknown_optimizer_names_parameter():
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("rmsprop", [torch.zeros(1, 1)], torch.ones(1))
