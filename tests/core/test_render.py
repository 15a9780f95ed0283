"""workbench.render: line plots, sparklines, bars and heatmaps drawn into uint8 tiles."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.api import Preview
from workbench.render import (AXIS, BACKGROUND, CMAPS, bar_tile, colormap, heatmap_tile, line_tile,
                              shared_limits, sparklines)

LINE = (255, 0, 0)


def _is(tile, rgb) -> np.ndarray:
    return (tile == np.asarray(rgb, np.uint8)).all(axis=-1)


def test_line_tile_shape_and_type():
    tile = line_tile(np.sin(np.linspace(0, 6, 256)), size=(48, 96))
    assert tile.shape == (48, 96, 3) and tile.dtype == np.uint8


def test_line_goes_up_where_the_values_do():
    # a rising ramp: the trace starts at the bottom-left and ends at the top-right
    tile = line_tile(np.arange(100.0), size=(20, 50), colour=LINE, zero_line=False)
    drawn = _is(tile, LINE)
    rows = [np.flatnonzero(drawn[:, c]) for c in (0, 49)]
    assert rows[0].min() >= 18 and rows[1].max() <= 1
    # the trace is unbroken: every column has a pixel, and neighbours touch
    cols = [np.flatnonzero(drawn[:, c]) for c in range(50)]
    assert all(len(c) for c in cols)
    assert all(a.min() <= b.max() + 1 and b.min() <= a.max() + 1 for a, b in zip(cols, cols[1:]))


def test_fast_oscillation_fills_its_envelope_instead_of_aliasing():
    # 100 cycles in 64 columns: each column covers a full swing, so it is drawn top to bottom
    x = np.sin(np.linspace(0, 200 * np.pi, 2000))
    drawn = _is(line_tile(x, size=(30, 64), colour=LINE, zero_line=False), LINE)
    assert drawn.sum(axis=0).min() >= 25


def test_short_series_are_stretched_across_the_width():
    drawn = _is(line_tile([0.0, 1.0, 0.0], size=(10, 40), colour=LINE, zero_line=False), LINE)
    assert drawn.any(axis=0).all()


def test_ylim_clips_and_flat_series_draw_in_the_middle():
    drawn = _is(line_tile([5.0, 5.0], size=(11, 8), colour=LINE, ylim=(-1, 1), zero_line=False), LINE)
    assert drawn[0].all() and drawn.sum() == 8  # out of range: pinned to the top edge
    flat = _is(line_tile(np.zeros(10), size=(11, 8), colour=LINE, zero_line=False), LINE)
    assert flat[5].all() and flat.sum() == 8


def test_zero_line_and_spans_are_drawn_behind_the_trace():
    tile = line_tile(np.full(100, 0.5), size=(21, 100), colour=LINE, ylim=(-1, 1),
                     spans=[(0, 50, (0, 0, 255), 1.0)])
    assert _is(tile, AXIS)[10].any()  # zero is row 10 of 21
    assert _is(tile[:, :50], (0, 0, 255)).any() and not _is(tile[:, 50:], (0, 0, 255)).any()
    assert _is(tile, BACKGROUND)[:, 50:].any()
    assert _is(tile, LINE).sum(axis=0).min() >= 1  # the trace wins over the band


def test_several_series_get_their_own_colours():
    tile = line_tile(np.stack([np.zeros(50), np.ones(50)]), size=(20, 50),
                     colour=[(255, 0, 0), (0, 255, 0)], zero_line=False)
    assert _is(tile, (255, 0, 0)).any() and _is(tile, (0, 255, 0)).any()


def test_sparklines_share_one_y_range():
    small, large = 0.2 * np.sin(np.linspace(0, 20, 200)), 2.0 * np.sin(np.linspace(0, 20, 200))
    tiles = sparklines(np.stack([small, large])[:, None], size=(40, 80), colour=LINE, zero_line=False)
    assert tiles.shape == (2, 40, 80, 3)
    height = [np.ptp(np.flatnonzero(_is(t, LINE).any(axis=1))) for t in tiles]
    assert height[1] > 5 * height[0]


def test_sparklines_draw_each_channel():
    x = np.stack([np.zeros((2, 30)), np.ones((2, 30))], axis=1)  # (N=2, C=2, T=30)
    tiles = sparklines(x, size=(20, 30))
    colours = {tuple(c) for c in tiles[0].reshape(-1, 3)}
    assert len(colours) >= 3  # background and two channel colours


def test_shared_limits_ignore_rare_outliers():
    v = np.concatenate([np.random.default_rng(0).uniform(-1, 1, 10_000), [1000.0]])
    lo, hi = shared_limits(v)
    assert -1.2 < lo < -0.9 and 0.9 < hi < 1.2


def test_bar_tile_heights_signs_and_colours():
    tile = bar_tile([1.0, 0.5, -0.5], size=(21, 30), colours=[(255, 0, 0), (0, 255, 0), (0, 0, 255)],
                    vmin=-1, vmax=1, gap=0)
    red, green, blue = (_is(tile, c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255)))
    assert red[:, :10].any() and green[:, 10:20].any() and blue[:, 20:].any()
    # zero at row 10: the full bar reaches the top, the half bar half way, the negative one hangs
    assert np.flatnonzero(red.any(axis=1)).min() == 0
    assert np.flatnonzero(green.any(axis=1)).min() == 5
    assert np.flatnonzero(blue.any(axis=1)).min() >= 10 and np.flatnonzero(blue.any(axis=1)).max() == 15
    with pytest.raises(ValueError, match="2 colours for 3 values"):
        bar_tile([1, 2, 3], colours=[(0, 0, 0)] * 2)


def test_heatmap_cells_orientation_and_colour_maps():
    a = np.array([[0.0, 1.0], [0.5, 0.0]])
    tile = heatmap_tile(a, size=(4, 6))
    assert tile.shape == (4, 6, 3) and tile.dtype == np.uint8
    lut = colormap("viridis")
    assert (tile[0, 0] == lut[0]).all() and (tile[0, 5] == lut[255]).all()
    assert (tile[3, 0] == lut[128]).all() or (tile[3, 0] == lut[127]).all()
    lower = heatmap_tile(a, origin="lower")
    assert (lower[1, 1] == lut[255]).all()  # row 0 at the bottom
    assert set(CMAPS) >= {"viridis", "grey", "coolwarm"}
    with pytest.raises(ValueError, match="viridis"):
        heatmap_tile(a, cmap="jet")


def test_bad_sizes_and_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="2×2"):
        line_tile([1, 2], size=(1, 10))
    with pytest.raises(ValueError, match="2-D"):
        heatmap_tile(np.zeros(3))
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        sparklines(np.zeros(5))


def test_preview_from_series_makes_line_tiles():
    preview = Preview.from_series("Inputs", torch.randn(5, 1, 64), captions=list("abcde"), columns=5)
    assert len(preview.tiles) == 5 and preview.tiles[0].shape == (48, 96, 3)
    assert preview.captions == list("abcde")
    grid = preview.grid()
    assert grid.dtype == np.uint8 and grid.shape == (2 + 50, 2 + 5 * 98, 3)
