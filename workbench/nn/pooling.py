"""The representation read off a backbone's last feature map (max or average over positions)."""
from __future__ import annotations

import torch
from torch import nn

from workbench.backbones import feature_trunk


def pooled_features(encoder: nn.Module, x: torch.Tensor, pooling: str = "max") -> torch.Tensor:
    """The representation of x: the encoder's last feature map maximised over positions ("max"),
    or the backbone's own output ("avg", its global average). An encoder without a feature map
    (mlp) always gives its own output."""
    trunk = feature_trunk(encoder) if pooling == "max" else None
    return trunk(x).amax(dim=(2, 3)) if trunk is not None else encoder(x)
