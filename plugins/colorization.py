"""Colorization: predict the colour (ab of CIE Lab) of a grey image as a distribution over colour bins (Zhang et al. 2016, arXiv:1603.08511)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.colour import (ab_bins, annealed_mean, colour_class_loss, lab_to_rgb, pixels, require_colour,
                                 rgb_to_lab, soft_encode)
from workbench.nn.decoders import PixelPredictor
from workbench.nn.pooling import pooled_features
from workbench.views import training_crops


def lightness_input(rgb: torch.Tensor) -> torch.Tensor:
    """What the colorization encoder sees: L / 100 in [0, 1], repeated to 3 channels.

    The host built the backbone for the dataset's 3 channels; feeding L three times keeps that
    backbone (and any other method's weights) usable unchanged, and embed() can take the
    ordinary RGB batch.
    """
    L = rgb_to_lab(rgb)[:, :1] / 100
    return L.expand(-1, 3, -1, -1)


def rebalancing_weights(prior: torch.Tensor, mix: float = 0.5) -> torch.Tensor:
    """Per-bin weights ∝ 1 / ((1 − λ)·p + λ/Q), scaled so that E_p[w] = 1 (Zhang et al. eq. 4)."""
    q = prior.shape[0]
    w = 1.0 / ((1 - mix) * prior + mix / q)
    return w / (prior * w).sum()


class Colorization(Method):
    name = "colorization"
    input_channels = (3,)  # predicts colour, so it needs colour images
    title = "Colorization"
    family = "reconstruction"
    modality = "image"
    summary = "See only the lightness of an image and guess its colours, as a distribution over colour bins."
    reference = "Zhang et al. 2016, arXiv:1603.08511"
    run_defaults = {"batch_size": 64, "lr": 1e-3}  # more steps per epoch: 3-epoch kNN 0.80 vs 0.78 at 128

    @dataclass
    class Config:
        bin_size: float = setting(10.0, "Width of the square ab bins (Lab units); 10 gives a few "
                                        "hundred in-gamut colour classes.", min=2.0, max=50.0)
        stride: int = setting(4, "Colours are predicted at 1/stride of the image size "
                                 "(Zhang et al.: 1/4).", choices=(1, 2, 4))
        rebalance: bool = setting(False, "Class rebalancing: weight rare (saturated) colours up so "
                                         "the model does not settle for grey (the paper's choice for "
                                         "vivid colours; off learns better features on shapes).")
        rebalance_mix: float = setting(0.5, "λ of the rebalancing: mix the colour prior with a "
                                            "uniform one (1 = no rebalancing effect).", min=0.0, max=1.0)
        temperature: float = setting(0.38, "Temperature of the annealed mean used to show the "
                                           "predicted colours (→0: the mode, 1: the mean).",
                                     min=0.01, max=1.0, exclusive_min=True)
        decoder_width: int = setting(64, "Channels of the colour decoder.", min=8, max=1024)
        pooling: str = setting("max", "How the encoder's last feature map becomes the representation: "
                                      "its maximum over positions, or its average (the backbone's "
                                      "own output).", choices=("max", "avg"))
        crop_min: float = setting(0.5, "Training only: smallest random crop, as a fraction of the image "
                                       "area, resized back (1 = no crop).", min=0.1, max=1.0,
                                  label="Smallest crop")
        flip: bool = setting(True, "Training only: random left-right flips.")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        require_colour(self.name, data.channels, data.name)
        self.register_buffer("ab_centres", ab_bins(cfg.bin_size), persistent=False)
        q = self.ab_centres.shape[0]
        # running histogram of the training colours, for rebalancing (checkpointed with the model)
        self.register_buffer("ab_prior", torch.full((q,), 1.0 / q))
        self.decoder = PixelPredictor(backbone, feat_dim, q, tuple(data.input_shape[1:]), cfg.stride,
                                      cfg.decoder_width)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return pooled_features(self.backbone, lightness_input(x), self.cfg.pooling)

    def targets(self, lab: torch.Tensor) -> torch.Tensor:
        """Soft ab targets (B·h·w, Q) at the decoder's resolution (ab averaged over each cell)."""
        ab = F.adaptive_avg_pool2d(lab[:, 1:], self.decoder.out_hw)
        return soft_encode(pixels(ab), self.ab_centres)

    def training_step(self, batch: Batch) -> StepOutput:
        lab = rgb_to_lab(training_crops(batch.x, self.cfg.crop_min, self.cfg.flip))
        logits = self.decoder(self.backbone, (lab[:, :1] / 100).expand(-1, 3, -1, -1))
        targets = self.targets(lab)
        weights = None
        if self.cfg.rebalance:
            with torch.no_grad():  # the colour prior, as a running mean over training batches
                self.ab_prior.lerp_(targets.mean(0), 0.01)
            weights = rebalancing_weights(self.ab_prior, self.cfg.rebalance_mix)
        flat = pixels(logits)
        loss = colour_class_loss(flat, targets, weights)
        with torch.no_grad():
            acc = (flat.argmax(1) == targets.argmax(1)).float().mean()
        return StepOutput(loss, {"bin_acc": acc})

    def colourise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(grey input shown as RGB, predicted colours with the true L) for RGB images x."""
        lab = rgb_to_lab(x)
        logits = self.decoder(self.backbone, (lab[:, :1] / 100).expand(-1, 3, -1, -1))
        ab = annealed_mean(logits, self.ab_centres, self.cfg.temperature)
        ab = F.interpolate(ab, size=x.shape[-2:], mode="bilinear", align_corners=False)
        grey = lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(ab)], 1))
        return grey, lab_to_rgb(torch.cat([lab[:, :1], ab], 1))

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        grey, coloured = self.colourise(x)
        lab, lab_hat = rgb_to_lab(x), rgb_to_lab(coloured)
        err = (lab[:, 1:] - lab_hat[:, 1:]).pow(2).sum(1).sqrt().flatten(1).mean(1).tolist()
        captions = (["grey input (L)"] * len(x) + [f"predicted · Δab {e:.1f}" for e in err]
                    + ["original"] * len(x))
        return {"colorization": Preview.from_tensor("Grey input / predicted colours / original",
                                                    torch.cat([grey, coloured, x]), captions,
                                                    columns=len(x))}
