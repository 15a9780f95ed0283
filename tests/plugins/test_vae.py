"""VAE: KL and likelihood terms on known inputs, the reparameterisation, and the method's outputs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from plugins.vae import VAE, elbo_loss, gaussian_kl, negative_log_likelihood, reparameterise
from workbench.api import Batch


def test_kl_is_zero_at_the_prior():
    assert gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max().item() == 0.0


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-5)
    # a closed-form case: μ = 1, σ = 1 in each of 2 dims -> ½·(1 + 1 − 1 − 0)·2 = 1 nat
    assert gaussian_kl(torch.ones(1, 2), torch.zeros(1, 2)).item() == pytest.approx(1.0)


def test_nll_sums_over_pixels():
    g = torch.Generator().manual_seed(1)
    x, x_hat = torch.rand(2, 1, 4, 4, generator=g), torch.rand(2, 1, 4, 4, generator=g)
    bce = F.binary_cross_entropy(x_hat, x, reduction="none").flatten(1).sum(1)
    assert torch.allclose(negative_log_likelihood(x_hat, x, "bce"), bce, rtol=1e-5)
    mse = 0.5 * (x_hat - x).pow(2).flatten(1).sum(1)
    assert torch.allclose(negative_log_likelihood(x_hat, x, "mse"), mse)


def test_elbo_combines_terms_with_beta_per_pixel():
    g = torch.Generator().manual_seed(2)
    x, x_hat = torch.rand(3, 1, 4, 4, generator=g), torch.rand(3, 1, 4, 4, generator=g)
    mu, logvar = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    for beta in (0.0, 1.0, 4.0):
        loss, rec, kl = elbo_loss(x_hat, x, mu, logvar, beta)
        assert loss.item() == pytest.approx((rec + beta * kl).item() / 16, rel=1e-5)
    # perfect reconstruction of binary images at the prior is the minimum (≈ 0)
    binary = (torch.rand(3, 1, 4, 4, generator=g) > 0.5).float()
    best, _, _ = elbo_loss(binary, binary, torch.zeros(3, 2), torch.zeros(3, 2))
    assert best.item() < 1e-4


def test_reparameterise_has_the_right_moments_and_gradients():
    torch.manual_seed(0)
    mu = torch.full((20000, 1), 2.0, requires_grad=True)
    logvar = torch.full((20000, 1), math.log(0.25), requires_grad=True)
    z = reparameterise(mu, logvar)
    assert z.mean().item() == pytest.approx(2.0, abs=0.02)
    assert z.std().item() == pytest.approx(0.5, rel=0.03)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None


def test_elbo_goes_down_on_learnable_inputs():
    torch.manual_seed(0)
    x = (torch.rand(4, 1, 6, 6) > 0.5).float()
    logits = torch.zeros(4, 1, 6, 6, requires_grad=True)
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    opt = torch.optim.Adam([logits, mu, logvar], lr=0.1)
    losses = []
    for _ in range(40):
        loss, _, _ = elbo_loss(torch.sigmoid(logits), x, mu, logvar, beta=1.0)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.3 * losses[0]


def test_embed_is_the_posterior_mean(make):
    method = make.method(VAE, latent_dim=6)
    method.eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        emb = method.embed(x)
        assert emb.shape == (5, 6) and method.feat_dim == 6
        assert torch.equal(emb, method.posterior(x)[0])
        assert torch.equal(emb, method.embed(x))  # deterministic: no sampling


def test_training_step_logs_reconstruction_and_kl(make):
    method = make.method(VAE, beta=2.0, kl_warmup=0.0)
    x = torch.rand(8, 1, 28, 28)
    out = method.training_step(Batch(x, torch.zeros(8, dtype=torch.long), torch.arange(8)))
    assert set(out.logs) == {"reconstruction", "kl", "kl_weight"}
    assert out.logs["kl"].item() >= 0 and out.logs["kl_weight"].item() == 2.0
    expected = (out.logs["reconstruction"] + 2.0 * out.logs["kl"]) / (28 * 28)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_kl_warmup_ramps_beta_and_is_checkpointed(make):
    method = make.method(VAE, beta=2.0, kl_warmup=0.5)
    batch = Batch(torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), torch.arange(4))
    weights = []
    for step in range(6):
        weights.append(method.training_step(batch).logs["kl_weight"].item())
        method.on_step_end(step, 10)
    assert weights == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6, 2.0])
    assert method.state_dict()["kl_scale"].item() == 1.0
    fresh = make.method(VAE, beta=2.0, kl_warmup=0.5)
    fresh.load_state_dict(method.state_dict())
    assert fresh.kl_scale.item() == 1.0


def test_prior_samples_are_the_same_every_time(make):
    method = make.method(VAE)
    method.eval()
    batch = Batch(torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.long), torch.arange(8))
    with torch.no_grad():
        torch.manual_seed(1)
        a = method.previews(batch)
        torch.manual_seed(2)
        b = method.previews(batch)
    assert set(a) == {"reconstructions", "prior_samples"}
    assert len(a["prior_samples"].tiles) == 16 == len(a["prior_samples"].captions)
    assert all((ta == tb).all() for ta, tb in zip(a["prior_samples"].tiles, b["prior_samples"].tiles))
    assert len(a["reconstructions"].tiles) == 16 == len(a["reconstructions"].captions)
