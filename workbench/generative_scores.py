"""Inception Score and FID for generated 1-D signals, read through a small supervised classifier trained once per dataset.

As the thesis (Mathisen 2024, §0.10.2) does for time series, the Inception network of images
(Salimans et al. 2016; Heusel et al. 2017) is replaced by a supervised network trained on the
real data: IS from its class posteriors, FID from its penultimate features. The figures mean
little alone, so `score_report` gives them beside two baselines: real against real (the test
split against the train split: the best a generator can hope for) and Gaussian noise with the
data's mean and standard deviation (what a generator that learned nothing gets).
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import load_checkpoint, save_checkpoint

CLASSIFIER_SEED = 0
CLASSIFIER_EPOCHS = 6
CLASSIFIER_BATCH = 128
CLASSIFIER_LR = 3e-3
FEATURES = 64  # the penultimate layer FID reads
_MEMO: dict[str, "SignalClassifier"] = {}  # this process's classifiers by data fingerprint


class SignalClassifier(nn.Module):
    """Three 1-D convolution blocks, global average pooling (the FID features), a linear classifier."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        # strided and pooled early: trained inside a run's evaluation, it must cost seconds
        self.body = nn.Sequential(
            nn.Conv1d(channels, 16, 7, stride=2, padding=3), nn.BatchNorm1d(16), nn.ReLU(inplace=True), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(inplace=True), nn.MaxPool1d(2),
            nn.Conv1d(32, FEATURES, 3, padding=1), nn.BatchNorm1d(FEATURES), nn.ReLU(inplace=True))
        self.head = nn.Linear(FEATURES, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.float()).mean(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    """A hash of the training data and the classifier's recipe: the cache key."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x.detach().float().cpu().numpy()).tobytes())
    h.update(np.ascontiguousarray(y.detach().long().cpu().numpy()).tobytes())
    h.update(f"v2-{CLASSIFIER_SEED}-{CLASSIFIER_EPOCHS}-{CLASSIFIER_BATCH}-{CLASSIFIER_LR}-{FEATURES}".encode())
    return h.hexdigest()[:20]


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, epochs: int = CLASSIFIER_EPOCHS,
                     seed: int = CLASSIFIER_SEED) -> SignalClassifier:
    """A SignalClassifier fitted to (x (N, C, T), y (N,)) by Adam on the CPU; the same data
    and seed give the same weights, and the caller's RNG state is left as it was."""
    x, y = x.detach().float().cpu(), y.detach().long().cpu()
    # enable_grad: a method's measures run under no_grad, and this is the one place they train
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        model = SignalClassifier(x.shape[1], num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=CLASSIFIER_LR)
        order_rng = torch.Generator().manual_seed(seed)
        steps = epochs * math.ceil(len(x) / CLASSIFIER_BATCH)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, CLASSIFIER_LR, total_steps=max(1, steps))
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(len(x), generator=order_rng).split(CLASSIFIER_BATCH):
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
    return model.eval()


def _cache_dir() -> Path:
    from .data.cache import cache_root  # the one cache folder ($SSL_WORKBENCH_CACHE)
    return cache_root() / "generative-scores"


def cached_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int,
                      cache_dir: Path | None = None) -> SignalClassifier:
    """The classifier for this training data: from this process's memory, else from the disk
    cache (weights_only), else trained now and cached (atomically) for the next process."""
    key = fingerprint(x, y)
    if key in _MEMO:
        return _MEMO[key]
    path = (cache_dir or _cache_dir()) / f"classifier-{key}.pt"
    model = SignalClassifier(x.shape[1], num_classes)
    if path.is_file():
        model.load_state_dict(load_checkpoint(path)["model"])
        model.eval()
    else:
        model = train_classifier(x, y, num_classes)
        try:
            os.makedirs(path.parent, exist_ok=True)
            save_checkpoint({"model": model.state_dict()}, path)
        except OSError:  # a read-only cache costs a retrain next time, never the scores
            pass
    _MEMO[key] = model
    return model


@torch.no_grad()
def posteriors_and_features(model: SignalClassifier, x: torch.Tensor,
                            batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Class posteriors (N, K) and penultimate features (N, FEATURES) as float64 arrays."""
    probs, feats = [], []
    for chunk in x.detach().float().cpu().split(batch):
        f = model.features(chunk)
        probs.append(F.softmax(model.head(f), 1).double().numpy())
        feats.append(f.double().numpy())
    return np.concatenate(probs), np.concatenate(feats)


def inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))): 1 when every sample gets the same posterior, K when each
    is confidently one class and the classes are used equally."""
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(0, keepdims=True)
    kl = (p * (np.log(p + eps) - np.log(marginal + eps))).sum(1)
    return float(np.exp(kl.mean()))


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance matrix (negative round-off eigenvalues → 0)."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½): the squared 2-Wasserstein distance between two
    Gaussians. tr (Σ₁ Σ₂)^½ = Σ √λ of the symmetric Σ₁^½ Σ₂ Σ₁^½ (same eigenvalues), from
    eigen-decompositions: stable for the singular covariances of few samples, where a general
    matrix square root warns and returns complex round-off."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    root = _psd_sqrt(s1)
    middle = root @ s2 @ root
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(max(0.0, ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features (N, D)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def matched_noise(reference: torch.Tensor, n: int, seed: int = CLASSIFIER_SEED) -> torch.Tensor:
    """n Gaussian-noise signals shaped like `reference`'s, with its mean and standard deviation."""
    ref = reference.detach().float().cpu()
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *ref.shape[1:]), generator=g) * ref.std() + ref.mean()


def score_report(model: SignalClassifier, generated: torch.Tensor, train: torch.Tensor,
                 test: torch.Tensor) -> dict[str, float]:
    """IS and FID (against the train split) of the generated signals, of the test split (the
    real-vs-real baseline) and of matched Gaussian noise (the floor), as `measures` labels."""
    _, f_train = posteriors_and_features(model, train)
    p_gen, f_gen = posteriors_and_features(model, generated)
    p_test, f_test = posteriors_and_features(model, test)
    p_noise, f_noise = posteriors_and_features(model, matched_noise(train, len(generated)))
    return {"IS generated": inception_score(p_gen),
            "IS real (test split)": inception_score(p_test),
            "IS noise": inception_score(p_noise),
            "FID generated vs train": fid(f_gen, f_train),
            "FID real (test vs train)": fid(f_test, f_train),
            "FID noise vs train": fid(f_noise, f_train)}
