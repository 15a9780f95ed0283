"""Map-honesty measures at scale: workbench.neighbourhoods against scikit-learn's N×N trustworthiness.

`python bench/neighbourhoods.py [N_BIG]` prints, for N = 3,000 (where scikit-learn's N×N
matrices still fit), both times and the ratio, then our times and peak memory growth at
N_BIG (default 100,000), where scikit-learn would need N² distances (40 GB at 100k).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def peak_mb() -> float:
    status = Path("/proc/self/status")
    if not status.exists():
        return float("nan")
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def data(n: int, dim: int = 64, classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    high = (rng.normal(0, 3, (classes, dim))[labels] + rng.normal(size=(n, dim))).astype(np.float32)
    low = (high[:, :2] + rng.normal(0, 0.5, (n, 2))).astype(np.float32)
    return high, low, labels


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    from workbench.neighbourhoods import knn_correct, map_quality, neighbour_change

    big = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    high, low, _ = data(3_000)
    ours, t_ours = timed(lambda: map_quality(high, low, 10, metric="euclidean", sample=None))
    theirs, t_sk = timed(lambda: sk_trustworthiness(high, low, n_neighbors=10))
    print(f"N=3,000: scikit-learn trustworthiness {t_sk:.2f} s; ours (trustworthiness + continuity + "
          f"per-point) {t_ours:.2f} s; ratio {t_sk / t_ours:.1f}x; "
          f"|difference| {abs(ours.trustworthiness - theirs):.1e}")

    high, low, labels = data(big)
    reset_peak()
    base = peak_mb()
    quality, t_summary = timed(lambda: map_quality(high, low, 10, per_point=False))
    print(f"N={big:,}: summary on a 5,000-point sample {t_summary:.1f} s "
          f"(peak +{peak_mb() - base:.0f} MB): {quality.summary()}")
    reset_peak()
    base = peak_mb()
    quality, t_all = timed(lambda: map_quality(high, low, 10, per_point=True))
    print(f"N={big:,}: + preservation of every point {t_all:.1f} s (peak +{peak_mb() - base:.0f} MB)")
    _, t_knn = timed(lambda: knn_correct(high, labels, 20))
    print(f"N={big:,}: knn_correct (leave-one-out, k=20) {t_knn:.1f} s")
    shifted = high + np.random.default_rng(1).normal(0, 0.5, high.shape).astype(np.float32)
    (_, mean), t_change = timed(lambda: neighbour_change(high, shifted, 10))
    print(f"N={big:,}: neighbour_change {t_change:.1f} s (mean {mean:.3f}); "
          f"an N×N float32 matrix would be {big * big * 4 / 2**30:.0f} GB")


if __name__ == "__main__":
    main()
