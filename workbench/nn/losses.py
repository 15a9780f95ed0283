"""Losses used by more than one method: pixel reconstruction and CPC's InfoNCE."""
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
