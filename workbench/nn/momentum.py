"""Frozen copies of a network and their exponential-moving-average updates (MoCo, BYOL)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum·target + (1 - momentum)·online, parameter by parameter."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters()):
            t.lerp_(o.detach(), 1 - momentum)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy that the optimiser never touches (requires_grad False)."""
    twin = copy.deepcopy(module)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin
