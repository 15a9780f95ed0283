"""Colorization: Lab conversion, ab bins, soft targets, rebalancing, decoding, and the method on colour data.

tests/plugins/test_contract.py builds every method on mnist5k, which colorization refuses (it
needs colour); the same checks on shapes-sized images are here.
"""
from __future__ import annotations

import math

import pytest
import torch

from plugins.colorization import Colorization, lightness_input, rebalancing_weights
from workbench.api import DataSpec
from workbench.backbones import build_backbone, feature_trunk
from workbench.nn.colour import ab_bins, annealed_mean, colour_class_loss, lab_to_rgb, rgb_to_lab, soft_encode
from workbench.nn.decoders import LogitDecoder
from workbench.nn.pooling import pooled_features
from workbench.views import training_crops

COLOUR = (3, 32, 32)  # the blocky colour images of make.colour_batch


def _pixels(*rgb):
    return torch.tensor(rgb, dtype=torch.float32).T.reshape(1, 3, len(rgb), 1)


def test_lab_of_known_colours():
    lab = rgb_to_lab(_pixels([1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]))[0, :, :, 0].T
    expected = torch.tensor([[100, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20], [87.73, -86.18, 83.18],
                             [32.30, 79.19, -107.86]])
    assert torch.allclose(lab, expected, atol=0.02)


def test_greys_have_no_colour():
    v = torch.linspace(0, 1, 11)
    lab = rgb_to_lab(v.view(1, 1, 11, 1).expand(1, 3, 11, 1))
    assert lab[:, 1:].abs().max().item() < 1e-3
    assert (lab[0, 0].diff(dim=0) > 0).all()  # lightness grows with the grey level


def test_round_trip():
    x = torch.rand(4, 3, 9, 7, generator=torch.Generator().manual_seed(0))
    assert (lab_to_rgb(rgb_to_lab(x)) - x).abs().max().item() < 1e-4
    # out-of-gamut Lab is clamped, or not
    far = torch.tensor([50.0, 200.0, -200.0]).view(1, 3, 1, 1)
    assert lab_to_rgb(far).min() >= 0 and lab_to_rgb(far).max() <= 1
    assert lab_to_rgb(far, clamp=False).max() > 1 or lab_to_rgb(far, clamp=False).min() < 0


def test_lightness_input_is_l_over_100_in_three_channels():
    x = torch.rand(2, 3, 5, 5)
    inp = lightness_input(x)
    assert inp.shape == (2, 3, 5, 5)
    assert torch.allclose(inp[:, 0], rgb_to_lab(x)[:, 0] / 100)
    assert torch.equal(inp[:, 0], inp[:, 2])


def test_ab_bins_grid():
    c = ab_bins(10.0)
    assert torch.equal(c, ab_bins(10.0))  # deterministic
    assert 200 <= len(c) <= 330  # Zhang et al. report 313 for ImageNet's (wider) gamut
    assert torch.equal(c % 10, torch.zeros_like(c))
    assert (c == 0).all(1).any()  # grey is a class
    assert len(ab_bins(5.0)) > 3 * len(c)


def test_soft_encoding():
    c = ab_bins(10.0)
    ab = torch.tensor([[0.0, 0.0], [21.0, -38.0], [60.0, 60.0]])
    t = soft_encode(ab, c)
    assert t.shape == (3, len(c))
    assert torch.allclose(t.sum(1), torch.ones(3))
    assert ((t > 0).sum(1) == 5).all()
    nearest = torch.cdist(ab, c).argmin(1)
    assert torch.equal(t.argmax(1), nearest)


def test_rebalancing_weights():
    q = 8
    uniform = torch.full((q,), 1 / q)
    assert torch.allclose(rebalancing_weights(uniform), torch.ones(q))
    prior = torch.tensor([0.65, 0.2, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0])
    w = rebalancing_weights(prior, 0.5)
    assert (prior * w).sum().item() == pytest.approx(1.0)
    assert w[0] < w[1] < w[2] < w[3] < w[4]  # rarer colours weigh more
    assert torch.allclose(rebalancing_weights(prior, 1.0), torch.ones(q))  # λ = 1: no effect


def test_colour_class_loss_known_values():
    q = 6
    targets = torch.eye(q)
    assert colour_class_loss(torch.zeros(q, q), targets).item() == pytest.approx(math.log(q))
    assert colour_class_loss(targets * 30, targets).item() < 1e-6
    w = torch.arange(1.0, q + 1)
    assert colour_class_loss(torch.zeros(q, q), targets, w).item() == pytest.approx(math.log(q) * w.mean().item())


def test_colour_class_loss_goes_down_on_learnable_logits():
    c = ab_bins(10.0)
    targets = soft_encode(torch.randn(32, 2, generator=torch.Generator().manual_seed(0)) * 30, c)
    logits = torch.zeros(32, len(c), requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.2)
    losses = []
    for _ in range(30):
        loss = colour_class_loss(logits, targets)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


def test_annealed_mean_between_mean_and_mode():
    c = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    logits = torch.tensor([2.0, 1.0, 0.0]).view(1, 3, 1, 1)
    mode = annealed_mean(logits, c, 0.01)[0, :, 0, 0]
    assert torch.allclose(mode, torch.zeros(2), atol=1e-3)
    mean = annealed_mean(logits, c, 1.0)[0, :, 0, 0]
    p = torch.softmax(torch.tensor([2.0, 1.0, 0.0]), 0)
    assert torch.allclose(mean, p @ c, atol=1e-5)
    sharp = annealed_mean(logits, c, 0.38)[0, :, 0, 0]
    assert sharp.norm() < mean.norm()


def test_grey_data_is_refused_clearly():
    backbone, feat_dim = build_backbone("small_cnn", (1, 28, 28), width=8)
    spec = DataSpec("mnist5k", "image", (1, 28, 28), 10, [str(i) for i in range(10)], 64, 64)
    with pytest.raises(ValueError, match="colorization needs colour images.*mnist5k.*shapes"):
        Colorization(Colorization.Config(), backbone, feat_dim, spec)


def test_embed_takes_rgb_and_sees_only_lightness(make):
    method = make.method(Colorization, COLOUR)
    method.eval()
    x = torch.rand(4, 3, 32, 32)
    lab = rgb_to_lab(x)
    other = lab_to_rgb(torch.cat([lab[:, :1], lab[:, 1:] * 0.3], 1), clamp=False)  # same L, other colours
    with torch.no_grad():
        e = method.embed(x)
        assert e.shape == (4, method.feat_dim)
        assert torch.allclose(method.embed(other), e, atol=1e-3)


def test_representation_is_the_feature_map_maximum_by_default(make):
    method = make.method(Colorization, COLOUR)
    method.eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        fmap = feature_trunk(method.backbone)(lightness_input(x))
        assert method.cfg.pooling == "max"
        assert torch.allclose(method.embed(x), fmap.amax(dim=(2, 3)))
        method.cfg.pooling = "avg"  # the backbone's own output: the average of the same map
        assert torch.allclose(method.embed(x), method.backbone(lightness_input(x)), atol=1e-6)
        assert torch.allclose(method.embed(x), fmap.mean(dim=(2, 3)), atol=1e-6)


def test_mlp_representation_is_its_output_whatever_the_pooling():
    backbone, _ = build_backbone("mlp", (3, 8, 8), hidden=16, out_dim=8)
    backbone.eval()
    x = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(pooled_features(backbone, x, "max"), backbone(x))


def test_training_crops_crop_and_flip_only_when_asked():
    x = torch.zeros(64, 3, 16, 16)
    x[:, :, :, :4] = 1.0  # a bright stripe on the left edge: a flip moves it to the right
    assert torch.equal(training_crops(x, 1.0, False), x)
    flipped = training_crops(x, 1.0, True)
    on_right = flipped[:, 0, 0, -1] == 1.0
    assert torch.equal(flipped[on_right], x[on_right].flip(3)) and torch.equal(flipped[~on_right], x[~on_right])
    assert 10 < int(on_right.sum()) < 54  # about half of them, at random
    cropped = training_crops(x, 0.5, False)
    assert cropped.shape == x.shape and 0 <= cropped.min() and cropped.max() <= 1
    moved = (cropped - x).abs().flatten(1).amax(1) > 0.1
    assert moved.float().mean() > 0.5  # most crops move or resize the stripe


@pytest.mark.parametrize("rebalance", [True, False])
def test_loss_goes_down(rebalance, make):
    method = make.method(Colorization, COLOUR, rebalance=rebalance)
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    batch = make.colour_batch()
    losses = []
    for _ in range(5):
        out = method.training_step(batch)
        losses.append(out.loss.item())
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert "bin_acc" in out.logs
    assert sum(losses[-2:]) < sum(losses[:2]), losses


def test_rebalancing_prior_is_a_checkpointed_running_histogram(make):
    method = make.method(Colorization, COLOUR, rebalance=True)
    assert "ab_prior" in method.state_dict() and "ab_centres" not in method.state_dict()
    method.training_step(make.colour_batch())
    assert method.ab_prior.sum().item() == pytest.approx(1.0, rel=1e-4)
    assert not torch.allclose(method.ab_prior, torch.full_like(method.ab_prior, 1 / len(method.ab_prior)))


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_decoder_resolution(stride, make):
    method = make.method(Colorization, COLOUR, stride=stride)
    logits = method.decoder(method.backbone, torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, len(method.ab_centres), 32 // stride, 32 // stride)


def test_trunk_is_the_backbone_before_its_global_pooling():
    backbone, _ = build_backbone("small_cnn", (3, 28, 28), width=8)
    backbone.eval()
    x = torch.rand(3, 3, 28, 28)
    fmap = feature_trunk(backbone)(x)
    assert fmap.shape == (3, 32, 7, 7)
    assert torch.allclose(fmap.mean((2, 3)), backbone(x), atol=1e-6)
    assert feature_trunk(build_backbone("mlp", (3, 8, 8), hidden=16, out_dim=8)[0]) is None


def test_mlp_backbone_gets_a_vector_decoder(make):
    backbone, feat_dim = build_backbone("mlp", (3, 32, 32), hidden=32, out_dim=16)
    method = Colorization(Colorization.Config(), backbone, feat_dim, make.spec(COLOUR))
    assert isinstance(method.decoder.head, LogitDecoder)
    logits = method.decoder(method.backbone, torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, len(method.ab_centres), 8, 8)


def test_previews(make):
    method = make.method(Colorization, COLOUR)
    method.eval()
    with torch.no_grad():
        p = method.previews(make.colour_batch(8))["colorization"]
    assert len(p.tiles) == 24 == len(p.captions) and p.columns == 8
    assert p.captions[0] == "grey input (L)" and p.captions[8].startswith("predicted")
    grey = p.tiles[0].astype(int)
    assert (abs(grey[..., 0] - grey[..., 1]) <= 1).all()  # the first row really is grey
