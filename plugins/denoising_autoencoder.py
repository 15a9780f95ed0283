"""Denoising autoencoder: corrupt each image and learn to rebuild the clean one (Vincent et al. 2010, JMLR 11:3371)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.decoders import ConvDecoder
from workbench.nn.losses import reconstruction_loss

NOISES = ("gaussian", "masking", "salt_pepper")


def pixel_fraction_mask(x: torch.Tensor, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean (B, 1, H, W): exactly round(fraction·H·W) pixel positions per sample, at random.

    Vincent et al. corrupt "a fixed proportion ν of the input components chosen at random", so
    the count is exact rather than Bernoulli. A pixel position covers all its channels, so a
    corrupted colour pixel is black (or white), not tinted. Ranks of uniform noise give every
    sample its own random subset with no per-sample loop.
    """
    B, _, H, W = x.shape
    k = int(round(fraction * H * W))
    noise = torch.rand(B, H * W, generator=generator, device=x.device)
    ranks = noise.argsort(dim=1).argsort(dim=1)
    return (ranks < k).view(B, 1, H, W)


def corrupt(x: torch.Tensor, noise: str, sigma: float, fraction: float,
            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The corrupted images and a boolean (B, 1, H, W) map of the corrupted pixels.

    gaussian: x + σ·ε on every pixel (not clipped: the paper's isotropic noise; the backbone
    takes any real values), so every pixel counts as corrupted.
    masking: a fraction ν of pixels set to 0.
    salt_pepper: a fraction ν of pixels set to 0 or 1, each with probability ½.
    """
    if noise == "gaussian":
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + sigma * eps, torch.ones_like(x[:, :1], dtype=torch.bool)
    if noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; choose one of {', '.join(NOISES)}")
    mask = pixel_fraction_mask(x, fraction, generator)
    if noise == "masking":
        return x.masked_fill(mask, 0.0), mask
    salt = torch.rand(mask.shape, generator=generator, device=x.device) < 0.5
    value = salt.to(x.dtype).expand_as(x)
    return torch.where(mask, value, x), mask


def denoising_loss(x_hat: torch.Tensor, x: torch.Tensor, corrupted: torch.Tensor, alpha: float,
                   beta: float, kind: str = "bce") -> torch.Tensor:
    """Emphasised denoising loss: per-pixel loss weighted α on corrupted pixels, β on the rest.

    Averaged over all pixels, so α = β = 1 is the plain reconstruction_loss and α = 1, β = 0
    scores only the pixels the model could not see.
    """
    if alpha == beta:  # no emphasis: exactly the autoencoder's loss, scaled
        return alpha * reconstruction_loss(x_hat, x, kind)
    x_hat, x = x_hat.float(), x.float()
    if kind == "bce":
        per_pixel = F.binary_cross_entropy(x_hat.clamp(1e-6, 1 - 1e-6), x, reduction="none")
    else:
        per_pixel = (x_hat - x) ** 2
    weight = torch.where(corrupted, alpha, beta).to(per_pixel.dtype)  # broadcasts over channels
    return (weight * per_pixel).mean()


class DenoisingAutoencoder(Method):
    name = "denoising_autoencoder"
    title = "Denoising autoencoder"
    family = "reconstruction"
    modality = "image"
    summary = "Corrupt each image (noise, masking, salt and pepper) and rebuild the clean one."
    reference = "Vincent et al. 2010, JMLR 11:3371"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config:
        noise: str = setting("masking", "Corruption: additive Gaussian noise (σ), masking noise "
                                        "(fraction ν of pixels set to 0) or salt and pepper "
                                        "(fraction ν set to 0 or 1).", choices=NOISES)
        sigma: float = setting(0.5, "Standard deviation of the Gaussian noise (pixels in [0, 1]).",
                               min=0.0, max=5.0, label="Gaussian σ")
        fraction: float = setting(0.5, "Fraction ν of pixels corrupted by masking or salt and pepper.",
                                  min=0.0, max=1.0, label="Corrupted fraction ν")
        alpha: float = setting(1.0, "Loss weight α on corrupted pixels.", min=0.0, max=100.0)
        beta: float = setting(0.5, "Loss weight β on untouched pixels (Gaussian noise touches "
                                   "every pixel, so only α applies).", min=0.0, max=100.0)
        loss: str = setting("bce", "Reconstruction loss: bce suits [0, 1] images, mse is plain L2.",
                            choices=("bce", "mse"))
        decoder_width: int = setting(64, "Channels of the decoder.", min=8, max=1024)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if cfg.alpha == 0 and (cfg.beta == 0 or cfg.noise == "gaussian"):
            raise ValueError("denoising_autoencoder: alpha and beta are both zero, so nothing "
                             "would be learnt; give alpha or beta a positive weight")
        self.decoder = ConvDecoder(feat_dim, data.input_shape, cfg.decoder_width)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None):
        return corrupt(x, self.cfg.noise, self.cfg.sigma, self.cfg.fraction, generator)

    def training_step(self, batch: Batch) -> StepOutput:
        x = batch.x
        x_tilde, corrupted = self.corrupt(x)
        x_hat = self.decoder(self.backbone(x_tilde))
        loss = denoising_loss(x_hat, x, corrupted, self.cfg.alpha, self.cfg.beta, self.cfg.loss)
        with torch.no_grad():
            mse = F.mse_loss(x_hat.float(), x.float())
        return StepOutput(loss, {"mse": mse})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        x_tilde, _ = self.corrupt(x)
        x_hat = self.decoder(self.backbone(x_tilde))
        noisy = ((x_tilde - x) ** 2).flatten(1).mean(1).tolist()
        errors = ((x_hat - x) ** 2).flatten(1).mean(1).tolist()
        captions = (["clean"] * len(x) + [f"{self.cfg.noise} · mse {e:.3f}" for e in noisy]
                    + [f"recon · mse {e:.3f}" for e in errors])
        return {"denoising": Preview.from_tensor("Clean / corrupted / reconstruction",
                                                 torch.cat([x, x_tilde, x_hat]), captions,
                                                 columns=len(x))}
