"""Tests of workbench.evaluate: weighted kNN, collapse metrics and the linear probe."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.evaluate import collapse_metrics, knn_top1, linear_probe, reconstruction_error


def _clusters(n_per: int, classes: int, dim: int = 16, spread: float = 0.05, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.eye(dim)[:classes] * 5
    labels = torch.arange(classes).repeat_interleave(n_per)
    feats = centres[labels] + spread * torch.randn(len(labels), dim, generator=g)
    return feats, labels


def test_knn_separated_clusters_is_perfect():
    tr, ytr = _clusters(30, 5, seed=0)
    te, yte = _clusters(10, 5, seed=1)
    acc = knn_top1(tr, ytr, te, yte, ks=(1, 5, 20))
    assert acc == {1: 1.0, 5: 1.0, 20: 1.0}


def test_knn_random_labels_is_near_chance():
    g = torch.Generator().manual_seed(0)
    tr, te = torch.randn(2000, 32, generator=g), torch.randn(1000, 32, generator=g)
    ytr, yte = torch.randint(0, 4, (2000,), generator=g), torch.randint(0, 4, (1000,), generator=g)
    acc = knn_top1(tr, ytr, te, yte, ks=(20,))
    assert 0.18 < acc[20] < 0.32  # chance is 0.25


def test_knn_ignores_unlabelled_items():
    tr, ytr = _clusters(20, 3)
    te, yte = _clusters(5, 3, seed=2)
    # unlabelled training items sitting exactly on class 0's test queries must not vote
    tr_bad = torch.cat([tr, te[:5].repeat(10, 1)])
    ytr_bad = torch.cat([ytr, torch.full((50,), -1)])
    # an unlabelled query is not counted: accuracy stays 1.0 over the labelled ones
    te_bad = torch.cat([te, -te[:3]])
    yte_bad = torch.cat([yte, torch.full((3,), -1)])
    acc = knn_top1(tr_bad, ytr_bad, te_bad, yte_bad, ks=(5,))
    assert acc == {5: 1.0}


def test_knn_k_larger_than_bank():
    tr, ytr = _clusters(2, 3)  # 6 items
    te, yte = _clusters(4, 3, seed=3)
    acc = knn_top1(tr, ytr, te, yte, ks=(1, 200))
    assert acc[1] == 1.0
    assert set(acc) == {1, 200}
    assert 0.0 <= acc[200] <= 1.0


def test_knn_no_labels_is_nan():
    tr, _ = _clusters(5, 2)
    acc = knn_top1(tr, torch.full((10,), -1), tr, torch.zeros(10, dtype=torch.long), ks=(5,))
    assert math.isnan(acc[5])


def test_knn_chunking_gives_same_answer():
    g = torch.Generator().manual_seed(4)
    tr, te = torch.randn(300, 8, generator=g), torch.randn(150, 8, generator=g)
    ytr, yte = torch.randint(0, 3, (300,), generator=g), torch.randint(0, 3, (150,), generator=g)
    assert knn_top1(tr, ytr, te, yte, ks=(7,), chunk=16) == knn_top1(tr, ytr, te, yte, ks=(7,))


def test_collapse_identical_embeddings():
    feats = torch.randn(1, 64).repeat(200, 1)
    m = collapse_metrics(feats)
    assert m["std_ratio"] == pytest.approx(0.0, abs=1e-3)
    assert m["effective_rank"] == pytest.approx(1.0, abs=0.05)


def test_collapse_isotropic_gaussian():
    d = 32
    feats = torch.randn(4000, d, generator=torch.Generator().manual_seed(0))
    m = collapse_metrics(feats)
    assert m["std_ratio"] == pytest.approx(1.0, abs=0.05)
    assert m["effective_rank"] > 0.9 * d
    assert m["std"] == pytest.approx(m["std_ratio"] / d ** 0.5)


def test_collapse_low_rank_is_in_between():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1000, 2, generator=g) @ torch.randn(2, 32, generator=g)
    m = collapse_metrics(feats)
    assert 1.2 < m["effective_rank"] < 3.0


def test_linear_probe_separable():
    rng = np.random.default_rng(0)
    def make(n):
        y = rng.integers(0, 3, n)
        x = np.eye(3)[y] * 4 + rng.normal(0, 0.1, (n, 3))
        return np.hstack([x, rng.normal(0, 1, (n, 5))]), y
    xtr, ytr = make(150)
    xte, yte = make(60)
    assert linear_probe(xtr, ytr, xte, yte) == 1.0


def test_linear_probe_ignores_unlabelled():
    rng = np.random.default_rng(1)
    ytr = np.array([0] * 20 + [1] * 20 + [-1] * 20)
    xtr = np.where(ytr[:, None] == 1, 3.0, -3.0) + rng.normal(0, 0.1, (60, 2))
    xtr[40:] = rng.normal(0, 5, (20, 2))  # unlabelled noise
    yte = np.array([0, 1, -1])
    xte = np.array([[-3.0, -3.0], [3.0, 3.0], [3.0, 3.0]])
    assert linear_probe(xtr, ytr, xte, yte) == 1.0


def test_linear_probe_single_class_is_nan():
    x = np.random.default_rng(0).normal(size=(20, 4))
    assert math.isnan(linear_probe(x, np.zeros(20, int), x, np.zeros(20, int)))
    assert math.isnan(linear_probe(x, np.full(20, -1), x, np.zeros(20, int)))


def test_reconstruction_error():
    x = torch.rand(4, 1, 8, 8)
    assert reconstruction_error(x, x) == 0.0
    assert reconstruction_error(x, x + 0.5) == pytest.approx(0.25)
