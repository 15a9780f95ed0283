"""Tests of the pure loss functions beside each method (solo-learn style)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from plugins.rotation import all_rotations, rotation_loss
from plugins.simclr import nt_xent
from workbench.nn.losses import reconstruction_loss


def nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> float:
    """NT-Xent written out with loops over the 2N views, as in the SimCLR paper (eq. 1)."""
    views = [F.normalize(v, dim=0) for v in torch.cat([z1, z2]).double()]
    n = len(z1)
    total = 0.0
    for i, zi in enumerate(views):
        twin = i + n if i < n else i - n
        denom = 0.0
        for k, zk in enumerate(views):
            if k != i:
                denom += math.exp(float(zi @ zk) / temperature)
        total += -math.log(math.exp(float(zi @ views[twin]) / temperature) / denom)
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_reference(temperature):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    got = nt_xent(z1, z2, temperature).item()
    assert got == pytest.approx(nt_xent_reference(z1, z2, temperature), rel=1e-5)


def test_nt_xent_identical_orthogonal_twins_beat_random():
    z = torch.eye(8)  # each twin pair identical and orthogonal to every other view
    aligned = nt_xent(z, z.clone(), 0.5).item()
    g = torch.Generator().manual_seed(1)
    random = nt_xent(torch.randn(8, 8, generator=g), torch.randn(8, 8, generator=g), 0.5).item()
    assert aligned < random
    # the closed form for this case: -log(e^{1/T} / (e^{1/T} + (2N-2)·e^0))
    expected = -math.log(math.exp(2) / (math.exp(2) + 14))
    assert aligned == pytest.approx(expected, rel=1e-5)


def test_nt_xent_is_symmetric():
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(10, 4, generator=g), torch.randn(10, 4, generator=g)
    assert nt_xent(z1, z2, 0.2).item() == pytest.approx(nt_xent(z2, z1, 0.2).item(), rel=1e-6)


def test_nt_xent_is_scale_invariant_and_finite_at_low_temperature():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    assert nt_xent(z1 * 100, z2, 0.3).item() == pytest.approx(nt_xent(z1, z2, 0.3).item(), rel=1e-5)
    assert math.isfinite(nt_xent(z1, z2, 0.01).item())


def test_nt_xent_goes_down_with_adam():
    torch.manual_seed(0)
    z1 = torch.randn(16, 8, requires_grad=True)
    z2 = torch.randn(16, 8, requires_grad=True)
    opt = torch.optim.Adam([z1, z2], lr=0.05)
    losses = []
    for _ in range(30):
        loss = nt_xent(z1, z2, 0.2)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0], losses


def test_rotation_loss_uniform_logits_is_log4():
    k = torch.tensor([0, 1, 2, 3, 1, 2])
    assert rotation_loss(torch.zeros(6, 4), k).item() == pytest.approx(math.log(4), rel=1e-6)


def test_rotation_loss_confident_and_wrong():
    k = torch.tensor([0, 1, 2, 3])
    right = torch.eye(4) * 20
    wrong = torch.roll(right, 1, dims=1)
    assert rotation_loss(right, k).item() < 1e-6
    assert rotation_loss(wrong, k).item() > 10


def test_rotation_loss_accepts_half_logits():
    k = torch.tensor([2, 3])
    loss = rotation_loss(torch.zeros(2, 4, dtype=torch.float16), k)
    assert loss.dtype == torch.float32


def test_all_rotations_layout():
    b = 3
    x = torch.rand(b, 2, 5, 5)
    xr, k = all_rotations(x)
    assert xr.shape == (4 * b, 2, 5, 5)
    assert k.tolist() == [0] * b + [1] * b + [2] * b + [3] * b
    assert torch.equal(xr[:b], x)
    assert torch.equal(xr[2 * b:3 * b], x.flip(2, 3))  # 180° is unambiguous
    for r in range(4):
        assert torch.equal(xr[r * b:(r + 1) * b], torch.rot90(x, r, dims=(2, 3)))


def test_reconstruction_loss_perfect_is_zero():
    x = torch.rand(4, 1, 6, 6)
    assert reconstruction_loss(x, x).item() == 0.0
    assert reconstruction_loss(x, x, "mse").item() == 0.0
    binary = (torch.rand(4, 1, 6, 6) > 0.5).float()
    assert reconstruction_loss(binary, binary, "bce").item() < 1e-4


def test_reconstruction_loss_mse_vs_bce():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 6, 6, generator=g)
    x_hat = torch.rand(4, 1, 6, 6, generator=g)
    mse = reconstruction_loss(x_hat, x, "mse").item()
    bce = reconstruction_loss(x_hat, x, "bce").item()
    assert mse == pytest.approx(((x_hat - x) ** 2).mean().item(), rel=1e-6)
    expected_bce = -(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).mean().item()
    assert bce == pytest.approx(expected_bce, rel=1e-4)
    assert bce != pytest.approx(mse)


def test_reconstruction_bce_survives_saturated_outputs():
    x = torch.tensor([[1.0, 0.0]])
    x_hat = torch.tensor([[0.0, 1.0]])  # completely wrong, saturated: would be inf without clamping
    assert math.isfinite(reconstruction_loss(x_hat, x, "bce").item())
