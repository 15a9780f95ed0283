"""IS and FID for generated signals: known answers, the cached deterministic classifier, the report's baselines."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench import generative_scores as gs


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_fid_is_zero_for_identical_sets():
    feats = np.random.default_rng(0).normal(size=(500, 6))
    assert gs.fid(feats, feats) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_matches_the_closed_form_for_two_gaussians():
    # diagonal covariances: ‖μ₁ − μ₂‖² + Σ (a + b − 2 √(ab))
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + ((a + b - 2 * np.sqrt(a * b)).sum())
    assert gs.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)
    # a full covariance against a multiple of itself: tr(Σ + c²Σ − 2cΣ) = (1 − c)² tr Σ
    m = np.random.default_rng(1).normal(size=(4, 4))
    sigma = m @ m.T + np.eye(4)
    assert gs.frechet_distance(np.zeros(4), sigma, np.zeros(4), 9 * sigma) == pytest.approx(4 * np.trace(sigma), rel=1e-6)


def test_fid_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 1.0, size=(20000, 2))
    b = rng.normal(3.0, 2.0, size=(20000, 2))
    expected = 2 * 3.0 ** 2 + 2 * (1 + 4 - 2 * 2)  # ‖Δμ‖² + Σ (1 + 4 − 2·2)
    assert gs.fid(a, b) == pytest.approx(expected, rel=0.03)


def test_inception_score_is_one_for_a_constant_posterior():
    probs = np.tile([0.2, 0.5, 0.3], (50, 1))
    assert gs.inception_score(probs) == pytest.approx(1.0)


def test_inception_score_is_k_for_confident_uniform_classes():
    k = 5
    probs = np.eye(k)[np.arange(100) % k]
    assert gs.inception_score(probs) == pytest.approx(k, rel=1e-6)
    # confident but all in one class: no diversity, score 1
    assert gs.inception_score(np.eye(k)[np.zeros(100, int)]) == pytest.approx(1.0)


def _toy_signals(n=96, length=32):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    t = torch.arange(length).float()
    freq = torch.where(y == 0, 2.0, 6.0)[:, None]
    x = torch.sin(2 * math.pi * freq * t / length)[:, None] + 0.1 * torch.randn(n, 1, length, generator=g)
    return x, y


def test_classifier_is_deterministic_and_learns():
    x, y = _toy_signals()
    a = gs.train_classifier(x, y, 2, epochs=12)
    b = gs.train_classifier(x, y, 2, epochs=12)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    with torch.no_grad():
        assert (a(x).argmax(1) == y).float().mean() > 0.9


def test_classifier_is_trained_once_and_then_read_from_the_cache(tmp_path, monkeypatch):
    x, y = _toy_signals()
    gs._MEMO.clear()
    first = gs.cached_classifier(x, y, 2, cache_dir=tmp_path)
    files = list(tmp_path.glob("classifier-*.pt"))
    assert len(files) == 1
    gs._MEMO.clear()  # as in a new process: the disk copy must serve

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(gs, "train_classifier", no_training)
    second = gs.cached_classifier(x, y, 2, cache_dir=tmp_path)
    assert second is not first
    with torch.no_grad():
        assert torch.equal(first(x), second(x))
    assert gs.cached_classifier(x, y, 2, cache_dir=tmp_path) is second  # then from memory
    gs._MEMO.clear()


def test_matched_noise_has_the_reference_mean_and_std():
    ref = torch.randn(400, 1, 64) * 3 + 2
    noise = gs.matched_noise(ref, 400)
    assert noise.shape == ref.shape
    assert float(noise.mean()) == pytest.approx(float(ref.mean()), abs=0.05)
    assert float(noise.std()) == pytest.approx(float(ref.std()), rel=0.02)


def test_report_orders_real_above_noise():
    x, y = _toy_signals(200)
    model = gs.train_classifier(x[:100], y[:100], 2, epochs=20)
    report = gs.score_report(model, x[100:150], x[:100], x[150:])
    assert set(report) == {"IS generated", "IS real (test split)", "IS noise", "FID generated vs train",
                           "FID real (test vs train)", "FID noise vs train"}
    assert report["FID real (test vs train)"] < report["FID noise vs train"]
    assert report["IS real (test split)"] > report["IS noise"] + 0.2  # confident on real signals only


def test_frechet_distance_agrees_with_scipy_sqrtm_on_full_covariances():
    from scipy.linalg import sqrtm
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    reference = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2)))
    assert gs.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)
