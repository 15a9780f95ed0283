"""Deterministic train/test splits, stratified by label, independent of any run seed."""
from __future__ import annotations

import numpy as np

# Fixed so that every run (whatever its seed) sees the same test set and results compare.
SPLIT_SEED = 0


def split_indices(
    labels: np.ndarray | None, n: int, test_fraction: float = 0.2, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Return (train_idx, test_idx), each in a fixed shuffled order.

    With labels (any >= 0), each class gives round(n_c * test_fraction) samples to the test
    set. Both sides get at least one sample when n >= 2. The order is shuffled (not sorted)
    so any prefix of either split mixes classes, e.g. for preview grids.
    """
    rng = np.random.default_rng(seed)
    if labels is None or n == 0 or not np.any(np.asarray(labels) >= 0):
        perm = rng.permutation(n)
        n_test = int(round(n * test_fraction))
        groups = [(perm, n_test)]
    else:
        labels = np.asarray(labels)
        groups = []
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            groups.append((rng.permutation(idx), int(round(len(idx) * test_fraction))))
    test = [g[:k] for g, k in groups]
    train = [g[k:] for g, k in groups]
    test_idx = np.concatenate(test) if test else np.zeros(0, np.int64)
    train_idx = np.concatenate(train) if train else np.zeros(0, np.int64)
    # Tiny sets can round to an empty side; move one sample so both splits exist.
    if n >= 2 and len(test_idx) == 0:
        test_idx, train_idx = train_idx[-1:], train_idx[:-1]
    elif n >= 2 and len(train_idx) == 0:
        train_idx, test_idx = test_idx[-1:], test_idx[:-1]
    return rng.permutation(train_idx).astype(np.int64), rng.permutation(test_idx).astype(np.int64)
