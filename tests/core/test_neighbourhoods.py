"""Neighbourhood measures: trustworthiness/continuity against scikit-learn, neighbour change, kNN correctness, big N."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sklearn_trustworthiness
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from workbench.embeddings import Cancelled
from workbench.neighbourhoods import (continuity, knn_correct, map_quality, nearest, neighbour_change,
                                      neighbourhood_preservation, trustworthiness)


@pytest.fixture(scope="module")
def data():
    """A 12-d cloud and a blurred 2-D view of it: a map that keeps some neighbours and loses others."""
    rng = np.random.default_rng(0)
    high = rng.normal(size=(300, 12)).astype(np.float32)
    low = (high[:, :2] + rng.normal(0, 0.5, (300, 2))).astype(np.float32)
    return high, low


@pytest.mark.parametrize("k", [1, 5, 12, 40])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_trustworthiness_matches_scikit_learn(data, k, metric):
    high, low = data
    expected = sklearn_trustworthiness(high, low, n_neighbors=k, metric=metric)
    assert trustworthiness(high, low, k, metric=metric) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k", [1, 7, 25])
def test_continuity_is_trustworthiness_with_the_spaces_swapped(data, k):
    high, low = data
    # scikit-learn ranks by euclidean distance in its first argument and finds neighbours by
    # euclidean distance in its second; cosine neighbours are euclidean ones of unit vectors
    # (to 1e-6, not 1e-12: scikit-learn's pairwise distances in float64 by another formula can
    # order one near-tie of the map differently, which moves the value by ~5e-7 at k = 25)
    assert continuity(high, low, k, metric="euclidean") == pytest.approx(
        sklearn_trustworthiness(low, high, n_neighbors=k), abs=1e-6)
    assert continuity(high, low, k, metric="cosine") == pytest.approx(
        sklearn_trustworthiness(low, normalize(high), n_neighbors=k), abs=1e-6)
    # our own trustworthiness with the arguments swapped ranks map distances in float32, not
    # float64: a near-tie may swap, moving the value in the sixth decimal
    assert continuity(high, low, k, metric="euclidean") == pytest.approx(
        trustworthiness(low, high, k, metric="euclidean"), abs=1e-5)
    assert continuity(high, low, k) != pytest.approx(trustworthiness(high, low, k))


def test_a_faithful_map_scores_one_and_preserves_every_neighbourhood():
    rng = np.random.default_rng(1)
    plane = rng.normal(size=(200, 2)).astype(np.float32)
    high = np.hstack([plane, np.zeros((200, 6), np.float32)])  # the map is the data itself
    quality = map_quality(high, plane, k=8, metric="euclidean")
    assert quality.trustworthiness == pytest.approx(1.0) and quality.continuity == pytest.approx(1.0)
    np.testing.assert_array_equal(quality.preservation, np.ones(200))
    assert len(quality.false_neighbours(0.5)) == 0 and not quality.is_sampled


def test_preservation_counts_the_map_neighbours_that_are_true_ones(data):
    high, low = data
    k = 6
    true = NearestNeighbors(n_neighbors=k, metric="cosine").fit(high).kneighbors(return_distance=False)
    drawn = NearestNeighbors(n_neighbors=k).fit(low).kneighbors(return_distance=False)
    expected = np.array([len(set(t) & set(d)) / k for t, d in zip(true, drawn)])
    np.testing.assert_allclose(neighbourhood_preservation(high, low, k), expected)
    bad = map_quality(high, low, k).false_neighbours(0.34)
    np.testing.assert_array_equal(bad, np.flatnonzero(expected < 0.34))


def test_large_maps_estimate_the_summary_on_a_fixed_sample(data):
    high, low = data
    exact = map_quality(high, low, 10)
    sampled = map_quality(high, low, 10, sample=150)
    again = map_quality(high, low, 10, sample=150)
    assert sampled.is_sampled and sampled.sampled == 150 and sampled.n == 300
    assert sampled.trustworthiness == again.trustworthiness  # seeded: the same sample every time
    assert sampled.trustworthiness == pytest.approx(exact.trustworthiness, abs=0.03)
    assert sampled.continuity == pytest.approx(exact.continuity, abs=0.03)
    assert "estimated on 150 of 300 points (random sample, seed 0)" in sampled.summary()
    assert exact.summary() == (f"trustworthiness {exact.trustworthiness:.3f} · continuity "
                               f"{exact.continuity:.3f} (k = 10)")
    # every point still gets its preservation; per_point=False checks only the sample
    np.testing.assert_array_equal(sampled.preservation, exact.preservation)
    partial = map_quality(high, low, 10, sample=150, per_point=False)
    assert partial.checked() == 150 and np.isnan(partial.preservation).sum() == 150


def test_neighbour_change_of_identical_embeddings_is_exactly_zero(data):
    high, _ = data
    change, mean = neighbour_change(high, high.copy(), k=10)
    assert mean == 0.0 and change.shape == (300,) and not change.any()


def test_neighbour_change_known_case():
    # points on a line with growing gaps (no ties): each one's nearest neighbour is known
    x = np.array([0, 1, 3, 6, 10, 15], np.float32)
    a = np.stack([x, np.zeros_like(x)], axis=1)
    b = a.copy()
    b[5, 0] = -2  # the last point jumps to the other end: only its nearest neighbour changes
    change, mean = neighbour_change(a, b, k=1, metric="euclidean")
    np.testing.assert_array_equal(change, [0, 0, 0, 0, 0, 1])
    assert mean == pytest.approx(1 / 6)


def test_neighbour_change_is_one_minus_jaccard_of_the_knn_sets(data):
    high, _ = data
    rng = np.random.default_rng(3)
    other = high + rng.normal(0, 0.6, high.shape).astype(np.float32)
    k = 5
    sets_a = NearestNeighbors(n_neighbors=k, metric="cosine").fit(high).kneighbors(return_distance=False)
    sets_b = NearestNeighbors(n_neighbors=k, metric="cosine").fit(other).kneighbors(return_distance=False)
    expected = np.array([1 - len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(sets_a, sets_b)])
    change, mean = neighbour_change(high, other, k=k)
    np.testing.assert_allclose(change, expected)
    assert 0 < mean < 1 and mean == pytest.approx(expected.mean())


def test_nearest_agrees_with_scikit_learn_in_high_and_low_dimensions(data):
    high, low = data
    for x, metric in ((high, "cosine"), (high, "euclidean"), (low, "euclidean")):
        expected = NearestNeighbors(n_neighbors=4, metric=metric).fit(x).kneighbors(return_distance=False)
        np.testing.assert_array_equal(nearest(x, 4, metric), expected)


def test_knn_correct_leaves_each_item_out_and_ignores_unlabelled_items():
    e1, e2 = np.eye(4, dtype=np.float32)[:2]
    rng = np.random.default_rng(0)
    jitter = lambda n: rng.normal(0, 0.01, (n, 4)).astype(np.float32)  # noqa: E731
    emb = np.vstack([
        e1 + jitter(3),  # 0-2: label 1 around e1
        e2 + jitter(4),  # 3-6: label 0 around e2
        e1 + jitter(1),  # 7: label 0 sitting among the label-1 items: its neighbours out-vote it
        e1 + jitter(6),  # 8-13: unlabelled, right on top of the label-1 items
    ])
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1])
    result = knn_correct(emb, labels, k=3)
    assert isinstance(result, np.ma.MaskedArray)
    np.testing.assert_array_equal(result.mask, labels < 0)
    # if the unlabelled items took neighbour slots, items 0-2 would get no votes and be wrong
    np.testing.assert_array_equal(result.filled(False)[:8], [1, 1, 1, 1, 1, 1, 1, 0])
    assert result.mean() == pytest.approx(7 / 8)
    assert knn_correct(emb, np.full(14, -1)).mask.all()  # nothing labelled: nothing judged


def test_bad_input_gets_a_clear_message(data):
    high, low = data
    with pytest.raises(ValueError, match="k = 150 needs more than 300 points"):
        trustworthiness(high, low, k=150)
    with pytest.raises(ValueError, match="same number of points"):
        map_quality(high, low[:10])
    with pytest.raises(ValueError, match="unknown metric 'manhattan'"):
        map_quality(high, low, metric="manhattan")
    with pytest.raises(ValueError, match="same items"):
        neighbour_change(high, high[:5])
    with pytest.raises(ValueError, match="NaN"):
        nearest(np.full((5, 2), np.nan))


def test_cancel_stops_the_work(data):
    high, low = data
    calls = []
    with pytest.raises(Cancelled):
        map_quality(high, low, 10, cancel=lambda: calls.append(1) or True)
    assert calls == [1]


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: restart the high-water mark
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def test_large_n_runs_in_bounded_memory():
    if not _reset_peak_rss():
        pytest.skip("needs Linux /proc to measure peak memory")
    n = 30_000  # an N×N float32 matrix would be 3.6 GB
    rng = np.random.default_rng(0)
    high = rng.normal(size=(n, 16)).astype(np.float32)
    low = high[:, :2] + rng.normal(0, 0.1, (n, 2)).astype(np.float32)
    start = _peak_rss_mb()
    quality = map_quality(high, low, k=10, sample=1_000, per_point=False)
    grew = _peak_rss_mb() - start
    assert grew < 300, f"peak memory grew by {grew:.0f} MB"
    assert quality.is_sampled and "1,000 of 30,000 points" in quality.summary()
    assert 0.5 < quality.trustworthiness < 1 and 0.5 < quality.continuity < 1
