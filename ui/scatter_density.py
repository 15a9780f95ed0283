"""A map's density image: a colour-mixed 2-D histogram of the points in a rectangle, in a few numpy passes."""
from __future__ import annotations

import numpy as np


class DensityIndex:
    """The points of a density map sorted by x, so the points in a rectangle cost a binary search plus a pass over
    the rectangle's x-slice rather than a pass over all N; the image of the whole map is made once and kept."""

    def __init__(self, xy: np.ndarray, groups: np.ndarray, group_rgb: np.ndarray):
        self.order = np.argsort(xy[:, 0], kind="stable")
        self.xs = np.ascontiguousarray(xy[self.order, 0])
        self.ys = np.ascontiguousarray(xy[self.order, 1])
        self.groups = np.asarray(groups, dtype=np.int64)[self.order] if len(groups) == len(xy) else \
            np.zeros(len(xy), np.int64)
        self.rgb = np.asarray(group_rgb, dtype=np.float64).reshape(-1, 3)
        self.lo, self.hi = (xy.min(axis=0), xy.max(axis=0)) if len(xy) else (np.zeros(2), np.ones(2))
        self._full: tuple | None = None

    def sorted_in(self, lo, hi) -> np.ndarray:
        """Positions in the x-sorted arrays of the points inside [lo, hi] (self.order maps them to rows)."""
        a, b = np.searchsorted(self.xs, lo[0], "left"), np.searchsorted(self.xs, hi[0], "right")
        ys = self.ys[a:b]
        return np.flatnonzero((ys >= lo[1]) & (ys <= hi[1])) + a

    def image(self, lo: np.ndarray, hi: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An (nx, ny, 4) image of the points in [lo, hi] ∩ the map, with the rectangle it covers."""
        lo, hi = np.maximum(lo, self.lo), np.minimum(hi, self.hi)
        if not (hi > lo).all():
            lo, hi = self.lo, self.hi
        whole = bool((lo <= self.lo).all() and (hi >= self.hi).all())
        if whole and self._full is not None:
            return self._full
        k = self.sorted_in(lo, hi)
        span = np.maximum(hi - lo, 1e-9)
        nx, ny = (np.maximum(8, np.round(bins * span / span.max()))).astype(int)
        ix = np.clip(((self.xs[k] - lo[0]) * (nx / span[0])).astype(np.int64), 0, nx - 1)
        iy = np.clip(((self.ys[k] - lo[1]) * (ny / span[1])).astype(np.int64), 0, ny - 1)
        g = len(self.rgb)
        # one pass: counts per (bin, group); colours are then a small matrix product over the filled bins
        per_group = np.bincount((ix * ny + iy) * g + self.groups[k], minlength=nx * ny * g).reshape(nx * ny, g)
        count = per_group.sum(axis=1)
        filled = np.flatnonzero(count)
        img = np.zeros((nx * ny, 4), dtype=np.uint8)
        if len(filled):
            img[filled, :3] = np.clip(per_group[filled] @ self.rgb / count[filled, None], 0, 255)
            level = np.log1p(count[filled]) / np.log1p(count.max())
            img[filled, 3] = (60 + 195 * level).astype(np.uint8)
        out = (img.reshape(nx, ny, 4), lo, hi)
        if whole:
            self._full = out
        return out
