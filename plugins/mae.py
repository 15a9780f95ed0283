"""Masked image modelling, MAE-style: hide most patches of each image and rebuild them (He et al. 2021, arXiv:2111.06377).

MAE's ViT encoder simply drops the masked tokens. A CNN backbone cannot drop pixels, so here
the masked patches are replaced in the input by a fill value (zero by default; or a learnable
per-channel mask value, or mid-grey) and the whole image goes through the backbone; the shared
ConvDecoder rebuilds the image from the features and only the masked patches are scored —
the recipe of masked CNN pre-training such as SparK/ConvNeXt V2, minus their sparse convolutions.
Zero is the default because the BatchNorm statistics of a dense CNN see the masked images in
training and whole images at evaluation: black holes look like background on digits and dark
scenes, so the two kinds of input stay close (a grey or learned fill scored below a random
encoder in a 3-epoch kNN check on mnist5k; zero beat it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.decoders import ConvDecoder

NORM_PIX_EPS = 1e-2  # floor of a patch's variance: flat (e.g. all-black MNIST) patches stay finite


def patch_grid(shape: tuple[int, ...], patch: int) -> tuple[int, int]:
    """Patches along each side; a last, partial row/column counts as a patch."""
    return -(-shape[-2] // patch), -(-shape[-1] // patch)


def random_patch_mask(x: torch.Tensor, patch: int, ratio: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean (B, 1, H, W), True on masked pixels: exactly round(ratio·N) of the N patches of
    each sample, chosen uniformly at random per sample (ranks of uniform noise, as MAE's
    argsort shuffle), expanded to pixels."""
    B, _, H, W = x.shape
    gh, gw = patch_grid(x.shape, patch)
    n = gh * gw
    k = int(round(ratio * n))
    noise = torch.rand(B, n, generator=generator, device=x.device)
    masked = noise.argsort(1).argsort(1) < k
    grid = masked.view(B, 1, gh, gw)
    return grid.repeat_interleave(patch, 2).repeat_interleave(patch, 3)[:, :, :H, :W]


def patch_variance(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Variance of the pixels of each patch (over its pixels and channels), as a (B, 1, H, W) map."""
    H, W = x.shape[-2:]
    gh, gw = patch_grid(x.shape, patch)
    pad = F.pad(x.float(), (0, gw * patch - W, 0, gh * patch - H), mode="replicate")
    mean = F.avg_pool2d(pad.mean(1, keepdim=True), patch)
    sq = F.avg_pool2d(pad.pow(2).mean(1, keepdim=True), patch)
    var = (sq - mean.pow(2)).clamp_min(0)
    return var.repeat_interleave(patch, 2).repeat_interleave(patch, 3)[:, :, :H, :W]


def mae_loss(pred: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, patch: int,
             norm_pix: bool = False) -> torch.Tensor:
    """Mean squared error over the masked patches only.

    norm_pix: MAE scores each patch against its own mean/std-normalised pixels. Our decoder
    predicts pixels (it ends in a sigmoid), so we measure the error in units of the target
    patch's standard deviation instead: ((x̂ − x)/σ)² = (norm(x̂) − norm(x))² with both
    normalised by the target's statistics; low-contrast patches weigh more, as in MAE.
    """
    err = (pred.float() - x.float()) ** 2
    if norm_pix:
        err = err / (patch_variance(x, patch) + NORM_PIX_EPS)
    m = mask.expand_as(err).float()
    return (m * err).sum() / m.sum().clamp_min(1.0)


class MAE(Method):
    name = "mae"
    title = "Masked autoencoder (MAE-style)"
    family = "reconstruction"
    modality = "image"
    summary = "Hide 75% of each image's patches and rebuild them from the visible rest."
    reference = "He et al. 2021, arXiv:2111.06377"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config:
        patch_size: int = setting(4, "Side of the square patches, in pixels (4: 7×7 patches on "
                                     "28×28 images, 8×8 on 32×32).", min=1, max=64, label="Patch size")
        mask_ratio: float = setting(0.75, "Fraction of each image's patches that is hidden.",
                                    min=0.0, max=0.99, exclusive_min=True, label="Mask ratio")
        fill: str = setting("zero", "What hidden patches show the encoder: black (zero), a "
                                    "learnable per-channel mask value, or mid-grey.",
                            choices=("zero", "learned", "grey"))
        norm_pix: bool = setting(False, "Score each patch in units of its own standard deviation "
                                        "(MAE's normalised-pixel target).", label="Normalised pixels")
        decoder_width: int = setting(64, "Channels of the decoder.", min=8, max=1024)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        _, H, W = data.input_shape
        if cfg.patch_size > min(H, W):
            raise ValueError(f"mae: patch_size={cfg.patch_size} is larger than the {H}×{W} images; "
                             f"use at most {min(H, W)}")
        self.decoder = ConvDecoder(feat_dim, data.input_shape, cfg.decoder_width)
        self.mask_value = nn.Parameter(torch.full((1, data.channels, 1, 1), 0.0 if cfg.fill == "zero" else 0.5),
                                       requires_grad=cfg.fill == "learned")

    def masked_input(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.where(mask, self.mask_value.to(x.dtype).expand_as(x), x)

    def training_step(self, batch: Batch) -> StepOutput:
        x = batch.x
        mask = random_patch_mask(x, self.cfg.patch_size, self.cfg.mask_ratio)
        pred = self.decoder(self.backbone(self.masked_input(x, mask)))
        loss = mae_loss(pred, x, mask, self.cfg.patch_size, self.cfg.norm_pix)
        logs = {}
        if self.cfg.norm_pix:
            with torch.no_grad():
                logs["masked_mse"] = mae_loss(pred, x, mask, self.cfg.patch_size, False)
        return StepOutput(loss, logs)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        g = torch.Generator(device=x.device).manual_seed(0)  # the same patches every time
        mask = random_patch_mask(x, self.cfg.patch_size, self.cfg.mask_ratio, generator=g)
        masked = self.masked_input(x, mask)
        pred = self.decoder(self.backbone(masked))
        pasted = torch.where(mask, pred, x)  # visible patches are the input's own, as in MAE's figures
        m = mask.expand_as(x).float()
        errors = ((m * (pred - x) ** 2).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)).tolist()
        captions = ([f"masked {self.cfg.mask_ratio:.0%}"] * len(x)
                    + [f"recon · masked mse {e:.3f}" for e in errors] + ["original"] * len(x))
        return {"masked_reconstruction": Preview.from_tensor(
            "Masked / reconstruction (visible patches pasted back) / original",
            torch.cat([masked, pasted, x]), captions, columns=len(x))}
