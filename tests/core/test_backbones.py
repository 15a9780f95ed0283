"""Backbones: every name builds for 1- and 3-channel inputs of all supported sizes and trains."""
from __future__ import annotations

import pytest
import torch

from workbench.backbones import BACKBONES, build_backbone

FEAT_DIM = {"small_cnn": 128, "small_cnn_grid": 1152, "small_cnn_levels": 224, "resnet18": 512, "mlp": 256, "resnet50": 2048, "vit_tiny": 192,
            "vit_small": 384}
# ViTs with two of their twelve blocks: the same code path, a sixth of the time
FAST = {"vit_tiny": {"depth": 2}, "vit_small": {"depth": 2}}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_backbone_is_described():
    assert set(BACKBONES) == set(FEAT_DIM)
    assert all(isinstance(d, str) and d for d in BACKBONES.values())


@pytest.mark.parametrize("name", sorted(FEAT_DIM))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_forward_and_backward(name, shape):
    torch.manual_seed(0)
    net, dim = build_backbone(name, shape, **FAST.get(name, {}))
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
        net, _ = build_backbone(name, shape, **FAST.get(name, {}))
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


def test_small_cnn_grid_is_the_small_cnn_map_pooled_to_a_grid():
    torch.manual_seed(0)
    net, dim = build_backbone("small_cnn_grid", (1, 28, 28), width=8, grid=2)
    assert dim == 32 * 4
    x = torch.rand(3, 1, 28, 28)
    fmap = net.eval()[:-2](x)  # the small_cnn trunk: 7x7 maps on 28 px
    assert fmap.shape == (3, 32, 7, 7)
    want = torch.nn.functional.adaptive_avg_pool2d(fmap, 2).flatten(1)
    torch.testing.assert_close(net(x), want)
    # the grid keeps where things are: a mirrored image gets other features, while the global
    # average of the same map (what small_cnn gives) barely tells the two apart
    mirrored = net(x.flip(3))
    avg, avg_mirrored = fmap.mean((2, 3)), net[:-2](x.flip(3)).mean((2, 3))
    assert (net(x) - mirrored).norm() > 2 * (avg - avg_mirrored).norm()


def test_small_cnn_grid_is_for_images_and_has_no_map_for_map_readers():
    from workbench.backbones import feature_trunk
    from workbench.config import ConfigError

    with pytest.raises(ConfigError, match="cannot encode sequences"):
        build_backbone("small_cnn_grid", (1, 256))
    assert feature_trunk(build_backbone("small_cnn_grid", (1, 28, 28))[0]) is None
    assert feature_trunk(build_backbone("small_cnn", (1, 28, 28))[0]) is not None


def test_small_cnn_levels_joins_each_blocks_gem_pooled_unit_length_map():
    torch.manual_seed(0)
    net, dim = build_backbone("small_cnn_levels", (3, 32, 32), width=8)
    assert dim == 7 * 8
    net.eval()
    x = torch.rand(3, 3, 32, 32)
    maps, h = [], x
    for layer in net.net:  # the small_cnn trunk: one map after each block's ReLU
        h = layer(h)
        if isinstance(layer, torch.nn.ReLU):
            maps.append(h)
    assert [m.shape[1] for m in maps] == [8, 16, 32]
    gem = [m.clamp_min(1e-6).pow(3).mean((2, 3)).pow(1 / 3) for m in maps]
    want = torch.cat([torch.nn.functional.normalize(g, dim=1) for g in gem], dim=1)
    out = net(x)
    torch.testing.assert_close(out, want)
    for part in out.split([8, 16, 32], dim=1):  # every level weighs the same in a cosine
        torch.testing.assert_close(part.norm(dim=1), torch.ones(3))
    # GeM lies between the average and the maximum of each map, nearer the maximum than p = 1
    last = maps[-1]
    assert (gem[-1] >= last.mean((2, 3)) - 1e-6).all() and (gem[-1] <= last.amax((2, 3)) + 1e-6).all()
    assert not torch.allclose(gem[-1], last.mean((2, 3)))


def test_small_cnn_levels_is_for_images_and_has_no_map_for_map_readers():
    from workbench.backbones import feature_trunk
    from workbench.config import ConfigError

    with pytest.raises(ConfigError, match="cannot encode sequences"):
        build_backbone("small_cnn_levels", (1, 256))
    assert feature_trunk(build_backbone("small_cnn_levels", (3, 32, 32))[0]) is None


def test_unknown_name_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="resnet101") as err:
        build_backbone("resnet101", (3, 32, 32))
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


# --- ResNet stems, ViT patches, initial weights ----------------------------------------------

@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_stem_follows_the_image_side(name):
    from workbench.backbones import IMAGENET_STEM_MIN_SIDE

    small, _ = build_backbone(name, (3, IMAGENET_STEM_MIN_SIDE - 1, IMAGENET_STEM_MIN_SIDE - 1))
    assert small[1].conv1.kernel_size == (3, 3) and isinstance(small[1].maxpool, torch.nn.Identity)
    big, dim = build_backbone(name, (1, IMAGENET_STEM_MIN_SIDE, IMAGENET_STEM_MIN_SIDE))
    assert big[1].conv1.kernel_size == (7, 7) and big[1].conv1.stride == (2, 2)
    assert big[1].conv1.in_channels == 1 and isinstance(big[1].maxpool, torch.nn.MaxPool2d)
    assert big(torch.rand(2, 1, 64, 64)).shape == (2, dim)


@pytest.mark.parametrize("side,patch", [(28, 4), (32, 4), (64, 8), (96, 8), (128, 16), (224, 16)])
def test_vit_patch_size_follows_the_image_side(side, patch):
    from workbench.backbones import vit_patch_size

    assert vit_patch_size(side) == patch
    net, _ = build_backbone("vit_tiny", (3, side, side), depth=1)
    assert net.patch_size == patch and net.num_patches == (side // patch) ** 2


def test_vit_sizes_are_tiny_and_small():
    tiny, _ = build_backbone("vit_tiny", (3, 32, 32))
    small, _ = build_backbone("vit_small", (3, 32, 32))
    assert len(tiny.vit.encoder.layers) == len(small.vit.encoder.layers) == 12
    assert tiny.vit.encoder.layers[0].self_attention.num_heads == 3
    assert small.vit.encoder.layers[0].self_attention.num_heads == 6
    assert 5e6 < sum(p.numel() for p in tiny.parameters()) < 6e6  # DeiT-Ti: 5.7 M with its head


def test_vit_encodes_crops_of_other_sizes():
    # jigsaw, relative position and CPC feed tiles smaller than the image
    net, dim = build_backbone("vit_tiny", (3, 32, 32), depth=1)
    for side in (12, 7, 3):
        assert net(torch.rand(2, 3, side, side)).shape == (2, dim)


def test_backbone_problem_for_vits():
    from workbench.backbones import backbone_problem
    from workbench.config import ConfigError

    assert backbone_problem("vit_tiny", "image", (3, 32, 32)) is None
    assert "sequences" in backbone_problem("vit_small", "sequence", (1, 256))
    assert "multiple of 8" in backbone_problem("vit_tiny", "image", (3, 100, 100))
    assert "96 or 104" in backbone_problem("vit_tiny", "image", (3, 100, 100))
    assert "square" in backbone_problem("vit_tiny", "image", (3, 32, 64))
    assert backbone_problem("resnet50", "image", (3, 100, 100)) is None
    with pytest.raises(ConfigError, match="multiple of 4"):
        build_backbone("vit_tiny", (1, 30, 30))


@pytest.mark.parametrize("name", ["resnet18", "vit_tiny"])
def test_initial_weights_from_a_local_file(name, tmp_path):
    from workbench.backbones import load_backbone_weights

    kwargs = FAST.get(name, {})
    torch.manual_seed(1)
    source, _ = build_backbone(name, (3, 32, 32), **kwargs)
    inner = source[1] if name == "resnet18" else source.vit
    # torchvision's own key names (what resnet18-*.pth holds), classifier included
    state = {**inner.state_dict(), "fc.weight": torch.zeros(1000, 512)}
    torch.save(state, tmp_path / "w.pth")
    torch.manual_seed(2)
    target, _ = build_backbone(name, (3, 32, 32), **kwargs)
    x = torch.rand(2, 3, 32, 32)
    assert not torch.allclose(target.eval()(x), source.eval()(x))
    load_backbone_weights(target, str(tmp_path / "w.pth"))
    assert torch.allclose(target.eval()(x), source.eval()(x))


def test_initial_weights_that_do_not_fit_are_a_config_error(tmp_path):
    from workbench.backbones import load_backbone_weights
    from workbench.config import ConfigError

    rgb, _ = build_backbone("resnet18", (3, 64, 64))
    torch.save(rgb.state_dict(), tmp_path / "rgb.pt")
    grey, _ = build_backbone("resnet18", (1, 64, 64))
    with pytest.raises(ConfigError, match=r"conv1.weight is \(64, 3, 7, 7\).*\(64, 1, 7, 7\)"):
        load_backbone_weights(grey, str(tmp_path / "rgb.pt"))
    with pytest.raises(ConfigError, match="missing"):
        load_backbone_weights(build_backbone("resnet50", (3, 32, 32))[0], str(tmp_path / "rgb.pt"))
    with pytest.raises(ConfigError, match="no file"):
        load_backbone_weights(grey, str(tmp_path / "absent.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read"):
        load_backbone_weights(grey, str(tmp_path / "junk.pt"))


def test_run_setting_backbone_weights_reaches_byols_target_too(tmp_path):
    # loaded before the method is built, so BYOL's target network starts from them as well
    from workbench.build import build_method
    from workbench.config import new_run_config
    from workbench.data import load_dataset

    data = load_dataset("digits")
    torch.manual_seed(3)
    source, _ = build_backbone("small_cnn", data.spec.input_shape)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    run = new_run_config("byol", "digits", backbone_weights=str(tmp_path / "w.pt"), device="cpu")
    method = build_method(run, data)
    for key, value in source.state_dict().items():
        assert torch.equal(method.backbone.state_dict()[key], value)
    target = {k: v for k, v in method.state_dict().items() if "target" in k or "momentum" in k}
    assert any(torch.equal(v, source.state_dict()["1.weight"]) for v in target.values())
    assert not torch.equal(build_method(new_run_config("byol", "digits", device="cpu"), data)
                           .backbone.state_dict()["1.weight"], source.state_dict()["1.weight"])


def test_a_missing_weights_file_is_refused_before_the_run_but_not_when_reloading(tmp_path):
    from workbench.build import check_data, build_method
    from workbench.config import ConfigError, new_run_config
    from workbench.data import load_dataset
    from workbench.registry import get_method

    data = load_dataset("digits")
    run = new_run_config("rotation", "digits", backbone_weights=str(tmp_path / "gone.pt"), device="cpu")
    with pytest.raises(ConfigError, match="backbone_weights: no file"):
        check_data(get_method("rotation"), run, data)
    build_method(run, data, initial_weights=False)  # a run's checkpoint replaces them anyway
