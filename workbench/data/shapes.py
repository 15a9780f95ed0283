"""Procedural 32x32 RGB shapes with ground-truth factors (shape, colour, size, x, y, rotation)."""
from __future__ import annotations

import functools

import numpy as np

from workbench.data.base import Dataset, crossed_codes, make_dataset

IMAGE_SIZE = 32
TRAIN_SIZE = 6000
TEST_SIZE = 2000
# Fixed generator seeds (one per split) so every run sees the very same images.
TRAIN_SEED = 0
TEST_SEED = 1
# "shapes120k": the same images and factors at scale, for exercising 100k+ maps and exports.
LARGE_TRAIN_SIZE = 100_000
LARGE_TEST_SIZE = 20_000
LARGE_TRAIN_SEED = 2
LARGE_TEST_SEED = 3

FACTORS: dict[str, list[str]] = {
    "shape": ["circle", "square", "triangle", "cross"],
    "colour": ["red", "green", "blue", "yellow", "magenta", "cyan"],
    "size": ["small", "medium", "large"],
    "x": ["left", "centre", "right"],
    "y": ["top", "middle", "bottom"],
    "rotation": ["0°", "22.5°", "45°", "67.5°"],
}

_RGB = np.array(
    [[225, 45, 40], [45, 200, 60], [55, 95, 240], [235, 220, 45], [225, 55, 225], [45, 215, 225]],
    dtype=np.float32,
)
_RADIUS = np.array([5.0, 7.0, 9.0], dtype=np.float32)  # pixels; "radius" of each size bin
_POS = np.array([10.5, 16.0, 21.5], dtype=np.float32)  # pixel-centre of left/centre/right
_ANGLE_STEP = np.pi / 8  # 22.5 degrees per rotation bin
# Images rendered at a time: ~12 MB of float32 work arrays, which stay in cache far better
# than whole-set arrays (and a 120k set would otherwise need several GB of them).
_BLOCK = 1024


def _signed_distance(shape: int, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Approximate signed distance (pixels, negative inside) in the shape's rotated frame.

    Exact near edges, which is all the one-pixel anti-aliasing below needs.
    """
    if shape == 0:  # circle
        return np.sqrt(u * u + v * v) - r
    au, av = np.abs(u), np.abs(v)
    if shape == 1:  # square; half-side 0.82 r so its area is close to the circle's
        return np.maximum(au, av) - 0.82 * r
    if shape == 2:  # equilateral triangle pointing up (image y grows downwards)
        big = 1.25 * r  # circumradius; larger than r because a triangle covers less area
        bottom = v - 0.5 * big
        sides = 0.8660254 * au - 0.5 * v - 0.5 * big
        return np.maximum(bottom, sides)
    # cross (plus sign): union of two bars
    arm, half_w = 0.95 * r, 0.32 * r
    bar_h = np.maximum(au - arm, av - half_w)
    bar_v = np.maximum(au - half_w, av - arm)
    return np.minimum(bar_h, bar_v)


def generate_shapes(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw n images (uint8, (n, 3, 32, 32)) and their factor codes.

    Each shape x colour x size combination (72) occurs n // 72 or n // 72 + 1 times, so
    analogy queries always find examples; position and rotation are uniform at random.
    Images are drawn in blocks of _BLOCK, so memory stays at the uint8 output plus a few
    megabytes whatever n is; the pixels do not depend on the block size.
    """
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    rng = np.random.default_rng(seed)
    codes = crossed_codes(rng, n, {k: len(FACTORS[k]) for k in ("shape", "colour", "size")})
    codes.update({
        "x": rng.integers(0, 3, n),
        "y": rng.integers(0, 3, n),
        "rotation": rng.integers(0, 4, n),
    })
    codes = {k: v.astype(np.int64) for k, v in codes.items()}

    # Small continuous jitter inside each bin so no two images are pixel-identical.
    cx = _POS[codes["x"]] + rng.uniform(-0.75, 0.75, n).astype(np.float32)
    cy = _POS[codes["y"]] + rng.uniform(-0.75, 0.75, n).astype(np.float32)
    radius = _RADIUS[codes["size"]] * rng.uniform(0.95, 1.05, n).astype(np.float32)
    theta = codes["rotation"] * _ANGLE_STEP + rng.uniform(-0.05, 0.05, n)
    cos, sin = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    colour = _RGB[codes["colour"]] * rng.uniform(0.85, 1.0, (n, 1)).astype(np.float32)
    background = rng.uniform(10, 30, (n, 1, 1, 1)).astype(np.float32)

    # Every per-image parameter is drawn above; the noise is the only draw left, and drawing
    # it block by block yields the same numbers as one draw of the whole (n, 3, 32, 32).
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    grid = np.arange(IMAGE_SIZE, dtype=np.float32) + 0.5
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        shape = codes["shape"][start:stop]
        alpha = np.empty((stop - start, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        for s in range(len(FACTORS["shape"])):
            local = np.flatnonzero(shape == s)
            idx = local + start
            du = grid[None, None, :] - cx[idx, None, None]
            dv = grid[None, :, None] - cy[idx, None, None]
            c, si = cos[idx, None, None], sin[idx, None, None]
            u = du * c + dv * si
            v = dv * c - du * si
            sdf = _signed_distance(s, u, v, radius[idx, None, None])
            # Coverage from signed distance: an analytic one-pixel anti-aliased edge.
            alpha[local] = np.clip(0.5 - sdf, 0.0, 1.0)
        a = alpha[:, None]
        img = np.empty((stop - start, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        np.multiply(background[start:stop], 1.0 - a, out=img)
        img += colour[start:stop, :, None, None] * a
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        noise *= 5.0
        img += noise
        np.rint(img, out=img)
        np.clip(img, 0, 255, out=img)
        images[start:stop] = img  # exact: whole numbers in [0, 255]
    return images, codes


def _shapes_dataset(name: str, train: tuple[int, int], test: tuple[int, int]) -> Dataset:
    """A shapes dataset from (size, seed) per split; labels are the shape index (4 classes)."""
    x_train, f_train = generate_shapes(*train)
    x_test, f_test = generate_shapes(*test)
    return make_dataset(
        name,
        x_train,
        f_train["shape"],
        x_test,
        f_test["shape"],
        list(FACTORS["shape"]),
        factors={k: list(v) for k, v in FACTORS.items()},
        factors_train=f_train,
        factors_test=f_test,
    )


@functools.lru_cache(maxsize=None)
def load_shapes() -> Dataset:
    """6,000 train and 2,000 test shapes; labels are the shape index (4 classes)."""
    return _shapes_dataset("shapes", (TRAIN_SIZE, TRAIN_SEED), (TEST_SIZE, TEST_SEED))


def load_shapes_large() -> Dataset:
    """100,000 train and 20,000 test shapes (350 MB; drawing time in docs/BENCHMARKS.md).

    Not cached here: load_dataset's bounded cache holds it, so it can also be let go.
    """
    return _shapes_dataset("shapes120k", (LARGE_TRAIN_SIZE, LARGE_TRAIN_SEED), (LARGE_TEST_SIZE, LARGE_TEST_SEED))
