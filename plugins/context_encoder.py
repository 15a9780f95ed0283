"""Context encoder: hide part of each image and paint it back from its context (Pathak et al. 2016, arXiv:1604.07379)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.decoders import ConvDecoder

MASKS = ("central", "blocks", "irregular")
FILL = 0.5  # the hole's value: mid-grey, which the backbone's Normalize maps to 0 (Pathak: the mean pixel)
N_BLOCKS = 4


def _exact_fraction(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Boolean mask of the round(fraction·N) lowest scores in each row of (B, N)."""
    k = int(round(fraction * scores.shape[1]))
    return scores.argsort(dim=1).argsort(dim=1) < k


def make_masks(x: torch.Tensor, kind: str, area: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean (B, 1, H, W), True where the image is hidden; per-sample random, no Python loop.

    central: the centred square covering `area` of the image (Pathak's central region: side H/2
    for area ¼). blocks: N_BLOCKS squares, each ¼ of `area`, anywhere (they may overlap, so the
    hidden part is at most `area`). irregular: exactly `area` of the pixels, chosen where smooth
    random noise (a coarse random grid upsampled bilinearly) is lowest, giving blobby regions.
    """
    B, _, H, W = x.shape
    dev = x.device
    yy = torch.arange(H, device=dev).view(1, 1, H, 1)
    xx = torch.arange(W, device=dev).view(1, 1, 1, W)
    if kind == "central":
        sh, sw = max(1, round(H * math.sqrt(area))), max(1, round(W * math.sqrt(area)))
        y0, x0 = (H - sh) // 2, (W - sw) // 2
        m = (yy >= y0) & (yy < y0 + sh) & (xx >= x0) & (xx < x0 + sw)
        return m.expand(B, 1, H, W).clone()
    if kind == "blocks":
        sh = max(1, round(H * math.sqrt(area / N_BLOCKS)))
        sw = max(1, round(W * math.sqrt(area / N_BLOCKS)))
        u = torch.rand(2, B, N_BLOCKS, 1, 1, generator=generator, device=dev)
        y0 = (u[0] * (H - sh + 1)).floor()
        x0 = (u[1] * (W - sw + 1)).floor()
        m = (yy >= y0) & (yy < y0 + sh) & (xx >= x0) & (xx < x0 + sw)  # (B, K, H, W)
        return m.any(dim=1, keepdim=True)
    if kind == "irregular":
        coarse = torch.rand(B, 1, max(2, H // 6), max(2, W // 6), generator=generator, device=dev)
        smooth = F.interpolate(coarse, size=(H, W), mode="bicubic", align_corners=False)
        return _exact_fraction(smooth.flatten(1), area).view(B, 1, H, W)
    raise ValueError(f"unknown mask {kind!r}; choose one of {', '.join(MASKS)}")


def masked_l2(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden pixels only (every channel of a hidden pixel)."""
    m = mask.expand_as(x).float()
    return (m * (x_hat.float() - x.float()) ** 2).sum() / m.sum().clamp_min(1.0)


def discriminator_losses(disc: nn.Module, real: torch.Tensor, fake: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(generator's adversarial loss, discriminator's loss), made for one shared backward.

    The host owns one optimiser over all parameters and calls backward once on the sum, so each
    term must send gradients only to its own player:
    - the discriminator's loss sees `fake.detach()`: it trains the discriminator and cannot
      reach the generator;
    - the generator's loss −log D(fake) (non-saturating GAN loss) runs the discriminator with
      its parameters detached (torch.func.functional_call): gradients flow through D into the
      generator, but D's parameters get nothing from the generator's objective.
    A gradient-reversal layer would also give one-backward training, but only for the
    saturating minimax loss, which starves the generator early on.
    """
    frozen = {k: p.detach() for k, p in disc.named_parameters()}
    fake_for_g = functional_call(disc, frozen, (fake,))
    adv = F.binary_cross_entropy_with_logits(fake_for_g.float(), torch.ones_like(fake_for_g.float()))
    real_logits = disc(real).float()
    fake_logits = disc(fake.detach()).float()
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    return adv, d_loss


class Discriminator(nn.Module):
    """Small conv net, image -> one logit per image. No BatchNorm: real and fake batches are
    scored separately and must not leak statistics into each other."""

    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - 0.5) / 0.25).squeeze(1)


class ContextEncoder(Method):
    name = "context_encoder"
    title = "Context encoder (inpainting)"
    family = "reconstruction"
    modality = "image"
    summary = "Hide a region of each image and paint it back from the surrounding context."
    reference = "Pathak et al. 2016, arXiv:1604.07379"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config:
        mask: str = setting("blocks", "What to hide: the central square, random square blocks, "
                                      "or random irregular regions.", choices=MASKS)
        area: float = setting(0.25, "Fraction of the image hidden (blocks may overlap and hide less).",
                              min=0.01, max=0.9, label="Hidden area")
        rec_weight: float = setting(1.0, "Weight λ_rec of the L2 loss on the hidden region.",
                                    min=0.0, max=1000.0, label="λ_rec")
        adv_weight: float = setting(0.0, "Weight λ_adv of the adversarial loss (0 = off; the "
                                         "paper uses 0.001 with λ_rec 0.999).", min=0.0, max=1000.0,
                                    label="λ_adv")
        decoder_width: int = setting(64, "Channels of the decoder.", min=8, max=1024)
        disc_width: int = setting(32, "Channels of the discriminator (used when λ_adv > 0).",
                                  min=4, max=512)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if cfg.rec_weight == 0 and cfg.adv_weight == 0:
            raise ValueError("context_encoder: rec_weight and adv_weight are both 0, so nothing "
                             "would be learnt; give one of them a positive weight")
        self.decoder = ConvDecoder(feat_dim, data.input_shape, cfg.decoder_width)
        # only built when used, so a plain L2 context encoder has no idle parameters
        self.discriminator = Discriminator(data.channels, cfg.disc_width) if cfg.adv_weight > 0 else None
        # With the adversarial loss on, a second decoder learns the L2 fill alone from the same
        # (detached) features, so the preview can set the two fills side by side (Pathak's Fig. 5).
        self.l2_decoder = ConvDecoder(feat_dim, data.input_shape, cfg.decoder_width) if cfg.adv_weight > 0 else None

    def inpaint(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(masked input, raw prediction, composite: context kept, hole filled by the prediction)."""
        masked = x.masked_fill(mask, FILL)
        pred = self.decoder(self.backbone(masked))
        return masked, pred, torch.where(mask, pred, x)

    def training_step(self, batch: Batch) -> StepOutput:
        x = batch.x
        mask = make_masks(x, self.cfg.mask, self.cfg.area)
        _, pred, filled = self.inpaint(x, mask)
        rec = masked_l2(pred, x, mask)
        loss = self.cfg.rec_weight * rec
        logs = {"hole_mse": rec.detach()}
        if self.discriminator is not None:
            adv, d_loss = discriminator_losses(self.discriminator, x, filled)
            l2_only = masked_l2(self.l2_decoder(self.backbone(x.masked_fill(mask, FILL)).detach()), x, mask)
            loss = loss + self.cfg.adv_weight * adv + d_loss + l2_only
            logs.update(adversarial=adv.detach(), discriminator=d_loss.detach(), hole_mse_l2_only=l2_only.detach())
        return StepOutput(loss, logs)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        g = torch.Generator(device=x.device).manual_seed(0)  # same holes every time: comparable
        mask = make_masks(x, self.cfg.mask, self.cfg.area, generator=g)
        masked, pred, filled = self.inpaint(x, mask)
        m = mask.expand_as(x).float()

        def hole_mse(p: torch.Tensor) -> list[float]:
            return ((m * (p - x) ** 2).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)).tolist()

        if self.l2_decoder is None:
            captions = (["masked input"] * len(x) + [f"filled · hole mse {e:.3f}" for e in hole_mse(pred)]
                        + ["original"] * len(x))
            return {"inpainting": Preview.from_tensor("Masked input / filled / original",
                                                      torch.cat([masked, filled, x]), captions,
                                                      columns=len(x))}
        l2_pred = self.l2_decoder(self.backbone(masked))
        l2_filled = torch.where(mask, l2_pred, x)
        captions = (["masked input"] * len(x) + [f"L2 only · mse {e:.3f}" for e in hole_mse(l2_pred)]
                    + [f"L2 + adversarial · mse {e:.3f}" for e in hole_mse(pred)] + ["original"] * len(x))
        return {"inpainting": Preview.from_tensor(
            "Masked input / L2-only fill / L2 + adversarial fill / original",
            torch.cat([masked, l2_filled, filled, x]), captions, columns=len(x))}
