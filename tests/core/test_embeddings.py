"""Embeddings: batched computation, 2-D projections and placement, neighbours and analogies."""
import itertools
import os
import sys

import numpy as np
import pytest
import torch

import workbench.embeddings as E
from workbench.embeddings import (
    Cancelled,
    ReferenceMap,
    analogy,
    analogy_batch,
    compute_embeddings,
    nearest_neighbours,
    project,
)

# Few iterations keep t-SNE around a second here; the layout is already clustered by then.
FAST_TSNE = dict(early_exaggeration_iter=100, n_iter=150)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 16)) * 4
    labels = rng.integers(0, 4, 200)
    return (centres[labels] + rng.standard_normal((200, 16))).astype(np.float32), labels


@pytest.fixture(scope="module")
def tsne_map(blobs):
    seen = []
    reference = ReferenceMap("tsne", seed=0, **FAST_TSNE)
    layout = reference.fit(blobs[0], progress=seen.append)
    return reference, layout, seen


def relative_displacement(placed, layout):
    """Mean distance moved, as a fraction of the layout's RMS radius."""
    spread = np.sqrt(((layout - layout.mean(0)) ** 2).sum(1).mean())
    return float(np.linalg.norm(placed - layout, axis=1).mean() / spread)


# --- computing embeddings -------------------------------------------------------------------


def test_compute_embeddings_scales_uint8_batches_without_grad():
    x = torch.randint(0, 256, (10, 1, 2, 2), dtype=torch.uint8)
    seen, grad_enabled = [], []

    def embed(xb):
        grad_enabled.append(torch.is_grad_enabled())
        assert xb.dtype == torch.float32 and xb.max() <= 1.0
        return xb.flatten(1) * 2

    out = compute_embeddings(embed, x, batch_size=4, progress=seen.append)
    assert out.dtype == np.float32 and out.shape == (10, 4)
    np.testing.assert_allclose(out, x.flatten(1).numpy() / 255.0 * 2, rtol=1e-6)
    assert seen == pytest.approx([0.4, 0.8, 1.0]) and grad_enabled == [False] * 3

    floats = torch.rand(5, 3)
    np.testing.assert_allclose(compute_embeddings(lambda xb: xb, floats, batch_size=2), floats.numpy())


def test_compute_embeddings_cancel():
    calls = []
    with pytest.raises(Cancelled):
        compute_embeddings(lambda xb: xb, torch.zeros(10, 2), batch_size=2,
                           cancel=lambda: calls.append(1) or len(calls) > 2)
    assert len(calls) == 3


# --- projections ----------------------------------------------------------------------------


def test_pca_shape_and_placement(blobs):
    reference = ReferenceMap("pca")
    layout = reference.fit(blobs[0])
    assert layout.shape == (200, 2) and layout.dtype == np.float32
    assert relative_displacement(reference.place(blobs[0]), layout) < 1e-5
    np.testing.assert_allclose(project(blobs[0], "pca"), layout, atol=1e-5)


@pytest.mark.parametrize("n, d", [(1_000, 6), (6, 30)])
def test_blockwise_pca_matches_an_svd_of_the_whole_matrix(monkeypatch, n, d):
    monkeypatch.setattr(E, "_PCA_BLOCK", 97)  # many ragged blocks (and the few-points path)
    x = (np.random.default_rng(3).standard_normal((n, d)) * np.linspace(4, 1, d) + 7).astype(np.float32)
    centred = x.astype(np.float64) - x.astype(np.float64).mean(0)
    vt = np.linalg.svd(centred, full_matrices=False)[2][:2]
    expected = centred @ vt.T
    got = project(x, "pca")
    # principal axes are defined up to sign; ours fixes it, so compare each axis up to sign
    for j in range(2):
        sign = np.sign(got[:, j] @ expected[:, j])
        np.testing.assert_allclose(got[:, j], sign * expected[:, j], atol=1e-4 * np.abs(expected).max())


def test_tsne_shape_progress_and_clusters(blobs, tsne_map):
    _, layout, seen = tsne_map
    assert layout.shape == (200, 2) and layout.dtype == np.float32
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 3
    # the four blobs come out as four separate groups: nearest 2-D neighbour shares the label
    d = np.linalg.norm(layout[:, None] - layout[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (blobs[1][d.argmin(1)] == blobs[1]).mean() > 0.95


def test_tsne_place_lands_on_the_fitted_points(blobs, tsne_map):
    reference, layout, _ = tsne_map
    placed = reference.place(blobs[0])
    assert placed.shape == (200, 2) and placed.dtype == np.float32
    # the reference itself must not move while points are placed into it
    np.testing.assert_array_equal(reference.layout, layout)
    assert relative_displacement(placed, layout) < 0.05


def test_tsne_cancel_stops_and_raises(blobs):
    seen = []
    with pytest.raises(Cancelled):
        project(blobs[0], "tsne", progress=seen.append, cancel=lambda: len(seen) >= 2, **FAST_TSNE)
    assert len(seen) == 2 and seen[-1] < 1.0


def test_project_refuses_bad_input(blobs):
    with pytest.raises(ValueError, match="pca, tsne, umap"):
        project(blobs[0], "mds")
    with pytest.raises(ValueError, match="at least"):
        project(blobs[0][:2], "pca")
    with pytest.raises(Cancelled):
        project(blobs[0], "pca", cancel=lambda: True)


def test_configure_numba_cache(tmp_path, monkeypatch):
    if "numba" in sys.modules:  # the function also tells an imported numba; undo that afterwards
        from numba.core import config

        monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert E.configure_numba_cache() == tmp_path / "ssl-workbench" / "numba"
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "ssl-workbench" / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert E.configure_numba_cache() == tmp_path / "mine"


# umap-learn compiles its numba kernels once per process (10-45 s on a slow machine); the
# rest of this file stays fast, so the whole file still runs well under a minute.
@pytest.mark.slow  # UMAP's first use compiles with numba
@pytest.mark.timeout(300)
def test_umap_warm_up_then_project_and_place(blobs):
    assert E.warm_up_umap() > 0
    reference = ReferenceMap("umap", seed=0)
    layout = reference.fit(blobs[0][:100])
    assert layout.shape == (100, 2) and layout.dtype == np.float32
    placed = reference.place(blobs[0][100:110])
    assert placed.shape == (10, 2) and np.isfinite(placed).all()


@pytest.mark.slow  # UMAP's first use compiles with numba
@pytest.mark.timeout(300)
def test_umap_on_few_points_measures_distances_in_one_go_and_maps_as_umap_learn_does(blobs, monkeypatch):
    """Below 4,096 points umap-learn measures every pair through its numba cosine, called once per pair from
    Python (~3 s of a 5 s map at 2,000 points); the map is made from one matrix of cosine distances instead."""
    import cloudpickle
    import sklearn.metrics.pairwise as pairwise
    import umap
    from sklearn.manifold import trustworthiness

    emb = blobs[0]
    theirs = umap.UMAP(n_neighbors=15, metric="cosine", random_state=0, n_jobs=1).fit_transform(emb)

    def per_pair(*args, **kwargs):
        raise AssertionError("distances measured pair by pair")
    monkeypatch.setattr(pairwise, "_pairwise_callable", per_pair)
    reference = ReferenceMap("umap", seed=0)
    ours = reference.fit(emb)
    trust = [trustworthiness(emb, xy, n_neighbors=10, metric="cosine") for xy in (ours, theirs)]
    assert abs(trust[0] - trust[1]) < 0.01
    placed = reference.place(emb[:20])  # new points land where the same points were mapped
    spread = np.ptp(ours, axis=0).max()
    assert np.median(np.linalg.norm(placed - ours[:20], axis=1)) < 0.1 * spread
    assert len(cloudpickle.dumps(reference)) < len(emb) ** 2 * 4  # it travels without an N × N matrix


# --- neighbours -----------------------------------------------------------------------------


def test_nearest_neighbours_known_answer():
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((20, 8)).astype(np.float32)
    emb[7] = emb[3] * 5 + 0.01  # same direction as 3, far away in length
    emb[11] = emb[3] + 0.05  # close to 3 in both senses

    idx, sims = nearest_neighbours(emb, 3, k=2)
    assert list(idx) == [7, 11] and sims[0] >= sims[1] > 0.99
    idx, dists = nearest_neighbours(emb, 3, k=3, metric="euclidean")
    assert idx[0] == 11 and 3 not in idx
    assert np.all(np.diff(dists) >= 0)  # distances, nearest first

    idx, sims = nearest_neighbours(emb, emb[5], k=1)  # a vector query may return itself
    assert idx[0] == 5 and sims[0] == pytest.approx(1.0, abs=1e-5)
    idx, _ = nearest_neighbours(emb, 3, k=5, exclude=[7])
    assert 7 not in idx and 3 not in idx and idx[0] == 11
    assert len(nearest_neighbours(emb, 3, k=100)[0]) == 19
    with pytest.raises(ValueError, match="cosine, euclidean"):
        nearest_neighbours(emb, 3, metric="manhattan")
    with pytest.raises(ValueError, match="query"):
        nearest_neighbours(emb, 20)


# --- analogies ------------------------------------------------------------------------------

SHAPES = ["circle", "square", "triangle", "star"]
COLOURS = ["red", "blue", "green"]


@pytest.fixture(scope="module")
def shapes_emb():
    """emb = onehot(shape) ⊕ onehot(colour) + a little noise, one item per (shape, colour)."""
    items = list(itertools.product(range(len(SHAPES)), range(len(COLOURS))))
    emb = np.zeros((len(items), len(SHAPES) + len(COLOURS)), dtype=np.float32)
    for row, (s, c) in enumerate(items):
        emb[row, s] = emb[row, len(SHAPES) + c] = 1
    emb += np.random.default_rng(0).normal(0, 0.01, emb.shape).astype(np.float32)
    return emb, {item: row for row, item in enumerate(items)}


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_red_circle_minus_blue_circle_plus_blue_square(shapes_emb, method):
    emb, at = shapes_emb
    red, blue, circle, square = 0, 1, 0, 1
    a, b, c = at[circle, red], at[circle, blue], at[square, blue]
    idx, scores = analogy(emb, a, b, c, k=3, method=method)
    assert idx[0] == at[square, red]
    assert np.all(np.diff(scores) <= 0)

    # every (shape, colour) analogy has exactly one right answer, for all of them
    abc, expected = [], []
    for s1, s2 in itertools.permutations(range(len(SHAPES)), 2):
        for c1, c2 in itertools.permutations(range(len(COLOURS)), 2):
            abc.append([at[s1, c1], at[s1, c2], at[s2, c2]])
            expected.append(at[s2, c1])
    idx, _ = analogy_batch(emb, np.array(abc), k=1, method=method)
    assert (idx[:, 0] == np.array(expected)).all()


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_analogy_inputs_never_returned_and_batch_agrees(method, monkeypatch):
    rng = np.random.default_rng(2)
    emb = rng.standard_normal((60, 10)).astype(np.float32)
    abc = rng.integers(0, 60, (25, 3))
    abc[0] = [4, 4, 9]  # repeated inputs are fine
    monkeypatch.setattr(E, "_BLOCK_BYTES", 3 * 4 * 60 * 7)  # chunks of 7 queries
    b_idx, b_scores = analogy_batch(emb, abc, k=5, method=method)
    assert b_idx.shape == b_scores.shape == (25, 5)
    for row, (a, b, c) in enumerate(abc):
        idx, scores = analogy(emb, a, b, c, k=5, method=method)
        np.testing.assert_array_equal(idx, b_idx[row])
        np.testing.assert_allclose(scores, b_scores[row], rtol=1e-5)
        assert not {a, b, c} & set(idx)
    # even when every other item is returned, the inputs and `exclude` are not
    idx, _ = analogy(emb, 1, 2, 3, k=60, method=method, exclude=[10, 11])
    assert set(idx) == set(range(60)) - {1, 2, 3, 10, 11}


def test_analogy_refuses_bad_input(shapes_emb):
    emb, _ = shapes_emb
    with pytest.raises(ValueError, match="3cosadd, 3cosmul"):
        analogy(emb, 0, 1, 2, method="pairdirection")
    with pytest.raises(ValueError, match=r"\[0, 12\)"):
        analogy(emb, 0, 1, 12)
