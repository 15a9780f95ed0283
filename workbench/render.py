"""Small plots drawn straight into uint8 H×W×3 tiles with numpy: line plots and sparklines,
bar charts and heatmaps, for previews and thumbnails of data that is not an image."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RGB = tuple[int, int, int]

BACKGROUND: RGB = (24, 24, 28)
AXIS: RGB = (72, 72, 80)  # the zero line / bar baseline
# Distinct on the dark background; series i gets PALETTE[i % len(PALETTE)].
PALETTE: tuple[RGB, ...] = ((90, 170, 255), (255, 150, 60), (100, 210, 120), (235, 90, 90),
                            (190, 130, 255), (230, 210, 80))
GOOD: RGB = (80, 200, 110)
BAD: RGB = (230, 80, 80)
MUTED: RGB = (120, 120, 130)

# Colour maps as a few anchors, interpolated to 256 entries (matplotlib's viridis, sampled).
_CMAP_ANCHORS = {
    "viridis": [(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
                (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)],
    "grey": [(0, 0, 0), (255, 255, 255)],
    # diverging, for signed values such as similarities: blue < 0 < red around a dark middle
    "coolwarm": [(60, 110, 230), (40, 40, 48), (230, 80, 60)],
}
CMAPS = tuple(_CMAP_ANCHORS)


def _size(size: Sequence[int]) -> tuple[int, int]:
    h, w = (int(s) for s in size)
    if h < 2 or w < 2:
        raise ValueError(f"a tile needs at least 2×2 pixels, got size={tuple(size)}")
    return h, w


def _rgb(colour) -> np.ndarray:
    arr = np.asarray(colour, dtype=np.float32).reshape(-1)
    if arr.shape != (3,):
        raise ValueError(f"a colour is three 0-255 numbers (R, G, B), got {colour!r}")
    return arr


def _limits(values: np.ndarray, ylim) -> tuple[float, float]:
    """(lo, hi) for the y axis: ylim as given, or the data's range with a 5% margin."""
    if ylim is not None:
        lo, hi = float(ylim[0]), float(ylim[1])
    else:
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        pad = 0.05 * (hi - lo)
        lo, hi = lo - pad, hi + pad
    if not hi > lo:  # a flat line sits in the middle
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi


def shared_limits(values, quantile: float = 0.995) -> tuple[float, float]:
    """One y range for a whole set of series (so amplitudes compare across tiles): the central
    `quantile` of the values, with a 5% margin; a few outliers are clipped instead of
    squashing every curve flat."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return -1.0, 1.0
    lo, hi = np.quantile(v, [1 - quantile, quantile])
    pad = 0.05 * (hi - lo)
    return _limits(v, (lo - pad, hi + pad))


def _column_envelopes(series: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per pixel column (S, width) of S series of T samples each.

    Each column spans the samples that fall in it plus the first sample of the next column,
    so consecutive columns join into one unbroken trace, and a fast oscillation squeezed into
    few columns shows as a filled band (its envelope) rather than aliasing into a false curve.
    """
    s, t = series.shape
    if t == 1:
        series = np.repeat(series, 2, axis=1)
        t = 2
    if t < width:  # fewer samples than columns: interpolate one value per column
        grid = np.linspace(0, t - 1, width)
        series = np.stack([np.interp(grid, np.arange(t), row) for row in series])
        t = width
    col = np.arange(t) * width // t  # the column of each sample (nondecreasing)
    starts = np.searchsorted(col, np.arange(width))
    lo = np.minimum.reduceat(series, starts, axis=1)
    hi = np.maximum.reduceat(series, starts, axis=1)
    nxt = series[:, np.minimum(starts[1:], t - 1)]  # first sample of the next column
    lo[:, :-1] = np.minimum(lo[:, :-1], nxt)
    hi[:, :-1] = np.maximum(hi[:, :-1], nxt)
    return lo, hi


def _trace_mask(series: np.ndarray, height: int, width: int, lo: float, hi: float) -> np.ndarray:
    """Boolean (S, height, width): the pixels each series' trace covers (row 0 is the top)."""
    low, high = _column_envelopes(series, width)
    scale = (height - 1) / (hi - lo)
    # values outside [lo, hi] are clipped to the edge so they stay visible
    top = np.rint((hi - np.clip(high, lo, hi)) * scale).astype(np.int64)
    bottom = np.rint((hi - np.clip(low, lo, hi)) * scale).astype(np.int64)
    rows = np.arange(height)[None, :, None]
    return (rows >= top[:, None, :]) & (rows <= bottom[:, None, :])


def _canvas(n: int, height: int, width: int, background) -> np.ndarray:
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    out[...] = np.asarray(_rgb(background), np.uint8)
    return out


def _zero_row(lo: float, hi: float, height: int) -> int | None:
    if lo < 0 < hi:
        return int(round(hi / (hi - lo) * (height - 1)))
    return None


def _span_columns(start: float, end: float, length: int, width: int) -> tuple[int, int]:
    """Pixel columns [c0, c1) covering samples [start, end) of a series of `length` samples."""
    c0 = int(np.floor(max(0.0, start) * width / length))
    c1 = int(np.ceil(min(float(length), end) * width / length))
    return max(0, min(c0, width)), max(0, min(max(c1, c0 + 1), width))


def sparklines(values, size: Sequence[int] = (48, 96), colour=None, ylim=None,
               background: RGB = BACKGROUND, zero_line: bool = True) -> np.ndarray:
    """Many small line plots at once: uint8 (N, H, W, 3) for values (N, T) or (N, C, T).

    Channels of a sequence are overlaid in PALETTE order (or all in `colour`). ylim=None
    gives every tile the same y range (shared_limits of all values), so a small wave looks
    small; pass ylim=(lo, hi) to fix it, or draw tiles one by one with line_tile to
    autoscale each.
    """
    height, width = _size(size)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2:
        v = v[:, None, :]
    if v.ndim != 3 or v.shape[-1] < 1:
        raise ValueError(f"sparklines takes (N, T) or (N, C, T) values, got shape {v.shape}")
    n, c, t = v.shape
    lo, hi = shared_limits(v) if ylim is None else _limits(v, ylim)
    out = _canvas(n, height, width, background)
    zero = _zero_row(lo, hi, height)
    if zero_line and zero is not None:
        out[:, zero, :] = AXIS
    v = np.nan_to_num(v, nan=0.0, posinf=hi, neginf=lo)
    for ch in range(c):  # later channels draw on top
        rgb = _rgb(colour if colour is not None else PALETTE[ch % len(PALETTE)]).astype(np.uint8)
        mask = _trace_mask(v[:, ch], height, width, lo, hi)
        out[mask] = rgb
    return out


def line_tile(values, size: Sequence[int] = (48, 96), colour=None, ylim=None,
              spans: Sequence[tuple] = (), background: RGB = BACKGROUND,
              zero_line: bool = True) -> np.ndarray:
    """One line plot as a uint8 (H, W, 3) tile.

    values: (T,) one series or (S, T) several on the same axes (colours from PALETTE, or
    `colour` for one series / a list of colours for several). ylim=None autoscales to the
    data. spans: (start, end, colour) or (start, end, colour, alpha) bands in sample units,
    shaded behind the trace (e.g. a context window and a target window).
    """
    height, width = _size(size)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or v.shape[1] < 1:
        raise ValueError(f"line_tile takes (T,) or (S, T) values, got shape {v.shape}")
    lo, hi = _limits(v, ylim)
    out = _canvas(1, height, width, background)[0].astype(np.float32)
    for span in spans:
        start, end, rgb = span[0], span[1], _rgb(span[2])
        alpha = float(span[3]) if len(span) > 3 else 0.35
        c0, c1 = _span_columns(float(start), float(end), v.shape[1], width)
        out[:, c0:c1] = (1 - alpha) * out[:, c0:c1] + alpha * rgb
    zero = _zero_row(lo, hi, height)
    if zero_line and zero is not None:
        out[zero, :] = _rgb(AXIS)
    if colour is None:
        colours = [PALETTE[i % len(PALETTE)] for i in range(len(v))]
    elif len(v) > 1 and np.ndim(colour) == 2:
        colours = list(colour)
    else:
        colours = [colour] * len(v)
    v = np.nan_to_num(v, nan=0.0, posinf=hi, neginf=lo)
    masks = _trace_mask(v, height, width, lo, hi)
    for mask, rgb in zip(masks, colours):
        out[mask] = _rgb(rgb)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def bar_tile(values, size: Sequence[int] = (48, 96), colour=None, colours=None, vmin=None,
             vmax=None, background: RGB = BACKGROUND, gap: int = 1) -> np.ndarray:
    """A bar chart as a uint8 (H, W, 3) tile: one bar per value, left to right.

    Bars grow from zero (up for positive, down for negative values) when the range holds
    zero, else from the bottom. vmin/vmax fix the range (default: the data and zero);
    `colours` gives one colour per bar, `colour` one for all. Bars share the width evenly,
    with `gap` pixels between them where there is room.
    """
    height, width = _size(size)
    v = np.nan_to_num(np.asarray(values, dtype=np.float64).reshape(-1))
    n = len(v)
    out = _canvas(1, height, width, background)[0]
    if n == 0:
        return out
    lo = min(0.0, float(v.min())) if vmin is None else float(vmin)
    hi = max(0.0, float(v.max())) if vmax is None else float(vmax)
    if not hi > lo:
        hi = lo + 1.0
    scale = (height - 1) / (hi - lo)

    def row(value: float) -> int:
        return int(round((hi - min(max(value, lo), hi)) * scale))

    base = row(0.0) if lo <= 0 <= hi else height - 1
    edges = np.linspace(0, width, n + 1).round().astype(int)
    if colours is not None and len(colours) != n:
        raise ValueError(f"bar_tile got {len(colours)} colours for {n} values")
    for i, value in enumerate(v):
        x0, x1 = edges[i], edges[i + 1]
        if x1 - x0 > gap + 1:
            x1 -= gap
        rgb = _rgb(colours[i] if colours is not None else
                   colour if colour is not None else PALETTE[0]).astype(np.uint8)
        r = row(value)
        r0, r1 = min(r, base), max(r, base)
        out[r0:r1 + 1, x0:max(x1, x0 + 1)] = rgb
    out[base, :] = np.maximum(out[base, :], np.asarray(AXIS, np.uint8))
    return out


def colormap(name: str = "viridis") -> np.ndarray:
    """uint8 (256, 3) lookup table for `name` (one of CMAPS)."""
    if name not in _CMAP_ANCHORS:
        raise ValueError(f"unknown colour map {name!r}; choose one of {', '.join(CMAPS)}")
    anchors = np.asarray(_CMAP_ANCHORS[name], np.float64)
    pos = np.linspace(0, 1, len(anchors))
    grid = np.linspace(0, 1, 256)
    lut = np.stack([np.interp(grid, pos, anchors[:, c]) for c in range(3)], axis=1)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


def heatmap_tile(array2d, size: Sequence[int] | None = None, vmin=None, vmax=None,
                 cmap: str = "viridis", origin: str = "upper") -> np.ndarray:
    """A 2-D array as a uint8 (H, W, 3) colour image (nearest-neighbour, so cells stay sharp).

    size=None keeps one pixel per cell. vmin/vmax default to the array's range. origin
    "upper" puts row 0 at the top (a matrix); "lower" at the bottom (a spectrogram, low
    frequencies down).
    """
    a = np.asarray(array2d, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"heatmap_tile takes a non-empty 2-D array, got shape {a.shape}")
    if origin not in ("upper", "lower"):
        raise ValueError(f"origin must be 'upper' or 'lower', got {origin!r}")
    if origin == "lower":
        a = a[::-1]
    finite = a[np.isfinite(a)]
    lo = float(vmin) if vmin is not None else float(finite.min()) if finite.size else 0.0
    hi = float(vmax) if vmax is not None else float(finite.max()) if finite.size else 1.0
    if not hi > lo:
        hi = lo + 1.0
    idx = np.clip(np.rint((np.nan_to_num(a, nan=lo) - lo) / (hi - lo) * 255), 0, 255).astype(np.int64)
    img = colormap(cmap)[idx]
    if size is not None:
        height, width = _size(size)
        rows = np.arange(height) * a.shape[0] // height
        cols = np.arange(width) * a.shape[1] // width
        img = img[rows][:, cols]
    return np.ascontiguousarray(img)
