"""Deep InfoMax: both estimators on known scores, the local-feature hook on each backbone."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.deep_infomax import DeepInfoMax, conv_blocks, dim_loss, pair_scores
from workbench.backbones import build_backbone


def test_pair_scores_layout():
    g = torch.randn(3, 4)
    l = torch.randn(3, 4, 5)
    S = pair_scores(g, l)
    assert S.shape == (3, 3, 5)
    assert torch.allclose(S[1, 2, 3], g[1] @ l[2, :, 3])


def test_uninformative_scores_give_the_chance_values():
    B, L = 4, 6
    g, l = torch.zeros(B, 3), torch.randn(B, 3, L)  # every score is 0
    # InfoNCE: each positive against (B − 1)·L equally likely negatives
    assert dim_loss(g, l, "infonce").item() == pytest.approx(math.log(1 + (B - 1) * L), rel=1e-6)
    assert dim_loss(g, l, "jsd").item() == pytest.approx(2 * math.log(2), rel=1e-6)


@pytest.mark.parametrize("estimator", ["infonce", "jsd"])
def test_own_locals_score_better_than_swapped_ones(estimator):
    B, D, L = 4, 4, 3
    g = torch.eye(B, D) * 5
    # image b's locals score +10 with g_b and −10 with every other image's global
    l = (2 * torch.eye(B, D) - 1).unsqueeze(-1).expand(B, D, L) * 2
    good = dim_loss(g, l, estimator).item()
    swapped = dim_loss(g, l.roll(1, dims=0), estimator).item()
    assert good < 0.01 and swapped > 5


@pytest.mark.parametrize("estimator", ["infonce", "jsd"])
def test_loss_goes_down_on_learnable_features(estimator):
    torch.manual_seed(0)
    g = torch.randn(8, 6, requires_grad=True)
    l = torch.randn(8, 6, 5, requires_grad=True)
    opt = torch.optim.Adam([g, l], lr=0.05)
    losses = []
    for _ in range(30):
        loss = dim_loss(g, l, estimator)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


def test_unknown_estimator_is_an_error():
    with pytest.raises(ValueError, match="estimator"):
        dim_loss(torch.zeros(2, 3), torch.zeros(2, 3, 4), "mine")


def test_conv_blocks_of_each_backbone(make):
    small, _ = build_backbone("small_cnn", (1, 28, 28), width=8)
    assert len(conv_blocks(small)) == 3
    resnet, _ = build_backbone("resnet18", (3, 32, 32))
    assert len(conv_blocks(resnet)) == 4
    mlp, _ = build_backbone("mlp", (1, 28, 28))
    assert conv_blocks(mlp) == []
    with pytest.raises(ValueError, match="small_cnn or resnet18"):
        make.method(DeepInfoMax, backbone="mlp")


@pytest.mark.parametrize("layer, side", [("penultimate", 14), ("last", 7)])
def test_local_maps_of_small_cnn(layer, side, make):
    m = make.method(DeepInfoMax, local_layer=layer)
    g, l = m.features(torch.rand(3, 1, 28, 28))
    assert g.shape == (3, 128) and l.shape == (3, 128, side, side)


def test_local_maps_of_resnet18_and_colour(make):
    m = make.method(DeepInfoMax, shape=(3, 32, 32), backbone="resnet18", hidden=32, score_dim=16)
    g, l = m.features(torch.rand(2, 3, 32, 32))
    assert g.shape == (2, 16) and l.shape == (2, 16, 8, 8)  # layer3 of the CIFAR-stem ResNet
    out = m.training_step(make.batch(4, (3, 32, 32)))
    assert torch.isfinite(out.loss)


@pytest.mark.parametrize("across_views", [True, False])
def test_training_step_embed_and_preview(across_views, make):
    m = make.method(DeepInfoMax, across_views=across_views)
    out = m.training_step(make.batch(6))
    out.loss.backward()
    assert all(p.grad is not None for p in m.local_mlp.parameters())
    m.eval()
    with torch.no_grad():
        assert m.embed(torch.rand(5, 1, 28, 28)).shape == (5, m.feat_dim)
        assert not m._local  # embed leaves no feature map behind
        preview = m.previews(make.batch(6))["locals"]
    assert len(preview.tiles) == len(preview.captions) == 12
    assert preview.captions[-1].startswith(("✓", "✗"))
