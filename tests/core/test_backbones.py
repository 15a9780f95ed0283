"""Backbones: every name builds for 1- and 3-channel inputs of all supported sizes and trains."""
from __future__ import annotations

import pytest
import torch

from workbench.backbones import BACKBONES, build_backbone

FEAT_DIM = {"small_cnn": 128, "resnet18": 512, "mlp": 256}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # batches of two gain nothing from threads, and on a busy machine OpenMP workers waiting
    # on each other made ResNet-18's backward pass ten times slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_every_backbone_is_described():
    assert set(BACKBONES) == set(FEAT_DIM)
    assert all(isinstance(d, str) and d for d in BACKBONES.values())


@pytest.mark.parametrize("name", sorted(FEAT_DIM))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_forward_and_backward(name, shape):
    torch.manual_seed(0)
    net, dim = build_backbone(name, shape)
    assert dim == FEAT_DIM[name]
    x = torch.rand(2, *shape)
    feats = net(x)
    assert feats.shape == (2, dim)
    assert torch.isfinite(feats).all()
    feats.square().mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", sorted(FEAT_DIM))
def test_deterministic_given_seed(name):
    shape = (3, 8, 8)
    x = torch.rand(2, *shape)
    outs = []
    for _ in range(2):
        torch.manual_seed(42)
        net, _ = build_backbone(name, shape)
        outs.append(net.eval()(x))
    assert torch.equal(*outs)


def test_inputs_are_normalised_inside():
    # the first op maps [0, 1] pixels to (x - 0.5) / 0.25, so callers pass raw [0, 1] images
    net, _ = build_backbone("mlp", (1, 2, 2))
    assert torch.equal(net[0](torch.tensor([0.0, 0.5, 1.0])), torch.tensor([-2.0, 0.0, 2.0]))


def test_small_cnn_width_and_larger_inputs():
    net, dim = build_backbone("small_cnn", (3, 64, 64), width=8)
    assert dim == 32
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 32)


def test_unknown_name_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="resnet50") as err:
        build_backbone("resnet50", (3, 32, 32))
    for name in BACKBONES:
        assert name in str(err.value)


# --- sequences (C, T) -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["small_cnn", "mlp"])
@pytest.mark.parametrize("shape", [(1, 256), (3, 32), (1, 1)])
def test_sequence_forward_and_backward(name, shape):
    torch.manual_seed(0)
    net, dim = build_backbone(name, shape)
    assert dim == FEAT_DIM[name]
    x = torch.randn(2, *shape)  # standardised float sequences, not [0, 1] pixels
    feats = net(x)
    assert feats.shape == (2, dim) and torch.isfinite(feats).all()
    feats.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_small_cnn_on_sequences_is_a_1d_cnn_without_pixel_normalisation():
    net, _ = build_backbone("small_cnn", (1, 256), width=8)
    kinds = {type(m) for m in net.modules()}
    assert torch.nn.Conv1d in kinds and torch.nn.Conv2d not in kinds
    assert not any(type(m).__name__ == "Normalize" for m in net.modules())
    # global pooling: longer sequences give features of the same size
    assert net(torch.randn(2, 1, 1000)).shape == (2, 32)


def test_small_cnn_on_sequences_sees_the_order_of_time():
    # a 1-D CNN is not a bag of samples: reversing a chirp-like ramp changes its features
    torch.manual_seed(0)
    net, _ = build_backbone("small_cnn", (1, 64), width=8)
    net.eval()
    x = torch.linspace(0, 1, 64).pow(3).view(1, 1, 64)
    assert not torch.allclose(net(x), net(x.flip(-1)))


def test_mlp_on_sequences_flattens_every_channel_and_step():
    net, _ = build_backbone("mlp", (2, 50), hidden=16, out_dim=8)
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Linear))
    assert first.in_features == 100


def test_resnet18_on_sequences_is_a_clear_config_error():
    from workbench.config import ConfigError

    with pytest.raises(ConfigError, match="resnet18.*image network.*small_cnn or mlp"):
        build_backbone("resnet18", (1, 256))


def test_backbone_problem_names_what_works():
    from workbench.backbones import backbone_problem

    assert backbone_problem("resnet18", "image") is None
    assert backbone_problem("small_cnn", "sequence") is None
    assert "small_cnn" in backbone_problem("resnet18", "sequence")


def test_other_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(C, H, W\).*\(C, T\)"):
        build_backbone("small_cnn", (256,))
