"""t-SNE at every size: wide input reduced by PCA before the neighbour search, openTSNE's
settings chosen by size, every core."""
from __future__ import annotations

import numpy as np
import pytest

import workbench.embeddings as E
from workbench.embeddings import ReferenceMap, tsne_settings

FAST_TSNE = dict(early_exaggeration_iter=100, n_iter=150)


@pytest.fixture(scope="module")
def wide_blobs():
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((4, 120)) * 4
    labels = rng.integers(0, 4, 240)
    return (centres[labels] + rng.standard_normal((240, 120))).astype(np.float32), labels


def test_settings_follow_the_size():
    small, large = tsne_settings(5_000, 50), tsne_settings(50_000, 50)
    assert (small["negative_gradient_method"], small["neighbors"]) == ("bh", "exact")
    assert (large["negative_gradient_method"], large["neighbors"]) == ("fft", "annoy")
    # small sets: the measured shorter schedule, coarser Barnes-Hut and one thread
    assert (small["early_exaggeration_iter"], small["n_iter"]) == (100, 200)
    assert small["theta"] == 0.8 and small["n_jobs"] == 1
    # large sets: a shortened schedule on every core
    assert (large["early_exaggeration_iter"], large["n_iter"]) == (250, 250)
    assert large["n_jobs"] == E._n_cores()
    assert tsne_settings(E.TSNE_BH_BELOW - 1, 50)["n_jobs"] == 1
    assert tsne_settings(E.TSNE_BH_BELOW, 50)["negative_gradient_method"] == "fft"
    assert small["perplexity"] == 30.0 and tsne_settings(31, 16)["perplexity"] == 10.0
    assert tsne_settings(100, 16)["metric"] == "cosine"


def test_wide_input_is_reduced_to_50_pca_dims_before_the_search(wide_blobs, monkeypatch):
    seen = []
    real = E._tsne
    monkeypatch.setattr(E, "_tsne", lambda emb, *a, **k: seen.append(emb.shape) or real(emb, *a, **k))
    reference = ReferenceMap("tsne", seed=0, **FAST_TSNE)
    layout = reference.fit(wide_blobs[0])
    assert seen == [(240, E.TSNE_PCA_DIMS)]
    # the groups survive the reduction, and new points go through the same one
    d = np.linalg.norm(layout[:, None] - layout[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (wide_blobs[1][d.argmin(1)] == wide_blobs[1]).mean() > 0.95
    placed = reference.place(wide_blobs[0][:20])
    assert placed.shape == (20, 2)
    assert np.linalg.norm(placed - layout[:20], axis=1).mean() < 0.1 * np.abs(layout).max()


def test_reduction_keeps_cosine_structure(wide_blobs):
    x, labels = wide_blobs
    reduced = E._CosineReducer(x)(x)
    assert reduced.shape == (240, E.TSNE_PCA_DIMS) and reduced.dtype == np.float32
    # Euclidean there follows cosine on the input: the nearest row shares the group, and the
    # ordering of distances from a row agrees with its cosine similarities
    d = ((reduced[:, None] - reduced[None]) ** 2).sum(2)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).mean() > 0.95
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = unit @ unit.T
    assert np.corrcoef(cos[0, 1:], -d[0, 1:])[0, 1] > 0.9


def test_the_small_schedule_reaches_openTSNE(monkeypatch):
    """What tsne_settings picks is what openTSNE is built with, and progress counts its iterations."""
    import openTSNE

    built, seen = [], []
    real = openTSNE.TSNE

    def spy(**kwargs):
        built.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(openTSNE, "TSNE", spy)
    x = np.random.default_rng(0).standard_normal((120, 8)).astype(np.float32)
    E.project(x, "tsne", progress=seen.append)
    (params,) = built
    for key, value in tsne_settings(120, 8).items():
        assert params[key] == value, key
    # 300 iterations reported every 25: 12 steps up to 1.0, none beyond
    steps = [p for p in seen if p < 1.0]
    assert len(steps) == 11 and steps[-1] == pytest.approx(275 / 300)
