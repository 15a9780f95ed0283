"""Split-brain autoencoder: the second encoder, lightness classes, losses and the method on colour data.

tests/plugins/test_contract.py builds every method on mnist5k, which split_brain refuses (it
needs colour); the same checks on shapes-sized images are here.
"""
from __future__ import annotations

import math

import pytest
import torch

from plugins.split_brain import SplitBrain, lightness_centres, lightness_classes, split_brain_losses, twin_backbone
from workbench.backbones import build_backbone, feature_trunk
from workbench.nn.colour import ab_bins, rgb_to_lab

COLOUR = (3, 32, 32)  # the blocky colour images of make.colour_batch


@pytest.mark.parametrize("name, kwargs", [("small_cnn", {"width": 8}), ("small_cnn", {}),
                                          ("mlp", {"hidden": 64, "out_dim": 48})])
def test_twin_backbone_matches_the_host(name, kwargs):
    host, dim = build_backbone(name, (3, 16, 16), **kwargs)
    twin = twin_backbone(host, dim, (2, 16, 16))
    assert twin(torch.rand(4, 2, 16, 16)).shape == (4, dim)
    assert sum(p.numel() for p in twin.parameters()) < 1.01 * sum(p.numel() for p in host.parameters())


def test_twin_backbone_and_trunk_handle_resnet():
    host, dim = build_backbone("resnet18", (3, 16, 16))
    twin = twin_backbone(host, dim, (2, 16, 16))
    assert type(twin[1]).__name__ == "ResNet" and twin[1].conv1.in_channels == 2
    twin.eval()
    x = torch.rand(2, 2, 16, 16)
    with torch.no_grad():
        fmap = feature_trunk(twin)(x)
        assert fmap.shape == (2, 512, 2, 2)
        assert torch.allclose(fmap.mean((2, 3)), twin(x), atol=1e-5)


def test_twin_backbone_falls_back_to_a_small_cnn_of_the_feature_size():
    twin = twin_backbone(torch.nn.Identity(), 40, (2, 8, 8))
    assert twin(torch.rand(2, 2, 8, 8)).shape == (2, 40)


def test_lightness_classes():
    L = torch.tensor([0.0, 1.99, 2.0, 50.0, 99.99, 100.0, 104.0])
    assert lightness_classes(L, 50).tolist() == [0, 0, 1, 25, 49, 49, 49]
    c = lightness_centres(50)
    assert c[0].item() == pytest.approx(1.0) and c[-1].item() == pytest.approx(99.0)
    assert torch.equal(lightness_classes(c, 50), torch.arange(50))


def test_losses_on_known_inputs():
    q, k, n = len(ab_bins()), 50, 6
    ab_t = torch.zeros(n, q)
    ab_t[:, 3] = 1
    l_t = torch.arange(n)
    uni_ab, uni_l = split_brain_losses(torch.zeros(n, q), ab_t, torch.zeros(n, k), l_t)
    assert uni_ab.item() == pytest.approx(math.log(q), rel=1e-5)
    assert uni_l.item() == pytest.approx(math.log(k), rel=1e-5)
    good_ab, good_l = split_brain_losses(ab_t * 40, ab_t, torch.eye(k)[l_t] * 40, l_t)
    assert good_ab.item() < 1e-6 and good_l.item() < 1e-6


def test_grey_data_is_refused_clearly(make):
    backbone, feat_dim = build_backbone("small_cnn", (1, 32, 32), width=8)
    with pytest.raises(ValueError, match="split_brain needs colour images.*shapes"):
        SplitBrain(SplitBrain.Config(), backbone, feat_dim, make.spec((1, 32, 32), "mnist5k"))


def test_representation_concatenates_both_halves(make):
    method = make.method(SplitBrain, COLOUR)
    method.eval()
    x = make.colour_batch(4).x
    with torch.no_grad():
        e = method.embed(x)
        lab = rgb_to_lab(x)
        l_in, ab_in = method.inputs(lab)
    assert method.feat_dim == 64 and e.shape == (4, 64)
    assert ab_in.shape == (4, 2, 32, 32) and 0 <= ab_in.min() and ab_in.max() <= 1
    with torch.no_grad():  # each half: its encoder's last feature map, maximised over positions
        assert method.cfg.pooling == "max"
        assert torch.allclose(e[:, :32], feature_trunk(method.backbone)(l_in).amax(dim=(2, 3)))
        assert torch.allclose(e[:, 32:], feature_trunk(method.ab_encoder)(ab_in).amax(dim=(2, 3)))
        method.cfg.pooling = "avg"  # the encoders' own (averaged) outputs
        e = method.embed(x)
        assert torch.allclose(e[:, :32], method.backbone(l_in), atol=1e-6)
        assert torch.allclose(e[:, 32:], method.ab_encoder(ab_in), atol=1e-6)


def test_guard_noise_reaches_only_the_ab_half_and_only_in_training(make):
    method = make.method(SplitBrain, COLOUR, ab_noise=8.0)
    lab = rgb_to_lab(make.colour_batch(4).x)
    method.eval()
    with torch.no_grad():
        ab_eval, l_eval = method.predict(lab)
        assert torch.equal(method.predict(lab)[1], l_eval)  # evaluation is deterministic
    method.train()
    for m in method.modules():  # freeze batch-norm statistics so only the input noise differs
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    with torch.no_grad():
        ab_train, l_train = method.predict(lab)
    assert torch.allclose(ab_train, ab_eval)  # the L -> ab half never sees the noise
    assert not torch.allclose(l_train, l_eval)  # the ab -> L half does
    method.cfg.ab_noise = 0.0
    with torch.no_grad():
        assert torch.allclose(method.predict(lab)[1], l_eval)


def test_loss_goes_down_and_trains_both_encoders(make):
    method = make.method(SplitBrain, COLOUR)
    opt = torch.optim.Adam(method.parameters(), lr=1e-3)
    batch = make.colour_batch()
    losses = []
    for i in range(5):
        out = method.training_step(batch)
        losses.append(out.loss.item())
        opt.zero_grad()
        out.loss.backward()
        if i == 0:
            assert all(p.grad is not None for p in method.ab_encoder.parameters())
            assert all(p.grad is not None for p in method.backbone.parameters())
        opt.step()
    assert {"l_to_ab_loss", "ab_to_l_loss", "ab_bin_acc", "l_bin_acc"} <= set(out.logs)
    assert sum(losses[-2:]) < sum(losses[:2]), losses


def test_state_dict_round_trip(make):
    a, b = make.method(SplitBrain, COLOUR), make.method(SplitBrain, COLOUR)
    torch.nn.init.normal_(b.ab_encoder[1].weight)
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = make.colour_batch(4).x
    with torch.no_grad():
        assert torch.allclose(a.embed(x), b.embed(x))


def test_previews(make):
    method = make.method(SplitBrain, COLOUR)
    method.eval()
    with torch.no_grad():
        p = method.previews(make.colour_batch(8))["split_brain"]
    assert len(p.tiles) == 40 == len(p.captions) and p.columns == 8
    assert p.captions[0] == "L input" and p.captions[32] == "original"
    assert p.captions[24].startswith("predicted L")
