"""A map's density image: a colour-mixed 2-D histogram of the points in a rectangle, in a few numpy passes."""
from __future__ import annotations

import numpy as np


def density_rgba(xy: np.ndarray, point_rgb: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 bins: int) -> np.ndarray:
    """An (nx, ny, 4) uint8 image of the points xy (N, 2) inside [lo, hi]: hue = mean colour of a bin, opacity = log count.

    point_rgb (N, 3) is each point's colour; the longer side of the rectangle gets `bins` bins.
    """
    span = np.maximum(hi - lo, 1e-9)
    nx, ny = (np.maximum(8, np.round(bins * span / span.max()))).astype(int)
    img = np.zeros((nx * ny, 4), dtype=np.uint8)
    if not len(xy):
        return img.reshape(nx, ny, 4)
    ix = np.clip(((xy[:, 0] - lo[0]) / span[0] * nx).astype(np.int64), 0, nx - 1)
    iy = np.clip(((xy[:, 1] - lo[1]) / span[1] * ny).astype(np.int64), 0, ny - 1)
    flat = ix * ny + iy
    # one bincount per channel instead of a histogram per category: 4 passes over the points
    count = np.bincount(flat, minlength=nx * ny).astype(np.float64)
    filled = count > 0
    for ch in range(3):
        total = np.bincount(flat, weights=point_rgb[:, ch], minlength=nx * ny)
        img[filled, ch] = np.clip(total[filled] / count[filled], 0, 255)
    level = np.log1p(count) / np.log1p(count.max())
    img[filled, 3] = (60 + 195 * level[filled]).astype(np.uint8)
    return img.reshape(nx, ny, 4)
