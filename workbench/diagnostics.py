"""Representation diagnostics: RankMe, alignment and uniformity, normalised std, label efficiency, per-factor probes."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

LABEL_FRACTIONS = (0.01, 0.1, 1.0)  # label efficiency: the share of training labels the probe sees


def rankme(feats: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023, arXiv:2210.02885): exp of the entropy of the singular values
    of the (N, d) embedding matrix normalised to sum to one. Between 1 (one direction: collapse)
    and min(N, d) (all directions used equally). The paper takes the raw, uncentred matrix."""
    s = torch.linalg.svdvals(feats.double())
    if len(s) == 0 or float(s.sum()) == 0.0:
        return 1.0 if len(s) else 0.0
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """Wang & Isola (2020): mean ||f(x) − f(x')||^alpha over positive pairs of L2-normalised
    embeddings; 0 when the two views of every item coincide, at most 2^alpha."""
    a, b = F.normalize(z1.double(), dim=1), F.normalize(z2.double(), dim=1)
    return float((a - b).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """Wang & Isola (2020): log of the mean Gaussian potential exp(−t ||f(x) − f(y)||²) over all
    distinct pairs of L2-normalised embeddings; 0 when every point coincides, lower is more uniform."""
    x = F.normalize(z.double(), dim=1)
    if len(x) < 2:
        return float("nan")
    sq = torch.pdist(x).pow(2)
    return float(torch.logsumexp(-t * sq, dim=0) - math.log(len(sq)))


def normalised_std(z: torch.Tensor) -> dict[str, float]:
    """lightly's collapse monitor: the per-dimension std of L2-normalised embeddings, averaged
    over dimensions. 0 is total collapse; spread evenly over a d-sphere it is 1/sqrt(d), so
    `std_ratio` (std × sqrt(d)) near 1 is healthy."""
    x = F.normalize(z.double(), dim=1)
    std = float(x.std(dim=0).mean()) if len(x) > 1 else 0.0
    return {"std": std, "std_ratio": std * math.sqrt(x.shape[1]), "ideal_std": 1 / math.sqrt(x.shape[1])}


def label_subset(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified `fraction` of the labelled items (at least one per class),
    the same for every run with this seed, so label-efficiency figures compare across runs."""
    labelled = np.flatnonzero(labels >= 0)
    if fraction >= 1.0:
        return labelled
    rng = np.random.default_rng(seed)
    picked = []
    for cls in np.unique(labels[labelled]):
        members = labelled[labels[labelled] == cls]
        take = max(1, int(round(fraction * len(members))))
        picked.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(picked))


def label_efficiency(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray,
                     fractions: tuple[float, ...] = LABEL_FRACTIONS, seed: int = 0) -> dict[str, float]:
    """Linear-probe top-1 on the test split when the probe sees only a fraction of the training
    labels: {"0.01": acc, "0.1": acc, "1.0": acc} (keys are the fractions as text)."""
    from .evaluate import linear_probe
    out = {}
    for fraction in fractions:
        keep = label_subset(y_train, fraction, seed)
        acc = linear_probe(train[keep], y_train[keep], test, y_test, seed=seed)
        out[str(float(fraction))] = None if math.isnan(acc) else round(acc, 4)
    return out


def factor_probes(train: np.ndarray, factors_train: dict[str, np.ndarray], test: np.ndarray,
                  factors_test: dict[str, np.ndarray], seed: int = 0) -> dict[str, float]:
    """How well each known factor (shape, colour, …) can be read off the embedding: test top-1
    of a linear probe per factor, so "clusters by colour, not shape" is a number."""
    from .evaluate import linear_probe
    out = {}
    for name, codes in factors_test.items():
        if name not in factors_train:
            continue
        acc = linear_probe(train, factors_train[name], test, codes, seed=seed)
        if not math.isnan(acc):
            out[name] = round(acc, 4)
    return out


def factor_chance(factors_test: dict[str, np.ndarray]) -> dict[str, float]:
    """Majority-class accuracy per factor: what a probe that learnt nothing scores."""
    return {name: round(float(np.bincount(codes[codes >= 0]).max() / max(1, (codes >= 0).sum())), 4)
            for name, codes in factors_test.items() if (codes >= 0).any()}


class OnlineProbe:
    """A linear classifier on stop-gradient features, kept across evaluations: at each periodic
    evaluation it takes a few full-batch steps from where it left off on the frozen training
    features, then reports test top-1. It never touches the method's weights or optimiser."""

    def __init__(self, steps: int = 100, lr: float = 0.05, seed: int = 0):
        self.steps, self.lr, self.seed = steps, lr, seed
        self.head: torch.nn.Linear | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def update(self, train: torch.Tensor, y_train: torch.Tensor, test: torch.Tensor,
               y_test: torch.Tensor) -> float | None:
        keep, tested = y_train >= 0, y_test >= 0
        if keep.sum() < 2 or tested.sum() < 1:
            return None
        x, y = train[keep].float().detach(), y_train[keep].long()
        # standardise with this evaluation's statistics: the features drift as training goes on
        mean, std = x.mean(0, keepdim=True), x.std(0, keepdim=True).clamp_min(1e-6)
        classes = int(max(y.max(), y_test[tested].max())) + 1
        if self.head is None or self.head.in_features != x.shape[1] or self.head.out_features < classes:
            with torch.random.fork_rng(devices=[]):  # never consume the training RNG
                torch.manual_seed(self.seed)
                self.head = torch.nn.Linear(x.shape[1], classes)
            self.optimizer = torch.optim.Adam(self.head.parameters(), lr=self.lr)
        xs = (x - mean) / std
        with torch.enable_grad():
            for _ in range(self.steps):
                loss = F.cross_entropy(self.head(xs), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
        with torch.no_grad():
            pred = self.head((test[tested].float() - mean) / std).argmax(1)
        return float((pred == y_test[tested].long()).float().mean())


def view_embeddings(method, x: torch.Tensor, device: torch.device, seed: int = 0,
                    batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Embeddings of two random views of each image in x (stored rows), for alignment: the
    method's own view recipe when it has one, else SimCLR's crop without colour change. Views
    come from a private generator, so the training RNG (and resume) is untouched. None for
    data that is not images."""
    from .augment import ViewConfig, two_views
    from .data.base import model_input
    if x.ndim != 4 or len(x) == 0:  # not images, or no probe set to look at
        return None
    views = getattr(method, "views", None)
    cfg = views if isinstance(views, ViewConfig) else ViewConfig(jitter_p=0.0, gray_p=0.0, flip_p=0.0)
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = method.training
    method.eval()
    out1, out2 = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                v1, v2 = two_views(model_input(x[start:start + batch_size].to(device)), cfg, generator)
                out1.append(method.embed(v1).float().cpu())
                out2.append(method.embed(v2).float().cpu())
    finally:
        method.train(was_training)
    return torch.cat(out1), torch.cat(out2)


def embedding_diagnostics(feats: torch.Tensor, views: tuple[torch.Tensor, torch.Tensor] | None = None,
                          max_pairs_items: int = 2000) -> dict[str, float]:
    """RankMe, uniformity, normalised std (and alignment when two views are given) of one set
    of embeddings, rounded for events and JSON. Uniformity uses at most max_pairs_items items
    (its cost grows with the square)."""
    std = normalised_std(feats)
    out = {"rankme": round(rankme(feats), 3), "uniformity": round(uniformity(feats[:max_pairs_items]), 4),
           "normalised_std": round(std["std"], 5), "std_ratio": round(std["std_ratio"], 4)}
    if views is not None:
        out["alignment"] = round(alignment(*views), 4)
    return out
