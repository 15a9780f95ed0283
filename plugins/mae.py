"""Masked image modelling, MAE-style: hide most patches of each image and rebuild them (He et al. 2021, arXiv:2111.06377).

On a ViT backbone (vit_tiny, vit_small) this is MAE as in the paper: the encoder sees only the
visible patch tokens (plus the class token), and a light transformer decoder (TokenDecoder)
puts learned mask tokens in the hidden places and predicts every patch's pixels; the mask
follows the ViT's own patches, so `patch_size` and `fill` do not apply.

A CNN backbone cannot drop pixels, so there the masked patches are replaced in the input by a fill value (zero by default; or a learnable
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
from workbench.backbones import ViT
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


DECODER_BLOCKS = 2  # MAE's decoder is light next to its encoder (8 narrow blocks for ViT-L)


def visible_patches(batch: int, n: int, ratio: float, device: torch.device,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, n_keep) indices of the patches each sample keeps: a uniformly random n − k of the n,
    k = round(ratio·n) but at least one patch stays visible (MAE's argsort shuffle)."""
    k = min(int(round(ratio * n)), n - 1)
    noise = torch.rand(batch, n, generator=generator, device=device)
    return noise.argsort(1)[:, : n - k]


class TokenDecoder(nn.Module):
    """MAE's decoder: project the encoder's tokens, put a shared learned mask token at every
    hidden place, add positions, run a few transformer blocks, predict each patch's pixels."""

    def __init__(self, enc_dim: int, grid: int, patch: int, channels: int, width: int):
        super().__init__()
        from functools import partial

        from torchvision.models.vision_transformer import EncoderBlock

        self.grid, self.patch, self.channels = grid, patch, channels
        self.embed = nn.Linear(enc_dim, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.empty(1, 1 + grid * grid, width).normal_(std=0.02))
        heads = width // 32 if width % 32 == 0 else 1
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.Sequential(*[EncoderBlock(heads, width, 4 * width, 0.0, 0.0, norm)
                                      for _ in range(DECODER_BLOCKS)])
        self.norm = norm(width)
        self.head = nn.Linear(width, patch * patch * channels)

    def forward(self, latent: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """latent (B, 1 + n_keep, enc_dim) for the patches `keep` -> pixels (B, C, H, W) in [0, 1]."""
        t = self.embed(latent)
        B, _, w = t.shape
        n = self.grid * self.grid
        tokens = self.mask_token.to(t.dtype).expand(B, n, w).scatter(
            1, keep.unsqueeze(-1).expand(-1, -1, w), t[:, 1:])
        x = torch.cat([t[:, :1], tokens], dim=1) + self.pos
        patches = torch.sigmoid(self.head(self.norm(self.blocks(x)))[:, 1:])
        g, p, c = self.grid, self.patch, self.channels
        return patches.reshape(B, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(B, c, g * p, g * p)


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
                                     "28×28 images, 8×8 on 32×32); a ViT backbone masks its own "
                                     "patches instead.", min=1, max=64, label="Patch size")
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
        self.on_vit = isinstance(backbone, ViT)
        if self.on_vit:
            self.decoder = TokenDecoder(feat_dim, backbone.grid, backbone.patch_size, data.channels,
                                        cfg.decoder_width)
            # black shows the hidden patches in previews; nothing learns it
            self.mask_value = nn.Parameter(torch.zeros(1, data.channels, 1, 1), requires_grad=False)
            return
        if cfg.patch_size > min(H, W):
            raise ValueError(f"mae: patch_size={cfg.patch_size} is larger than the {H}×{W} images; "
                             f"use at most {min(H, W)}")
        self.decoder = ConvDecoder(feat_dim, data.input_shape, cfg.decoder_width)
        self.mask_value = nn.Parameter(torch.full((1, data.channels, 1, 1), 0.0 if cfg.fill == "zero" else 0.5),
                                       requires_grad=cfg.fill == "learned")

    def masked_input(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.where(mask, self.mask_value.to(x.dtype).expand_as(x), x)

    @property
    def mask_patch(self) -> int:
        return self.backbone.patch_size if self.on_vit else self.cfg.patch_size

    def reconstruct(self, x: torch.Tensor, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, mask): on a ViT the encoder sees only the visible tokens; on a CNN the
        hidden patches are filled in and the whole image is encoded."""
        if not self.on_vit:
            mask = random_patch_mask(x, self.cfg.patch_size, self.cfg.mask_ratio, generator)
            return self.decoder(self.backbone(self.masked_input(x, mask))), mask
        vit: ViT = self.backbone
        keep = visible_patches(len(x), vit.num_patches, self.cfg.mask_ratio, x.device, generator)
        pred = self.decoder(vit.encode_visible(x, keep), keep)
        hidden = torch.ones(len(x), vit.num_patches, dtype=torch.bool, device=x.device)
        hidden.scatter_(1, keep, False)
        p = vit.patch_size
        mask = hidden.view(len(x), 1, vit.grid, vit.grid).repeat_interleave(p, 2).repeat_interleave(p, 3)
        return pred, mask

    def training_step(self, batch: Batch) -> StepOutput:
        x = batch.x
        pred, mask = self.reconstruct(x)
        loss = mae_loss(pred, x, mask, self.mask_patch, self.cfg.norm_pix)
        logs = {}
        if self.cfg.norm_pix:
            with torch.no_grad():
                logs["masked_mse"] = mae_loss(pred, x, mask, self.mask_patch, False)
        return StepOutput(loss, logs)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        g = torch.Generator(device=x.device).manual_seed(0)  # the same patches every time
        pred, mask = self.reconstruct(x, generator=g)
        masked = self.masked_input(x, mask)
        pasted = torch.where(mask, pred, x)  # visible patches are the input's own, as in MAE's figures
        m = mask.expand_as(x).float()
        errors = ((m * (pred - x) ** 2).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)).tolist()
        captions = ([f"masked {self.cfg.mask_ratio:.0%}"] * len(x)
                    + [f"recon · masked mse {e:.3f}" for e in errors] + ["original"] * len(x))
        return {"masked_reconstruction": Preview.from_tensor(
            "Masked / reconstruction (visible patches pasted back) / original",
            torch.cat([masked, pasted, x]), captions, columns=len(x))}
