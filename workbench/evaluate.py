"""Representation quality: weighted kNN, linear probe, collapse metrics, reconstruction error."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def knn_top1(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
             test_labels: torch.Tensor, ks: tuple[int, ...] = (20, 200), temperature: float = 0.1,
             chunk: int = 1024) -> dict[int, float]:
    """Top-1 accuracy of the weighted cosine kNN classifier (Wu et al. 2018) for each k.

    Votes are exp(sim / T) of the k most similar training items; unlabelled (-1) items are
    ignored. Returns {k: accuracy in [0, 1]}.
    """
    keep = train_labels >= 0
    bank = F.normalize(train_feats[keep].float(), dim=1)
    bank_labels = train_labels[keep].long()
    tested = test_labels >= 0
    queries = F.normalize(test_feats[tested].float(), dim=1)
    truth = test_labels[tested].long()
    if len(bank) == 0 or len(queries) == 0:
        return {k: float("nan") for k in ks}
    num_classes = int(max(bank_labels.max(), truth.max())) + 1
    kmax = min(max(ks), len(bank))
    correct = {k: 0 for k in ks}
    for start in range(0, len(queries), chunk):
        sims = queries[start:start + chunk] @ bank.T
        top_sim, top_idx = sims.topk(kmax, dim=1)
        weights = (top_sim / temperature).exp()
        labels = bank_labels[top_idx]
        for k in ks:
            kk = min(k, kmax)
            votes = torch.zeros(len(labels), num_classes, device=labels.device)
            votes.scatter_add_(1, labels[:, :kk], weights[:, :kk])
            correct[k] += int((votes.argmax(1) == truth[start:start + chunk]).sum())
    return {k: correct[k] / len(queries) for k in ks}


def collapse_metrics(feats: torch.Tensor) -> dict[str, float]:
    """Signs of collapse: per-dimension std of L2-normalised features and effective rank.

    A healthy d-dimensional embedding has std close to 1/sqrt(d) (reported as a ratio, 1.0 is
    ideal, 0 is total collapse) and an effective rank (exp of the spectral entropy) well above 1.
    """
    z = F.normalize(feats.float(), dim=1)
    d = z.shape[1]
    std = z.std(dim=0).mean().item() if len(z) > 1 else 0.0
    centred = z - z.mean(0, keepdim=True)
    s = torch.linalg.svdvals(centred)
    p = s / s.sum().clamp_min(1e-12)
    entropy = -(p * (p + 1e-12).log()).sum()
    return {"std": std, "std_ratio": std * d ** 0.5, "effective_rank": float(entropy.exp())}


def linear_probe(train_feats: np.ndarray, train_labels: np.ndarray, test_feats: np.ndarray,
                 test_labels: np.ndarray, max_iter: int = 1000, seed: int = 0) -> float:
    """Top-1 of a logistic regression on frozen, standardised features (labelled items only)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    tr, te = train_labels >= 0, test_labels >= 0
    if tr.sum() < 2 or te.sum() < 1 or len(np.unique(train_labels[tr])) < 2:
        return float("nan")
    scaler = StandardScaler().fit(train_feats[tr])
    clf = LogisticRegression(max_iter=max_iter, C=1.0, random_state=seed)
    clf.fit(scaler.transform(train_feats[tr]), train_labels[tr])
    return float(clf.score(scaler.transform(test_feats[te]), test_labels[te]))


def reconstruction_error(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Mean squared error per pixel between inputs and reconstructions in [0, 1]."""
    return float(F.mse_loss(x_hat.float(), x.float()).item())
