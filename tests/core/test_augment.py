"""Batched augmentation: geometry, colour properties, per-sample randomness, determinism."""
from __future__ import annotations

import math

import pytest
import torch

from workbench import augment as A
from workbench.augment import ViewConfig

OFF = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=0.0)


def images(b=4, c=3, h=16, w=16, seed=0, lo=0.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(b, c, h, w, generator=g)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- geometry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 3, 16, 16), (2, 1, 8, 8), (2, 3, 12, 20)])
def test_full_crop_is_identity(shape):
    x = torch.rand(shape)
    ratio = (shape[3] / shape[2],) * 2  # the image's own aspect, so the whole image fits
    y = A.random_resized_crop(x, scale=(1.0, 1.0), ratio=ratio, generator=gen())
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_view_with_everything_off_is_identity():
    x = images()
    torch.testing.assert_close(A.random_view(x, ViewConfig(**OFF), gen()), x, atol=1e-5, rtol=0)


def test_crop_zooms_into_a_box_of_the_requested_area():
    # a horizontal ramp: a crop of a quarter of the area (half the width at ratio 1)
    # must show half of the ramp's range, starting at a different place per sample
    B, S = 64, 32
    ramp = ((torch.arange(S) + 0.5) / S).expand(B, 1, S, S).contiguous()
    y = A.random_resized_crop(ramp, scale=(0.25, 0.25), ratio=(1.0, 1.0), generator=gen())
    # columns 1 and S-2 sample inside the outer input pixel centres, where the bilinear
    # ramp is exact (beyond them, the border pixel is repeated)
    span = y[:, 0, 0, -2] - y[:, 0, 0, 1]
    torch.testing.assert_close(span, torch.full((B,), 0.5 * (S - 3) / S), atol=1e-4, rtol=0)
    left = y[:, 0, 0, 0]
    # the leftmost output column samples a quarter pixel into the box
    assert left.min() >= ramp.min() - 1e-6 and left.max() <= (S / 2 + 0.25) / S + 1e-5
    assert left.std() > 0.05  # boxes move from sample to sample
    # rows of a horizontal ramp stay identical: no vertical mixing, no rotation
    torch.testing.assert_close(y[:, :, 0], y[:, :, -1])


def test_crop_respects_scale_and_ratio_bounds():
    x = images(256, 1, 16, 16)
    x0, y0, w, h = A._crop_boxes(x, (0.2, 0.6), (0.75, 4 / 3), gen())
    area = w * h / 256
    assert area.min() >= 0.2 - 1e-5 and area.max() <= 0.6 + 1e-5
    assert (w / h).min() >= 0.75 - 1e-5 and (w / h).max() <= 4 / 3 + 1e-5
    assert (x0 >= 0).all() and (y0 >= 0).all()
    assert (x0 + w <= 16 + 1e-4).all() and (y0 + h <= 16 + 1e-4).all()


def test_crop_samples_exactly_the_drawn_box():
    # ramps along x and y read back the box: output column i samples x0 + (i + 0.5)·w/S
    S = 16
    ramp_x = ((torch.arange(S) + 0.5) / S).expand(32, 1, S, S)
    ramp = torch.cat([ramp_x, ramp_x.transpose(2, 3)], dim=1).contiguous()
    x0, y0, w, h = A._crop_boxes(ramp, (0.1, 0.5), (0.5, 2.0), gen(3))
    y = A.random_resized_crop(ramp, (0.1, 0.5), (0.5, 2.0), gen(3))  # same draws
    i = torch.arange(1, S - 1)  # inner columns: clear of the border-pixel clamp
    want_x = (x0[:, None] + (i + 0.5) * w[:, None] / S) / S
    want_y = (y0[:, None] + (i + 0.5) * h[:, None] / S) / S
    torch.testing.assert_close(y[:, 0, 0, 1 : S - 1], want_x, atol=1e-5, rtol=0)
    torch.testing.assert_close(y[:, 1, 1 : S - 1, 0], want_y, atol=1e-5, rtol=0)


@pytest.mark.parametrize("ratio, size", [(0.5, (8.0, 16.0)), (2.0, (16.0, 8.0))])
def test_crop_falls_back_to_the_largest_allowed_box(ratio, size):
    # a 1:2 (or 2:1) box of the full area never fits a square, so every sample takes the
    # fallback: the whole image trimmed to the allowed aspect
    x = images(16, 1, 16, 16)
    x0, y0, w, h = A._crop_boxes(x, (1.0, 1.0), (ratio, ratio), gen())
    torch.testing.assert_close(w, torch.full((16,), size[0]))
    torch.testing.assert_close(h, torch.full((16,), size[1]))
    torch.testing.assert_close(x0, (16 - w) / 2)  # centred, as torchvision does
    torch.testing.assert_close(y0, (16 - h) / 2)


def test_flip():
    x = images()
    torch.testing.assert_close(A.random_flip(x, 1.0), x.flip(3))
    assert torch.equal(A.random_flip(x, 0.0), x)
    y = A.random_flip(images(64), 0.5, gen())
    flipped = (y == images(64).flip(3)).flatten(1).all(1)
    assert 0 < flipped.sum() < 64


def test_flip_folded_into_the_crop_in_random_view():
    x = images()
    cfg = ViewConfig(**{**OFF, "flip_p": 1.0})
    torch.testing.assert_close(A.random_view(x, cfg, gen()), x.flip(3), atol=1e-5, rtol=0)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_rotate90_matches_torch_rot90(k):
    x = images(3, 3, 8, 8)
    y = A.rotate90(x, torch.full((3,), k, dtype=torch.int64))
    assert torch.equal(y, torch.rot90(x, k, dims=(2, 3)))


def test_rotate90_per_sample_and_random_rotations():
    x = images(8, 1, 6, 6)
    k = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    y = A.rotate90(x, k)
    for i in range(8):
        assert torch.equal(y[i], torch.rot90(x[i], int(k[i]), dims=(1, 2)))
    rot, k = A.random_rotations(images(64, 3, 6, 6), gen())
    assert k.dtype == torch.int64 and set(k.tolist()) == {0, 1, 2, 3}
    assert torch.equal(rot, A.rotate90(images(64, 3, 6, 6), k))
    with pytest.raises(ValueError, match="square"):
        A.rotate90(images(2, 3, 6, 8), torch.zeros(2, dtype=torch.int64))


# --- colour -------------------------------------------------------------------------------------


def test_grayscale_has_equal_channels_and_is_noop_for_one_channel():
    x = images()
    y = A.random_grayscale(x, 1.0)
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 1], y[:, 2])
    lum = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    torch.testing.assert_close(y[:, 0], lum)
    assert torch.equal(A.random_grayscale(x, 0.0), x)
    g1 = images(c=1)
    assert torch.equal(A.random_grayscale(g1, 1.0), g1)


@pytest.mark.parametrize("c", [1, 3])
def test_jitter_stays_in_range_and_changes_samples(c):
    x = torch.cat([images(8, c), torch.zeros(2, c, 16, 16), torch.ones(2, c, 16, 16)])
    y = A.color_jitter(x, 0.8, 0.8, 0.8, 0.5, p=1.0, generator=gen())
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    assert (y[:8] - x[:8]).abs().flatten(1).amax(1).min() > 1e-3  # every jittered sample changed
    assert torch.equal(A.color_jitter(x, p=0.0), x)


def test_jitter_skipped_samples_are_untouched():
    x = images(64)
    y = A.color_jitter(x, p=0.5, generator=gen())
    same = (y == x).flatten(1).all(1)
    assert 0 < same.sum() < 64


def test_brightness_scales_a_flat_image_per_sample():
    x = torch.full((64, 3, 4, 4), 0.5)
    y = A.color_jitter(x, 0.4, 0.0, 0.0, 0.0, p=1.0, generator=gen())
    factor = y / 0.5
    assert torch.allclose(factor, factor[:, :1, :1, :1].expand_as(factor), atol=1e-6)
    assert factor.min() >= 0.6 - 1e-5 and factor.max() <= 1.4 + 1e-5
    assert factor.std() > 0.1


def test_contrast_keeps_mean_grey_and_saturation_keeps_pixel_grey():
    x = images(16, lo=0.4, hi=0.6)  # mid-range so no value is clipped
    lum = lambda t: 0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]  # noqa: E731
    y = A.color_jitter(x, 0.0, 0.5, 0.0, 0.0, p=1.0, generator=gen())
    torch.testing.assert_close(lum(y).mean((1, 2)), lum(x).mean((1, 2)), atol=1e-5, rtol=0)
    assert (y.std((1, 2, 3)) / x.std((1, 2, 3)) - 1).abs().max() > 0.05
    y = A.color_jitter(x, 0.0, 0.0, 0.5, 0.0, p=1.0, generator=gen())
    torch.testing.assert_close(lum(y), lum(x), atol=1e-5, rtol=0)
    assert (y - x).abs().max() > 1e-2


def test_hue_keeps_greys_grey_and_turns_colours():
    grey = torch.rand(8, 1, 4, 4).expand(8, 3, 4, 4)
    torch.testing.assert_close(A.color_jitter(grey, 0, 0, 0, 0.5, p=1.0, generator=gen()), grey, atol=1e-5, rtol=0)
    red = torch.tensor([0.7, 0.3, 0.3]).view(1, 3, 1, 1).expand(256, 3, 2, 2)
    y = A.color_jitter(red, 0, 0, 0, 0.1, p=1.0, generator=gen())[:, :, 0, 0]
    # a positive hue shift moves red towards yellow (green up), a negative one towards
    # magenta (blue up), as torchvision's adjust_hue does; both directions occur
    assert (y[:, 1] > y[:, 2] + 0.02).any() and (y[:, 2] > y[:, 1] + 0.02).any()
    assert (y[:, 0] > y[:, 1:].max(1).values).all()  # ±36° keeps red the dominant channel
    # and the sign agrees with torchvision: +0.05 turns red towards yellow
    turned = A._hue_matrices(torch.tensor([0.05])) @ torch.tensor([[0.7], [0.3], [0.3]])
    assert turned[0, 1] > 0.3 > turned[0, 2]


def test_blur():
    x = images()
    assert torch.equal(A.gaussian_blur(x, (0.1, 2.0), 0.0), x)
    y = A.gaussian_blur(x, (1.0, 2.0), 1.0, gen())
    assert y.shape == x.shape
    assert y.std() < 0.7 * x.std()  # noise is smoothed
    torch.testing.assert_close(y.mean((2, 3)), x.mean((2, 3)), atol=0.05, rtol=0)
    flat = torch.full((2, 3, 8, 8), 0.3)
    torch.testing.assert_close(A.gaussian_blur(flat, (0.5, 2.0), 1.0, gen()), flat)
    # an impulse spreads symmetrically and keeps its mass (away from the border)
    imp = torch.zeros(1, 1, 15, 15)
    imp[0, 0, 7, 7] = 1
    b = A.gaussian_blur(imp, (1.0, 1.0), 1.0, gen())
    torch.testing.assert_close(b.sum(), torch.tensor(1.0))
    torch.testing.assert_close(b, b.flip(2).flip(3))
    # only the drawn samples are blurred
    y = A.gaussian_blur(images(32), (1.0, 2.0), 0.5, gen())
    same = (y == images(32)).flatten(1).all(1)
    assert 0 < same.sum() < 32


# --- views, randomness, dtypes -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3, 16, 16), (4, 1, 8, 8), (3, 3, 12, 20)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_views_keep_shape_dtype_and_range(shape, dtype):
    x = torch.rand(shape, dtype=dtype)
    v1, v2 = A.two_views(x, ViewConfig(blur_p=0.5), gen())
    for v in (v1, v2):
        assert v.shape == x.shape and v.dtype == dtype and v.device == x.device
        assert torch.isfinite(v).all() and v.min() >= 0 and v.max() <= 1


def test_every_sample_and_view_gets_its_own_parameters():
    x = images(1).expand(16, -1, -1, -1).contiguous()  # one image, 16 times
    v1, v2 = A.two_views(x, ViewConfig(), gen())
    views = torch.cat([v1, v2]).flatten(1)
    d = torch.cdist(views, views)
    d.fill_diagonal_(float("inf"))
    assert d.min() > 1e-3  # no two of the 32 views are the same


def test_randomness_is_reproducible_from_seed_and_generator():
    x = images(8)
    torch.manual_seed(123)
    a = A.two_views(x)
    torch.manual_seed(123)
    b = A.two_views(x)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    c = A.random_view(x, generator=gen(7))
    assert torch.equal(c, A.random_view(x, generator=gen(7)))
    assert not torch.equal(c, A.random_view(x, generator=gen(8)))


def test_to_float():
    u = torch.tensor([[[[0, 128, 255]]]], dtype=torch.uint8)
    f = A.to_float(u)
    assert f.dtype == torch.float32
    torch.testing.assert_close(f, torch.tensor([[[[0.0, 128 / 255, 1.0]]]]))
    with pytest.raises(TypeError):
        A.to_float(f)


def test_bad_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="float image batch"):
        A.random_view(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="crop scale"):
        A.random_resized_crop(images(), scale=(0.0, 1.0))


# --- rotation of the crop ---------------------------------------------------------------------


def _whole_box(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    B, _, H, W = x.shape
    return torch.zeros(B), torch.zeros(B), torch.full((B,), float(W)), torch.full((B,), float(H))


def test_a_quarter_turn_of_the_whole_image_is_rot90():
    x = images(2, 3, 8, 8)
    turned = A._sample_boxes(x, *_whole_box(x), flip=None, angle=torch.full((2,), math.pi / 2))
    torch.testing.assert_close(turned, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5, rtol=0)


def test_rotation_turns_pixels_not_normalised_coordinates():
    # a square box of a 8x16 image turned by a quarter: the square's rot90, then stretched to
    # the output's 8x16 like any crop; turning in normalised coordinates would shear it instead
    x = images(2, 1, 8, 16)
    B = 2
    turned = A._sample_boxes(x, torch.full((B,), 4.0), torch.zeros(B), torch.full((B,), 8.0),
                             torch.full((B,), 8.0), flip=None, angle=torch.full((B,), math.pi / 2))
    square = torch.rot90(x[:, :, :, 4:12], 1, dims=(2, 3))
    want = torch.nn.functional.interpolate(square, size=(8, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(turned, want, atol=1e-5, rtol=0)


def test_view_rotation_stays_within_its_range_and_zero_changes_nothing():
    x = images(64, 1, 16, 16)
    # rotate=0 draws nothing extra: the same views as before rotation existed
    torch.testing.assert_close(A.random_view(x, ViewConfig(rotate=0.0), gen(5)),
                               A.random_view(x, ViewConfig(), gen(5)))
    # a centred bright bar: a view turned by at most 15 degrees keeps it near horizontal,
    # while up to 90 degrees turns some of them well off it
    bar = torch.zeros(64, 1, 16, 16)
    bar[:, :, 7:9, 2:14] = 1.0

    def tilt(rotate):
        v = A.random_view(bar, ViewConfig(**{**OFF, "rotate": rotate}), gen(1))
        return (v[:, 0, :4].sum((1, 2)) + v[:, 0, -4:].sum((1, 2)))  # ink far from the middle rows

    assert tilt(15.0).max() < 0.5 < tilt(90.0).max()
    assert tilt(0.0).abs().max() < 1e-6


def test_view_shift_moves_content_within_its_range_without_resizing_it():
    x = images(64, 1, 16, 16)
    # shift=0 draws nothing extra: the same views as before shifts existed
    torch.testing.assert_close(A.random_view(x, ViewConfig(shift=0.0), gen(5)),
                               A.random_view(x, ViewConfig(), gen(5)))
    dot = torch.zeros(64, 1, 16, 16)
    dot[:, :, 7:9, 7:9] = 1.0  # a 2x2 dot in the middle, its centre at (8, 8) in pixel edges
    v = A.random_view(dot, ViewConfig(**{**OFF, "shift": 0.25}), gen(1))[:, 0]
    mass = v.sum((1, 2))
    torch.testing.assert_close(mass, torch.full_like(mass, 4.0), atol=1e-4, rtol=0)  # same size
    grid = torch.arange(16, dtype=torch.float32) + 0.5
    cy, cx = (v.sum(2) * grid).sum(1) / mass, (v.sum(1) * grid).sum(1) / mass
    moved = torch.stack([cx - 8, cy - 8], 1).abs()
    assert moved.max() <= 0.25 * 16 + 1e-4  # at most a quarter of the side either way
    assert moved.max() > 2 and (moved[:, 0] - moved[:, 1]).abs().max() > 0.5  # each axis on its own
    with pytest.raises(ValueError, match="shift"):
        A.random_view(dot, ViewConfig(shift=0.6), gen(1))
