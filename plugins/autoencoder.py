"""Autoencoder: compress each image to the representation and reconstruct it (Hinton & Salakhutdinov 2006, Science 313:504)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.decoders import ConvDecoder
from workbench.nn.losses import reconstruction_loss


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
