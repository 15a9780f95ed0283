"""Contractive autoencoder: the stochastic Jacobian estimate against exact Jacobians, and the method."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from plugins.contractive_autoencoder import ContractiveAutoencoder, jacobian_penalty
from workbench.api import Batch


def _estimate(encoder: nn.Module, x: torch.Tensor, samples: int, seed: int = 0) -> float:
    x = x.clone().requires_grad_(True)
    h = encoder(x)
    g = torch.Generator().manual_seed(seed)
    return jacobian_penalty(h, x, samples, generator=g).item()


def test_linear_encoder_estimate_matches_frobenius_norm():
    torch.manual_seed(0)
    enc = nn.Linear(12, 5, bias=True)
    exact = enc.weight.pow(2).sum().item()  # J = W for every sample
    est = _estimate(enc, torch.randn(16, 12), samples=400)
    assert est == pytest.approx(exact, rel=0.05)


def test_mlp_encoder_estimate_matches_exact_jacobian():
    torch.manual_seed(1)
    enc = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4), nn.Tanh())
    x = torch.randn(10, 6)
    exact = torch.stack([torch.autograd.functional.jacobian(enc, xi).pow(2).sum() for xi in x]).mean().item()
    est = _estimate(enc, x, samples=600, seed=3)
    assert est == pytest.approx(exact, rel=0.05)


def test_estimate_works_on_image_shaped_inputs():
    torch.manual_seed(2)
    enc = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    exact = enc[1].weight.pow(2).sum().item()
    assert _estimate(enc, torch.rand(8, 2, 3, 3), samples=400) == pytest.approx(exact, rel=0.06)


def test_penalty_trains_the_encoder_to_contract():
    torch.manual_seed(0)
    enc = nn.Linear(8, 4)
    opt = torch.optim.SGD(enc.parameters(), lr=0.05)
    before = enc.weight.pow(2).sum().item()
    for _ in range(20):
        x = torch.randn(16, 8, requires_grad=True)
        loss = jacobian_penalty(enc(x), x)
        opt.zero_grad()
        loss.backward()  # needs create_graph=True inside
        opt.step()
    assert enc.weight.pow(2).sum().item() < 0.5 * before


def test_method_logs_the_contraction_and_trains_through_it(make):
    method = make.method(ContractiveAutoencoder, contraction=0.1)
    x = torch.rand(8, 1, 28, 28)
    batch = Batch(x, torch.zeros(8, dtype=torch.long), torch.arange(8))
    torch.manual_seed(5)
    out = method.training_step(batch)
    assert {"reconstruction", "contraction", "mse"} <= set(out.logs)
    assert out.logs["contraction"].item() > 0
    expected = out.logs["reconstruction"] + 0.1 * out.logs["contraction"]
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    out.loss.backward()
    assert all(p.grad is not None for p in method.backbone.parameters() if p.requires_grad)


def test_zero_weight_is_a_plain_autoencoder(make):
    method = make.method(ContractiveAutoencoder, contraction=0.0)
    x = torch.rand(4, 1, 28, 28)
    out = method.training_step(Batch(x, torch.zeros(4, dtype=torch.long), torch.arange(4)))
    assert "contraction" not in out.logs
    assert out.loss.item() == pytest.approx(out.logs["reconstruction"].item())


def test_previews_show_inputs_and_reconstructions(make):
    method = make.method(ContractiveAutoencoder)
    method.eval()
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        p = method.previews(Batch(x, torch.zeros(8, dtype=torch.long), torch.arange(8)))["reconstructions"]
    assert len(p.tiles) == 16 == len(p.captions)
    assert p.captions[8].startswith("recon · mse")
