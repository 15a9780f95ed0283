"""BYOL: the normalised-MSE loss, the τ schedule and the frozen EMA target."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.byol import BYOL, byol_loss, target_momentum


def test_loss_values():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert byol_loss(p, p * 3).item() == pytest.approx(0.0, abs=1e-6)  # aligned: 0, any scale
    assert byol_loss(p, -p).item() == pytest.approx(4.0)  # opposite: 4
    assert byol_loss(p, p.flip(1)).item() == pytest.approx(2.0)  # orthogonal: 2
    # equals the squared distance of the unit vectors
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    dist = ((a / a.norm(dim=1, keepdim=True) - b / b.norm(dim=1, keepdim=True)) ** 2).sum(1).mean()
    assert byol_loss(a, b).item() == pytest.approx(dist.item(), rel=1e-5)


@pytest.mark.slow  # ~7 s of optimisation
def test_loss_goes_down_on_learnable_predictions():
    torch.manual_seed(0)
    p = torch.randn(16, 8, requires_grad=True)
    z = torch.randn(16, 8)
    opt = torch.optim.Adam([p], lr=0.05)
    losses = []
    for _ in range(30):
        loss = byol_loss(p, z)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.3 * losses[0]


def test_momentum_schedule_rises_from_base_to_one():
    taus = [target_momentum(s, 100, 0.99) for s in range(101)]
    assert taus[0] == pytest.approx(0.99) and taus[-1] == pytest.approx(1.0)
    assert taus[50] == pytest.approx(0.995)
    assert all(a <= b for a, b in zip(taus, taus[1:]))
    assert target_momentum(500, 100, 0.9) == pytest.approx(1.0)  # clamped past the end


def test_target_is_frozen_and_gets_no_gradient(make):
    m = make.method(BYOL)
    assert not any(p.requires_grad for p in m.target.parameters())
    out = m.training_step(make.batch(8))
    out.loss.backward()
    assert all(p.grad is None for p in m.target.parameters())
    assert all(p.grad is not None for p in m.predictor.parameters())
    assert 0 <= out.loss.item() <= 8  # two terms, each in [0, 4]


def test_target_follows_the_online_network_by_ema(make):
    m = make.method(BYOL, tau_base=0.9)
    online = list(m.backbone.parameters()) + list(m.projector.parameters())
    with torch.no_grad():
        for p in online:
            p.add_(1.0)
    before = [p.clone() for p in m.target.parameters()]
    m.on_step_end(0, 10)  # first step: τ = τ_base
    assert m.tau == pytest.approx(0.9)
    for b, t, o in zip(before, m.target.parameters(), online):
        assert torch.allclose(t, 0.9 * b + 0.1 * o, atol=1e-6)
    m.on_step_end(10, 10)  # last step: τ = 1, the target stays put
    frozen = [p.clone() for p in m.target.parameters()]
    with torch.no_grad():
        for p in online:
            p.add_(1.0)
    m.on_step_end(10, 10)
    assert all(torch.equal(a, b) for a, b in zip(frozen, m.target.parameters()))


def test_colour_images_and_preview(make):
    m = make.method(BYOL, shape=(3, 32, 32))
    assert math.isfinite(m.training_step(make.batch(4, (3, 32, 32))).loss.item())
    m.eval()
    with torch.no_grad():
        preview = m.previews(make.batch(6, (3, 32, 32)))["views"]
    assert len(preview.tiles) == len(preview.captions) == 18
