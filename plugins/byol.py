"""BYOL: an online network predicts a slowly moving target network's projection of another
view, with no negatives at all (Grill et al. 2020, arXiv:2006.07733)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.augment import two_views
from workbench.config import setting
from workbench.nn.heads import projection_head
from workbench.nn.momentum import ema_update, frozen_copy
from workbench.views import ViewSettings, view_config


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean of 2 − 2·cos(p, z) = ‖p/‖p‖ − z/‖z‖‖²: 0 when aligned, 4 when opposite.

    z is the target's projection: pass it detached (the target gets no gradient)."""
    return (2 - 2 * F.cosine_similarity(p.float(), z.float(), dim=1)).mean()


def target_momentum(step: int, total_steps: int, base: float) -> float:
    """BYOL's schedule τ = 1 − (1 − τ_base)·(cos(π·step/total) + 1)/2: τ_base at the start,
    rising to 1 at the end of training."""
    progress = min(max(step / max(1, total_steps), 0.0), 1.0)
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


class BYOL(Method):
    name = "byol"
    title = "BYOL (bootstrap your own latent)"
    family = "joint-embedding"
    modality = "image"
    summary = "Predict a slow-moving target network's embedding of another view; no negatives."
    reference = "Grill et al. 2020, arXiv:2006.07733"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config(ViewSettings):
        tau_base: float = setting(0.99, "Starting EMA momentum of the target network; it rises "
                                        "to 1 on a cosine schedule (the paper's 0.996 suits long "
                                        "runs).", min=0.0, max=1.0, label="Target momentum τ_base")
        proj_dim: int = setting(128, "Output size of the projector and predictor.", min=2,
                                max=4096, label="Projection size")
        proj_hidden: int = setting(512, "Hidden size of the projector and predictor.", min=2,
                                   max=8192, label="Projection hidden size")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.projector = projection_head(feat_dim, cfg.proj_hidden, cfg.proj_dim)
        self.predictor = projection_head(cfg.proj_dim, cfg.proj_hidden, cfg.proj_dim)
        self.target = frozen_copy(nn.Sequential(backbone, self.projector))
        self.views = view_config(cfg, data.channels)
        self.tau = cfg.tau_base  # current momentum, for the dashboard

    def training_step(self, batch: Batch) -> StepOutput:
        v1, v2 = two_views(batch.x, self.views)
        both = torch.cat([v1, v2])
        p1, p2 = self.predictor(self.projector(self.backbone(both))).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target(both).chunk(2)
        # symmetric: each view's prediction chases the target's projection of the other view
        loss = byol_loss(p1, z2) + byol_loss(p2, z1)
        return StepOutput(loss, {"tau": self.tau})

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.tau = target_momentum(step, total_steps, self.cfg.tau_base)
        ema_update(self.target, nn.ModuleList([self.backbone, self.projector]), self.tau)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        v1, v2 = two_views(x, self.views)
        p = self.predictor(self.projector(self.backbone(v1)))
        z = self.target(v2)
        cos = F.cosine_similarity(p, z).tolist()
        captions = [f"image {i}" for i in range(len(x))] + ["online view"] * len(x) + \
                   [f"target view · cos {c:.2f}" for c in cos]
        return {"views": Preview.from_tensor("Image / online view / target view (prediction "
                                             "cosine)", torch.cat([x, v1, v2]), captions,
                                             columns=len(x))}
