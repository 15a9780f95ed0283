"""Rotation prediction: classify which of 0/90/180/270° an image was turned by (Gidaris et al. 2018, arXiv:1803.07728)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.augment import rotate90
from workbench.config import setting

ANGLES = (0, 90, 180, 270)


def rotation_loss(logits: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Cross entropy of the 4-way rotation classifier."""
    return F.cross_entropy(logits.float(), k)


def all_rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image in all four orientations, as RotNet trains: (4B images, their k)."""
    k = torch.arange(4, device=x.device).repeat_interleave(len(x))
    return rotate90(x.repeat(4, 1, 1, 1), k), k


class Rotation(Method):
    name = "rotation"
    title = "RotNet (rotation prediction)"
    family = "pretext"
    modality = "image"
    summary = "Predict how far each image was rotated (0°, 90°, 180°, 270°)."
    reference = "Gidaris et al. 2018, arXiv:1803.07728"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config:
        all_four: bool = setting(True, "Show each image in all four orientations per step "
                                       "(RotNet's recipe); off: one random rotation each.")
        hidden: int = setting(256, "Hidden units of the rotation classifier (0 = linear).",
                              min=0, max=4096)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if data.input_shape[1] != data.input_shape[2]:
            raise ValueError("rotation needs square images")
        self.classifier = (nn.Linear(feat_dim, 4) if cfg.hidden == 0 else nn.Sequential(
            nn.Linear(feat_dim, cfg.hidden), nn.BatchNorm1d(cfg.hidden), nn.ReLU(inplace=True),
            nn.Linear(cfg.hidden, 4)))

    def rotated(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.all_four:
            return all_rotations(x)
        k = torch.randint(0, 4, (len(x),), device=x.device)
        return rotate90(x, k), k

    def training_step(self, batch: Batch) -> StepOutput:
        xr, k = self.rotated(batch.x)
        logits = self.classifier(self.backbone(xr))
        loss = rotation_loss(logits, k)
        acc = (logits.argmax(1) == k).float().mean()
        return StepOutput(loss, {"rotation_acc": acc})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:16]
        k = torch.arange(len(x), device=x.device) % 4
        xr = rotate90(x, k)
        pred = self.classifier(self.backbone(xr)).argmax(1)
        captions = [f"{'✓' if p == t else '✗'} pred {ANGLES[p]}° / true {ANGLES[t]}°"
                    for p, t in zip(pred.tolist(), k.tolist())]
        return {"rotations": Preview.from_tensor("Rotated inputs with the model's guess", xr,
                                                 captions, columns=8)}
