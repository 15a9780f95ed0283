"""Optimisers and the learning-rate schedule the trainer uses (linear warm-up, cosine decay)."""
from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from .config import RunConfig


class LARS(torch.optim.Optimizer):
    """SGD with layer-wise trust ratios (You et al. 2017), for very large batches.

    Biases and normalisation weights (1-D parameters) skip weight decay and adaptation,
    as in the SimCLR and BYOL recipes.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 1e-6,
                 trust_coefficient: float = 0.001):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if p.ndim > 1:
                    grad = grad.add(p, alpha=group["weight_decay"])
                    p_norm, g_norm = p.norm(), grad.norm()
                    trust = torch.where((p_norm > 0) & (g_norm > 0),
                                        group["trust_coefficient"] * p_norm / g_norm,
                                        torch.ones_like(p_norm))
                    grad = grad.mul(trust)
                buf = self.state[p].get("momentum_buffer")
                if buf is None:
                    buf = self.state[p]["momentum_buffer"] = grad.clone()
                else:
                    buf.mul_(group["momentum"]).add_(grad)
                p.add_(buf, alpha=-group["lr"])
        return loss


def scaled_lr(cfg: RunConfig) -> float:
    """lr after lr_scaling against lr_base_batch (batch_size is the global batch, over all
    processes): linear (Goyal et al. 2017) or square-root (Krizhevsky 2014) scaling."""
    ratio = cfg.batch_size / cfg.lr_base_batch
    if cfg.lr_scaling == "linear":
        return cfg.lr * ratio
    if cfg.lr_scaling == "sqrt":
        return cfg.lr * math.sqrt(ratio)
    return cfg.lr


def build_optimizer(params, cfg: RunConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    lr = scaled_lr(cfg)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)
    if cfg.optimizer == "lars":
        return LARS(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


class WarmupCosine:
    """Multiplier for LambdaLR: linear warm-up over `warmup` steps, then cosine to 0."""

    def __init__(self, warmup: int, total: int):
        self.warmup, self.total = max(0, warmup), max(1, total)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer, cfg: RunConfig, steps_per_epoch: int) -> LambdaLR:
    total = cfg.epochs * steps_per_epoch
    warmup = min(int(cfg.warmup_epochs * steps_per_epoch), total // 2)
    return LambdaLR(optimizer, WarmupCosine(warmup, total))
