"""The thesis's VQ-VAE (Mathisen 2024): the VICReg branch on two time-series views."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.vq_vae import VIC_LAMBDA, VIC_MU, VIC_NU, VQVAE
from workbench.api import Batch


def _waves(n: int = 16, length: int = 256) -> Batch:
    g = torch.Generator().manual_seed(3)
    t = torch.arange(length, dtype=torch.float32)
    freq = torch.randint(2, 30, (n, 1), generator=g).float()
    x = torch.sin(2 * math.pi * freq * t / length)[:, None] + 0.1 * torch.randn(n, 1, length, generator=g)
    return Batch(x, torch.arange(n) % 3, torch.arange(n))


def _sequence_method(make, **cfg) -> VQVAE:
    return make.method(VQVAE, (1, 256), spec=make.spec((1, 256), "waves", "abc"), codebook_size=32,
                       code_dim=8, **cfg)


def test_plain_vq_vae_is_unchanged_by_default(make):
    method = _sequence_method(make)
    assert method.cfg.vicreg_weight == 0 and not hasattr(method, "expander")
    assert not any(k.startswith("expander") for k in method.state_dict())
    out = method.training_step(_waves())
    assert not any(k.startswith("vicreg") for k in out.logs)
    with torch.no_grad():
        assert "views" not in method.eval().previews(_waves())


def test_branch_adds_the_weighted_vicreg_loss(make):
    method = _sequence_method(make, vicreg_weight=0.5)
    out = method.training_step(_waves())
    logs = out.logs
    vic = VIC_LAMBDA * logs["vicreg_invariance"] + VIC_MU * logs["vicreg_variance"] + VIC_NU * logs["vicreg_covariance"]
    assert logs["vicreg"].item() == pytest.approx(vic.item(), rel=1e-5)
    plain = logs["recon_mse"] + method.cfg.beta * logs["commitment"]
    assert out.loss.item() == pytest.approx((plain + 0.5 * logs["vicreg"]).item(), rel=1e-4)


def test_branch_trains_the_encoder_and_its_expander(make):
    method = _sequence_method(make, vicreg_weight=1.0)
    batch = _waves()
    torch.manual_seed(0)
    method.training_step(batch).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.expander.parameters())
    # the reconstruction alone also reaches the encoder: compare with the branch's own gradient
    plain = _sequence_method(make)
    torch.manual_seed(0)
    plain.training_step(batch).loss.backward()
    first = method.encoder[0].weight
    assert not torch.allclose(first.grad, plain.encoder[0].weight.grad)


def test_branch_lowers_its_vicreg_loss(make):
    method = _sequence_method(make, vicreg_weight=1.0)
    batch = _waves(32)
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for step in range(12):
        torch.manual_seed(5)  # the same views every step: a fixed objective
        out = method.training_step(batch)
        losses.append(out.logs["vicreg"].item())
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        method.on_step_end(step, 12)
    assert losses[-1] < 0.8 * losses[0], losses


def test_views_preview_shows_input_and_two_views(make):
    method = _sequence_method(make, vicreg_weight=1.0).eval()
    with torch.no_grad():
        preview = method.previews(_waves())["views"]
    assert len(preview.tiles) == 12 and preview.captions[:3] == ["input", "view 1", "view 2"]
    assert preview.columns == 3


def test_branch_refuses_images(make):
    with pytest.raises(ValueError, match="vicreg_weight needs sequence data"):
        make.method(VQVAE, vicreg_weight=1.0)
