"""CPC on images: the patch grid, the causal context network, the InfoNCE and its targets."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.cpc import CPC, CausalConv, flatten_grid, patch_grid
from workbench.nn.losses import cpc_loss


def test_loss_without_information_is_log_m():
    codes = torch.randn(12, 4)
    target = torch.tensor([0, 5, 11])
    assert cpc_loss(torch.zeros(3, 4), codes, target).item() == pytest.approx(math.log(12))


def test_loss_prefers_the_true_code():
    codes = torch.eye(6) * 3
    target = torch.tensor([1, 4])
    right = cpc_loss(codes[target], codes, target).item()
    wrong = cpc_loss(codes[target.flip(0)], codes, target).item()
    assert right < 0.01 < 5 < wrong


def test_loss_goes_down_on_learnable_predictions():
    torch.manual_seed(0)
    pred = torch.randn(10, 8, requires_grad=True)
    codes = torch.randn(40, 8)
    target = torch.arange(10) * 4
    opt = torch.optim.Adam([pred], lr=0.05)
    losses = []
    for _ in range(30):
        loss = cpc_loss(pred, codes, target)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.3 * losses[0]


def test_patch_grid_matches_slicing():
    x = torch.rand(2, 3, 16, 16)
    patches = patch_grid(x, grid=3, patch_frac=0.5, out=8)  # 8-px patches at 0, 4, 8
    assert patches.shape == (2, 9, 3, 8, 8)
    for r in range(3):
        for c in range(3):
            assert torch.allclose(patches[:, 3 * r + c], x[:, :, 4 * r:4 * r + 8, 4 * c:4 * c + 8],
                                  atol=1e-6)
    jittered = patch_grid(x, grid=3, patch_frac=0.5, out=8, jitter=0.25)
    assert jittered.shape == patches.shape and not torch.allclose(jittered, patches)


def test_flatten_grid_indexes_every_position():
    z = torch.randn(2, 4, 3, 3)
    codes, idx = flatten_grid(z)
    assert codes.shape == (18, 4) and idx.shape == (2, 3, 3)
    for b, r, c in [(0, 0, 0), (1, 2, 1), (0, 1, 2)]:
        assert torch.equal(codes[idx[b, r, c]], z[b, :, r, c])


def test_context_never_sees_lower_rows():
    torch.manual_seed(0)
    net = torch.nn.Sequential(CausalConv(4, 8), CausalConv(4, 8))
    z = torch.randn(1, 4, 6, 6)
    changed = z.clone()
    changed[:, :, 3:] += torch.randn(1, 4, 3, 6)  # rows 3.. differ
    a, b = net(z), net(changed)
    assert a.shape == z.shape
    assert torch.allclose(a[:, :, :3], b[:, :, :3])  # rows 0..2 cannot know
    assert not torch.allclose(a[:, :, 3:], b[:, :, 3:])


def test_prediction_offsets_and_shapes(make):
    m = make.method(CPC, grid=5, first_step=2, steps=3)
    assert m.offsets == [2, 3, 4]
    z = m.codes(torch.rand(3, 1, 28, 28))
    assert z.shape == (3, m.feat_dim, 5, 5)
    shapes = {k: tuple(p.shape) for k, p in m.predictions(z)}
    assert shapes == {k: (3, m.feat_dim, 5 - k, 5) for k in (2, 3, 4)}
    assert make.method(CPC, grid=4, first_step=2, steps=5).offsets == [2, 3]
    with pytest.raises(ValueError, match="first_step"):
        make.method(CPC, grid=4, first_step=4)


@pytest.mark.parametrize("embedding", ["image", "patches"])
def test_training_embed_and_preview(embedding, make):
    m = make.method(CPC, embedding=embedding)
    out = m.training_step(make.batch(4))
    assert out.loss.ndim == 0 and 0 <= float(out.logs["cpc_acc"]) <= 1
    out.loss.backward()
    assert all(p.grad is not None for p in m.context.parameters())
    m.eval()
    with torch.no_grad():
        assert m.embed(torch.rand(3, 1, 28, 28)).shape == (3, m.feat_dim)
        preview = m.previews(make.batch(4))["predictions"]
    assert len(preview.tiles) == len(preview.captions) == 12
    assert all(t.shape == (28, 28, 3) for t in preview.tiles)
    assert preview.captions[-1].startswith(("✓", "✗"))


def test_colour_images(make):
    m = make.method(CPC, shape=(3, 32, 32))
    out = m.training_step(make.batch(3, (3, 32, 32)))
    assert torch.isfinite(out.loss)
