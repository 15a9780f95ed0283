"""VICReg: make two views' embeddings agree (invariance) while keeping every dimension spread
out (variance) and the dimensions decorrelated (covariance) (Bardes et al. 2022,
arXiv:2105.04906)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.augment import two_views
from workbench.config import setting
from workbench.distributed import gather_with_grad
from workbench.nn.losses import covariance_term, variance_term, vicreg_loss, vicreg_terms  # noqa: F401  (tests import them here)
from workbench.views import ViewSettings, view_config


def expander(in_dim: int, hidden: int, out: int, layers: int = 3) -> nn.Module:
    """VICReg's expander: (Linear-BN-ReLU) × (layers − 1), then a Linear."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        mods += [nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        dim = hidden
    mods.append(nn.Linear(dim, out))
    return nn.Sequential(*mods)


class VICReg(Method):
    name = "vicreg"
    title = "VICReg"
    family = "joint-embedding"
    modality = "image"
    summary = "Agree across views, keep each dimension's variance up, decorrelate dimensions."
    reference = "Bardes et al. 2022, arXiv:2105.04906"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config(ViewSettings):
        sim_weight: float = setting(25.0, "λ: weight of the invariance (MSE) term.", min=0.0,
                                    max=1000.0, label="Invariance weight λ")
        var_weight: float = setting(25.0, "μ: weight of the variance hinge.", min=0.0,
                                    max=1000.0, label="Variance weight μ")
        cov_weight: float = setting(1.0, "ν: weight of the covariance term.", min=0.0,
                                    max=1000.0, label="Covariance weight ν")
        expander_dim: int = setting(512, "Width of the expander's layers (the paper uses 8192).",
                                    min=2, max=16384, label="Expander size")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.expander = expander(feat_dim, cfg.expander_dim, cfg.expander_dim)
        self.views = view_config(cfg, data.channels)

    def training_step(self, batch: Batch) -> StepOutput:
        v1, v2 = two_views(batch.x, self.views)
        z1, z2 = self.expander(self.backbone(torch.cat([v1, v2]))).chunk(2)
        t = vicreg_terms(gather_with_grad(z1), gather_with_grad(z2))  # global-batch statistics
        cfg = self.cfg
        loss = cfg.sim_weight * t["invariance"] + cfg.var_weight * t["variance"] + \
            cfg.cov_weight * t["covariance"]
        return StepOutput(loss, {k: v.detach() for k, v in t.items()})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        v1, v2 = two_views(x, self.views)
        z1, z2 = self.expander(self.backbone(v1)), self.expander(self.backbone(v2))
        dist = ((z1 - z2) ** 2).mean(1).tolist()
        captions = [f"image {i}" for i in range(len(x))] + ["view 1"] * len(x) + \
                   [f"view 2 · mse {d:.2f}" for d in dist]
        return {"views": Preview.from_tensor("Image / two views (invariance MSE per pair)",
                                             torch.cat([x, v1, v2]), captions, columns=len(x))}
