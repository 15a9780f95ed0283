"""The thesis's time-series augmentations: shapes, identity at strength 0, seeded determinism."""
from __future__ import annotations

import pytest
import torch

from workbench.timeseries_augment import (SeriesViewConfig, amplitude_scale, jitter, resample, series_view,
                                          slice_resize, time_warp)

AUGMENTATIONS = {
    "amplitude_scale": lambda x, s, g: amplitude_scale(x, s, g),
    "jitter": lambda x, s, g: jitter(x, s, g),
    "slice_resize": lambda x, s, g: slice_resize(x, s, g),
    "time_warp": lambda x, s, g: time_warp(x, s, 4, g),
}


def _series(b=5, c=2, t=64):
    return torch.randn(b, c, t, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_shape_dtype_and_change(name):
    x = _series()
    y = AUGMENTATIONS[name](x, 0.3, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert not torch.allclose(y, x), "a non-zero strength must change the signal"


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_identity_at_zero_strength(name):
    x = _series()
    assert torch.allclose(AUGMENTATIONS[name](x, 0.0, torch.Generator().manual_seed(1)), x, atol=1e-5)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_seeded_determinism(name):
    x = _series()
    a = AUGMENTATIONS[name](x, 0.3, torch.Generator().manual_seed(7))
    b = AUGMENTATIONS[name](x, 0.3, torch.Generator().manual_seed(7))
    c = AUGMENTATIONS[name](x, 0.3, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_amplitude_scale_stays_in_its_range():
    x = torch.ones(1000, 1, 4)
    factors = amplitude_scale(x, 0.3, torch.Generator().manual_seed(0))[:, 0, 0]
    assert factors.min() >= 0.7 and factors.max() <= 1.3 and factors.std() > 0.1


def test_resample_interpolates_linearly():
    x = torch.tensor([[[0.0, 10.0, 20.0, 30.0]]])
    out = resample(x, torch.tensor([[0.0, 0.5, 2.25, 3.0]]))
    assert torch.allclose(out, torch.tensor([[[0.0, 5.0, 22.5, 30.0]]]))


def test_slice_keeps_a_window_of_the_signal():
    # a ramp sliced and resized is still a ramp, starting and ending inside the original range
    ramp = torch.linspace(0, 1, 101).view(1, 1, -1).repeat(20, 1, 1)
    out = slice_resize(ramp, 0.5, torch.Generator().manual_seed(0))
    steps = out.diff(dim=2)
    assert (steps > 0).all() and torch.allclose(steps, steps[..., :1].expand_as(steps), atol=1e-5)
    span = out[..., -1] - out[..., 0]
    assert (span >= 0.5 - 1e-5).all() and (span <= 1 + 1e-5).all()


def test_time_warp_is_monotone_and_keeps_the_ends():
    ramp = torch.linspace(0, 1, 128).view(1, 1, -1).repeat(10, 1, 1)
    out = time_warp(ramp, 0.5, 4, torch.Generator().manual_seed(0))
    assert (out.diff(dim=2) >= -1e-6).all()
    assert torch.allclose(out[..., 0], ramp[..., 0]) and torch.allclose(out[..., -1], ramp[..., -1], atol=1e-5)


def test_series_view_composes_all_and_is_off_at_zero():
    x = _series()
    off = SeriesViewConfig(scale=0, jitter=0, slice=0, warp=0)
    assert torch.allclose(series_view(x, off, torch.Generator().manual_seed(0)), x, atol=1e-5)
    a = series_view(x, generator=torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, series_view(x, generator=torch.Generator().manual_seed(3)))


def test_rejects_images():
    with pytest.raises(ValueError, match="sequences"):
        jitter(torch.zeros(2, 1, 8, 8))
