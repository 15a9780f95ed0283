"""The stable live map: a snapshot placed into a ReferenceMap lands in the same place every time."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.embeddings import ReferenceMap

FAST_TSNE = dict(early_exaggeration_iter=100, n_iter=150)


def displacement(a: np.ndarray, b: np.ndarray, layout: np.ndarray) -> tuple[float, float]:
    """Median and max distance between two placements of the same points, as fractions of the map's extent."""
    extent = float(np.ptp(layout, axis=0).max())
    d = np.linalg.norm(np.asarray(a, np.float64) - b, axis=1) / extent
    return float(np.median(d)), float(d.max())


@pytest.fixture(scope="module")
def snapshots():
    """A fitted snapshot and a later one of the same 300 items (the model moved them a little)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 300)
    first = (rng.normal(0, 3, (5, 32))[labels] + rng.normal(size=(300, 32))).astype(np.float32)
    later = (first + rng.normal(0, 0.5, first.shape)).astype(np.float32)
    return first, later


@pytest.mark.parametrize("method, kwargs, fitted_tolerance", [
    ("pca", {}, 1e-6),
    # openTSNE optimises placed points against the fixed reference: the fitted snapshot lands
    # within ~0.15% (median) / 0.5% (max) of the map's extent of where the fit put it
    ("tsne", FAST_TSNE, 0.01),
])
def test_placing_the_same_snapshot_twice_does_not_move_it(snapshots, method, kwargs, fitted_tolerance):
    first, later = snapshots
    reference = ReferenceMap(method, seed=0, **kwargs)
    layout = reference.fit(first).copy()
    once, twice = reference.place(later), reference.place(later)
    assert displacement(once, twice, layout) == (0.0, 0.0)  # placement is deterministic
    np.testing.assert_array_equal(reference.layout, layout)  # and never moves the reference
    median, largest = displacement(reference.place(first), layout, layout)
    assert median < fitted_tolerance and largest < 4 * fitted_tolerance
    # the later snapshot moved, and the map shows it moving by a modest amount, not jumping
    median, _ = displacement(once, layout, layout)
    assert 0 < median < 0.1
