"""Small MLP heads that methods put on top of the backbone's features."""
from __future__ import annotations

from torch import nn


def mlp_head(in_dim: int, hidden: int, out: int) -> nn.Module:
    """Linear-BN-ReLU-Linear (hidden = 0: a single linear layer)."""
    if hidden == 0:
        return nn.Linear(in_dim, out)
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out))


def projection_head(in_dim: int, hidden: int, out: int) -> nn.Module:
    """SimCLR's projection head (Linear-BN-ReLU-Linear) of the joint-embedding methods."""
    return mlp_head(in_dim, hidden, out)
