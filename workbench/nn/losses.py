"""Losses used by more than one method: pixel reconstruction, CPC's InfoNCE and VICReg's terms."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Per-pixel MSE, or binary cross entropy for [0, 1] images (sharper digits)."""
    if kind == "bce":
        return F.binary_cross_entropy(x_hat.float().clamp(1e-6, 1 - 1e-6), x.float())
    return F.mse_loss(x_hat.float(), x.float())


def cpc_loss(pred: torch.Tensor, codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """InfoNCE: prediction i must pick codes[target[i]] out of all M codes (the other patches
    of the same image and of the other images are the negatives).

    pred: (N, D), codes: (M, D), target: (N,) indices into codes. Scores are dot products,
    as in the paper (log M for predictions that carry no information).
    """
    return F.cross_entropy(pred.float() @ codes.float().T, target)


def variance_term(z: torch.Tensor, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """Mean hinge max(0, γ − std) over dimensions; std = √(var + ε). Zero once every
    dimension's standard deviation reaches γ; largest for a collapsed embedding."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """Sum of the squared off-diagonal covariances, divided by the dimension d."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, gamma: float = 1.0,
                 eps: float = 1e-4) -> dict[str, torch.Tensor]:
    """The three unweighted terms: invariance (MSE), variance and covariance (both averaged
    over the two branches, as in the paper's code)."""
    z1, z2 = z1.float(), z2.float()
    return {"invariance": F.mse_loss(z1, z2),
            "variance": (variance_term(z1, gamma, eps) + variance_term(z2, gamma, eps)) / 2,
            "covariance": covariance_term(z1) + covariance_term(z2)}


def vicreg_loss(z1: torch.Tensor, z2: torch.Tensor, lam: float = 25.0, mu: float = 25.0,
                nu: float = 1.0, gamma: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """λ·invariance + μ·variance + ν·covariance."""
    t = vicreg_terms(z1, z2, gamma, eps)
    return lam * t["invariance"] + mu * t["variance"] + nu * t["covariance"]
