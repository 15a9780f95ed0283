"""Denoising autoencoder: corruption processes, the emphasised loss, and the method's outputs."""
from __future__ import annotations

import pytest
import torch

from plugins.denoising_autoencoder import DenoisingAutoencoder, corrupt, denoising_loss, pixel_fraction_mask
from workbench.api import Batch
from workbench.nn.losses import reconstruction_loss


def test_pixel_fraction_mask_is_exact_and_per_sample():
    x = torch.rand(6, 3, 10, 10)
    m = pixel_fraction_mask(x, 0.3, torch.Generator().manual_seed(0))
    assert m.shape == (6, 1, 10, 10) and m.dtype == torch.bool
    assert m.flatten(1).sum(1).tolist() == [30] * 6
    assert not torch.equal(m[0], m[1])


def test_masking_noise_zeroes_exactly_the_masked_pixels():
    x = torch.rand(4, 3, 8, 8) * 0.9 + 0.05  # no zeros of its own
    xt, m = corrupt(x, "masking", sigma=0.0, fraction=0.25)
    assert torch.equal(xt[m.expand_as(x)], torch.zeros(int(m.sum()) * 3))
    assert torch.equal(xt[~m.expand_as(x)], x[~m.expand_as(x)])
    assert m.flatten(1).sum(1).tolist() == [16] * 4


def test_salt_and_pepper_sets_zeros_and_ones():
    x = torch.full((8, 1, 16, 16), 0.5)
    xt, m = corrupt(x, "salt_pepper", sigma=0.0, fraction=0.5, generator=torch.Generator().manual_seed(1))
    hit = xt[m]
    assert set(hit.unique().tolist()) == {0.0, 1.0}
    assert 0.4 < hit.mean().item() < 0.6  # salt and pepper about equally often
    assert (xt[~m] == 0.5).all()


def test_gaussian_noise_touches_every_pixel_with_sigma():
    x = torch.full((16, 1, 16, 16), 0.5)
    xt, m = corrupt(x, "gaussian", sigma=0.3, fraction=0.0, generator=torch.Generator().manual_seed(2))
    assert m.all()
    assert (xt - x).std().item() == pytest.approx(0.3, rel=0.05)
    assert abs((xt - x).mean().item()) < 0.02


def test_unknown_noise_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown noise"):
        corrupt(torch.rand(1, 1, 4, 4), "speckle", 0.1, 0.1)


@pytest.mark.parametrize("kind", ["bce", "mse"])
def test_equal_weights_give_the_plain_reconstruction_loss(kind):
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.rand(3, 1, 6, 6, generator=g), torch.rand(3, 1, 6, 6, generator=g)
    m = torch.rand(3, 1, 6, 6, generator=g) < 0.5
    got = denoising_loss(x_hat, x, m, 1.0, 1.0, kind).item()
    assert got == pytest.approx(reconstruction_loss(x_hat, x, kind).item(), rel=1e-5)


def test_beta_zero_scores_only_corrupted_pixels():
    x = torch.rand(2, 1, 5, 5)
    m = torch.zeros(2, 1, 5, 5, dtype=torch.bool)
    m[:, :, :2] = True
    x_hat = torch.where(m, x, 1 - x)  # right where corrupted, wrong elsewhere
    assert denoising_loss(x_hat, x, m, 1.0, 0.0, "mse").item() == 0.0
    assert denoising_loss(x_hat, x, m, 0.0, 1.0, "mse").item() > 0.05
    # α weighs the corrupted part linearly
    wrong = 1 - x
    a1 = denoising_loss(wrong, x, m, 1.0, 0.0, "mse").item()
    assert denoising_loss(wrong, x, m, 3.0, 0.0, "mse").item() == pytest.approx(3 * a1, rel=1e-6)


def test_denoising_loss_goes_down_on_learnable_outputs():
    torch.manual_seed(0)
    x = (torch.rand(4, 1, 8, 8) > 0.5).float()
    _, m = corrupt(x, "masking", 0.0, 0.5)
    logits = torch.zeros(4, 1, 8, 8, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    losses = []
    for _ in range(30):
        loss = denoising_loss(torch.sigmoid(logits), x, m, 1.0, 0.5, "bce")
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.3 * losses[0]


def test_both_weights_zero_is_refused(make):
    with pytest.raises(ValueError, match="alpha and beta"):
        make.method(DenoisingAutoencoder, alpha=0.0, beta=0.0)


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_pepper"])
def test_method_steps_embeds_and_previews(noise, make):
    method = make.method(DenoisingAutoencoder, noise=noise)
    x = torch.rand(8, 1, 28, 28)
    out = method.training_step(Batch(x, torch.zeros(8, dtype=torch.long), torch.arange(8)))
    assert out.loss.ndim == 0 and out.loss.requires_grad and "mse" in out.logs
    method.eval()
    with torch.no_grad():
        assert method.embed(x).shape == (8, method.feat_dim)
        preview = method.previews(Batch(x, torch.zeros(8, dtype=torch.long), torch.arange(8)))["denoising"]
    assert len(preview.tiles) == 24 and len(preview.captions) == 24 and preview.columns == 8
    assert preview.captions[0] == "clean" and preview.captions[8].startswith(noise)
    assert preview.captions[16].startswith("recon · mse")


def test_method_works_on_colour_images(make):
    method = make.method(DenoisingAutoencoder, shape=(3, 32, 32), noise="salt_pepper")
    x = torch.rand(4, 3, 32, 32)
    out = method.training_step(Batch(x, torch.zeros(4, dtype=torch.long), torch.arange(4)))
    out.loss.backward()
    assert torch.isfinite(out.loss)
