"""SimCLR: contrast two augmented views of each image (Chen et al. 2020, arXiv:2002.05709)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.augment import two_views
from workbench.config import setting
from workbench.distributed import gather_with_grad
from workbench.nn.heads import projection_head
from workbench.views import ViewSettings, view_config


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised-temperature cross entropy over 2N views; view i's positive is its twin.

    Each of the 2N embeddings is classified against the other 2N − 1 (self excluded), so the
    minimum is reached when twins coincide and differ from everything else.
    """
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z1.shape[0]
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


class SimCLR(Method):
    name = "simclr"
    title = "SimCLR"
    family = "joint-embedding"
    modality = "image"
    summary = "Pull two augmented views of an image together, push other images away (NT-Xent)."
    reference = "Chen et al. 2020, arXiv:2002.05709"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config(ViewSettings):
        temperature: float = setting(0.2, "Softmax temperature of NT-Xent; lower is sharper.",
                                     min=0.0, max=10.0, exclusive_min=True)
        proj_dim: int = setting(128, "Output size of the projection head.", min=2, max=4096,
                                label="Projection size")
        proj_hidden: int = setting(512, "Hidden size of the projection head.", min=2, max=8192,
                                   label="Projection hidden size")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.head = projection_head(feat_dim, cfg.proj_hidden, cfg.proj_dim)
        self.views = view_config(cfg, data.channels)

    def training_step(self, batch: Batch) -> StepOutput:
        v1, v2 = two_views(batch.x, self.views)
        h = self.backbone(torch.cat([v1, v2]))
        z = self.head(h)
        z1, z2 = z.chunk(2)
        # every rank's views are negatives (global batch), gradients flow back to their rank
        loss = nt_xent(gather_with_grad(z1), gather_with_grad(z2), self.cfg.temperature)
        with torch.no_grad():
            twin_sim = F.cosine_similarity(z1.float(), z2.float()).mean()
        return StepOutput(loss, {"positive_cosine": twin_sim})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        v1, v2 = two_views(x, self.views)
        with torch.no_grad():
            z1, z2 = self.head(self.backbone(v1)), self.head(self.backbone(v2))
            sims = F.cosine_similarity(z1, z2).tolist()
        rows = torch.cat([x, v1, v2])
        captions = [f"image {i}" for i in range(len(x))] + ["view 1"] * len(x) + \
                   [f"view 2 · cos {s:.2f}" for s in sims]
        return {"views": Preview.from_tensor("Original / two augmented views (cos: similarity of their projections)",
                                             rows, captions, columns=len(x))}
