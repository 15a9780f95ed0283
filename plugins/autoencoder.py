"""Autoencoder: compress each image to the representation and reconstruct it (Hinton & Salakhutdinov 2006, Science 313:504)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Per-pixel MSE, or binary cross entropy for [0, 1] images (sharper digits)."""
    if kind == "bce":
        return F.binary_cross_entropy(x_hat.float().clamp(1e-6, 1 - 1e-6), x.float())
    return F.mse_loss(x_hat.float(), x.float())


class ConvDecoder(nn.Module):
    """Features (B, D) -> image (B, C, H, W) in [0, 1]: a dense map then two ×2 upsamplings."""

    def __init__(self, feat_dim: int, shape: tuple[int, int, int], width: int = 64):
        super().__init__()
        c, h, w = shape
        self.shape = shape
        self.h0, self.w0 = max(1, -(-h // 4)), max(1, -(-w // 4))
        self.width = width
        self.fc = nn.Sequential(nn.Linear(feat_dim, width * self.h0 * self.w0), nn.ReLU(inplace=True))
        self.up = nn.Sequential(
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1), nn.BatchNorm2d(width // 2), nn.ReLU(inplace=True),
            nn.Conv2d(width // 2, c, 3, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.up(self.fc(z).view(-1, self.width, self.h0, self.w0))
        if y.shape[-2:] != self.shape[1:]:
            y = F.interpolate(y, size=self.shape[1:], mode="bilinear", align_corners=False)
        return torch.sigmoid(y)


class Autoencoder(Method):
    name = "autoencoder"
    title = "Autoencoder"
    family = "reconstruction"
    modality = "image"
    summary = "Squeeze each image through the encoder and rebuild it; the code is the representation."
    reference = "Hinton & Salakhutdinov 2006, Science 313:504"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config:
        loss: str = setting("bce", "Reconstruction loss: bce suits [0, 1] images, mse is plain L2.",
                            choices=("bce", "mse"))
        decoder_width: int = setting(64, "Channels of the decoder.", min=8, max=1024)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.decoder = ConvDecoder(feat_dim, data.input_shape, cfg.decoder_width)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.backbone(x))

    def training_step(self, batch: Batch) -> StepOutput:
        x_hat = self.reconstruct(batch.x)
        loss = reconstruction_loss(x_hat, batch.x, self.cfg.loss)
        with torch.no_grad():
            mse = F.mse_loss(x_hat.float(), batch.x.float())
        return StepOutput(loss, {"mse": mse})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        x_hat = self.reconstruct(x)
        errors = ((x_hat - x) ** 2).flatten(1).mean(1).tolist()
        captions = ["input"] * len(x) + [f"recon · mse {e:.3f}" for e in errors]
        return {"reconstructions": Preview.from_tensor("Inputs / reconstructions",
                                                       torch.cat([x, x_hat]), captions, columns=len(x))}
