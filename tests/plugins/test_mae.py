"""Masked image modelling (MAE-style): patch masks, the masked-only loss, and the method."""
from __future__ import annotations

import pytest
import torch

from plugins.mae import MAE, NORM_PIX_EPS, mae_loss, patch_variance, random_patch_mask
from workbench.api import Batch, DataSpec
from workbench.backbones import build_backbone


def test_mask_hides_an_exact_number_of_whole_patches():
    x = torch.rand(6, 1, 28, 28)
    m = random_patch_mask(x, 4, 0.75, torch.Generator().manual_seed(0))
    assert m.shape == (6, 1, 28, 28) and m.dtype == torch.bool
    patches = m.view(6, 7, 4, 7, 4)
    assert (patches.all(dim=(2, 4)) == patches.any(dim=(2, 4))).all()  # each patch all or nothing
    assert patches.all(dim=(2, 4)).flatten(1).sum(1).tolist() == [37] * 6  # round(0.75 · 49)
    assert not torch.equal(m[0], m[1])


def test_mask_handles_sides_not_divisible_by_the_patch():
    m = random_patch_mask(torch.rand(3, 3, 30, 26), 8, 0.5)
    assert m.shape == (3, 1, 30, 26)
    assert 0 < m.float().mean() < 1


def test_loss_counts_only_masked_patches():
    x = torch.rand(2, 1, 8, 8)
    m = random_patch_mask(x, 4, 0.5)
    visible_wrong = torch.where(m, x, 1 - x)
    assert mae_loss(visible_wrong, x, m, 4).item() == 0.0
    assert mae_loss(torch.where(m, x + 0.2, x), x, m, 4).item() == pytest.approx(0.04, rel=1e-4)


def test_patch_variance_and_normalised_loss():
    x = torch.zeros(1, 1, 4, 8)
    x[0, 0, :, 4:] = torch.tensor([0.0, 1.0]).repeat(8).view(4, 4)  # right patch: half 0, half 1
    var = patch_variance(x, 4)
    assert torch.allclose(var[0, 0, :, :4], torch.zeros(4, 4))
    assert torch.allclose(var[0, 0, :, 4:], torch.full((4, 4), 0.25))
    m = torch.ones(1, 1, 4, 8, dtype=torch.bool)
    pred = x + 0.1
    got = mae_loss(pred, x, m, 4, norm_pix=True).item()
    expected = 0.5 * 0.01 / NORM_PIX_EPS + 0.5 * 0.01 / (0.25 + NORM_PIX_EPS)
    assert got == pytest.approx(expected, rel=1e-4)


def test_loss_goes_down_on_learnable_outputs():
    x = torch.rand(2, 3, 8, 8)
    m = random_patch_mask(x, 4, 0.75)
    guess = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([guess], lr=0.1)
    losses = []
    for _ in range(30):
        loss = mae_loss(guess, x, m, 4, norm_pix=True)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.2 * losses[0]


def test_fill_values(make):
    learned = make.method(MAE, fill="learned")
    x = torch.rand(4, 1, 28, 28)
    learned.training_step(Batch(x, torch.zeros(4, dtype=torch.long), torch.arange(4))).loss.backward()
    assert learned.mask_value.grad is not None and learned.mask_value.grad.abs().sum() > 0
    grey = make.method(MAE, fill="grey")
    assert not grey.mask_value.requires_grad and (grey.mask_value == 0.5).all()
    zero = make.method(MAE)  # the default
    assert not zero.mask_value.requires_grad and (zero.mask_value == 0).all()
    x = torch.rand(2, 1, 28, 28) + 0.1
    m = random_patch_mask(x, 4, 0.75)
    assert (zero.masked_input(x, m)[m] == 0).all()


def test_patch_larger_than_image_is_refused(make):
    with pytest.raises(ValueError, match="patch_size"):
        make.method(MAE, patch_size=32)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_previews_paste_visible_patches_back(shape, make):
    method = make.method(MAE, shape, norm_pix=True)
    x = torch.rand(8, *shape)
    batch = Batch(x, torch.zeros(8, dtype=torch.long), torch.arange(8))
    out = method.training_step(batch)
    assert "masked_mse" in out.logs
    method.eval()
    with torch.no_grad():
        p = method.previews(batch)["masked_reconstruction"]
        g = torch.Generator().manual_seed(0)
        m = random_patch_mask(x, 4, 0.75, generator=g)
    assert len(p.tiles) == 24 == len(p.captions) and p.columns == 8
    # in the middle row, visible pixels are the input's own
    visible = ~m[0, 0].numpy()
    original = (x[0].permute(1, 2, 0).expand(-1, -1, 3).numpy() * 255).round()
    assert (p.tiles[8][visible] == original[visible]).all()


# --- MAE on a ViT: the encoder drops the masked tokens ---------------------------------------

def _vit_method(shape=(3, 32, 32), **cfg) -> MAE:
    torch.manual_seed(0)
    backbone, feat_dim = build_backbone("vit_tiny", shape, depth=2)
    spec = DataSpec("toy", "image", shape, 10, [str(i) for i in range(10)], 64, 64)
    return MAE(MAE.Config(**cfg), backbone, feat_dim, spec)


def _tokens_seen(method: MAE) -> list[int]:
    seen: list[int] = []
    method.backbone.vit.encoder.layers[0].register_forward_hook(
        lambda module, args, out: seen.append(args[0].shape[1]))
    return seen


@pytest.mark.parametrize("ratio,visible", [(0.75, 16), (0.5, 32), (0.99, 1)])
def test_vit_encoder_sees_only_the_visible_tokens(ratio, visible):
    method = _vit_method(mask_ratio=ratio)
    seen = _tokens_seen(method)
    x = torch.rand(4, 3, 32, 32)  # 4-px patches: 64 tokens
    out = method.training_step(Batch(x, torch.zeros(4, dtype=torch.long), torch.arange(4)))
    assert seen == [1 + visible]  # the class token and the kept patches, nothing else
    out.loss.backward()
    assert method.decoder.mask_token.grad is not None and method.decoder.mask_token.grad.abs().sum() > 0
    method.backbone(x)  # evaluation and embeddings still see every token
    assert seen[-1] == 1 + 64


def test_vit_mask_and_reconstruction_follow_the_vits_patches():
    method = _vit_method((1, 64, 64), patch_size=3)  # the ViT's 8-px patches win over patch_size
    x = torch.rand(2, 1, 64, 64)
    pred, mask = method.reconstruct(x)
    assert pred.shape == x.shape and mask.shape == (2, 1, 64, 64)
    cells = mask.view(2, 8, 8, 8, 8)
    assert (cells.all(dim=(2, 4)) == cells.any(dim=(2, 4))).all()
    assert cells.all(dim=(2, 4)).flatten(1).sum(1).tolist() == [48, 48]
    assert 0 <= pred.min() and pred.max() <= 1


def test_vit_mae_learns_and_previews():
    method = _vit_method(norm_pix=True)
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    x = torch.rand(8, 3, 32, 32)
    batch = Batch(x, torch.zeros(8, dtype=torch.long), torch.arange(8))
    losses = []
    for _ in range(15):
        torch.manual_seed(0)  # the same mask each step: the loss must fall
        loss = method.training_step(batch).loss
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < losses[0]
    method.eval()
    with torch.no_grad():
        p = method.previews(batch)["masked_reconstruction"]
    assert len(p.tiles) == 24
