"""VICReg: each of the three terms on inputs whose answer is known, and the weighted sum."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.vicreg import VICReg, covariance_term, variance_term, vicreg_loss, vicreg_terms


def test_identical_views_have_no_invariance_cost():
    z = torch.randn(32, 6)
    assert vicreg_terms(z, z.clone())["invariance"].item() == 0.0


def test_collapse_is_penalised_by_the_variance_term():
    collapsed = torch.ones(32, 6) * 0.7  # every sample the same point
    eps = 1e-4
    assert variance_term(collapsed, eps=eps).item() == pytest.approx(1 - math.sqrt(eps), rel=1e-5)
    spread = torch.randn(256, 6, generator=torch.Generator().manual_seed(0)) * 3  # std ≈ 3 > γ
    assert variance_term(spread).item() == 0.0
    # the collapsed pair is worse overall even though its views agree perfectly
    assert vicreg_loss(collapsed, collapsed).item() > vicreg_loss(spread, spread).item()


def test_covariance_term_counts_off_diagonal_correlation():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(4096, 1, generator=g)
    twins = torch.cat([a, a], dim=1)  # two identical columns: off-diagonal cov = var ≈ 1
    var = a.var().item()
    assert covariance_term(twins).item() == pytest.approx(2 * var ** 2 / 2, rel=1e-4)
    independent = torch.randn(4096, 2, generator=g)
    assert covariance_term(independent).item() < 0.01
    # the variances themselves (the diagonal) never count, nor does the mean
    scaled = independent * torch.tensor([10.0, 0.1]) + 5
    assert covariance_term(scaled).item() == pytest.approx(covariance_term(independent).item(), rel=1e-3)


def test_loss_is_the_weighted_sum_of_the_terms():
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(16, 5, generator=g), torch.randn(16, 5, generator=g)
    t = vicreg_terms(z1, z2)
    expected = 2 * t["invariance"] + 3 * t["variance"] + 0.5 * t["covariance"]
    assert vicreg_loss(z1, z2, 2.0, 3.0, 0.5).item() == pytest.approx(expected.item(), rel=1e-6)


def test_loss_goes_down_on_learnable_embeddings():
    torch.manual_seed(0)
    z1 = (0.01 * torch.randn(32, 8)).requires_grad_()  # nearly collapsed, views apart
    z2 = (0.01 * torch.randn(32, 8)).requires_grad_()
    opt = torch.optim.Adam([z1, z2], lr=0.05)
    losses = []
    for _ in range(40):
        loss = vicreg_loss(z1, z2)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.3 * losses[0]


def test_training_step_logs_the_three_terms(make):
    m = make.method(VICReg)
    out = m.training_step(make.batch(8))
    assert set(out.logs) == {"invariance", "variance", "covariance"}
    t = out.logs
    assert out.loss.item() == pytest.approx(
        (25 * t["invariance"] + 25 * t["variance"] + t["covariance"]).item(), rel=1e-5)
    out.loss.backward()


def test_colour_images_and_preview(make):
    m = make.method(VICReg, shape=(3, 32, 32), expander_dim=64)
    assert math.isfinite(m.training_step(make.batch(4, (3, 32, 32))).loss.item())
    m.eval()
    with torch.no_grad():
        preview = m.previews(make.batch(6, (3, 32, 32)))["views"]
    assert len(preview.tiles) == len(preview.captions) == 18
