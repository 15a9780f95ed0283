"""Split-brain autoencoder: two sub-networks predict L from ab and ab from L; their features concatenated are the representation (Zhang et al. 2017, arXiv:1611.09842)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.backbones import build_backbone
from workbench.config import setting
from workbench.nn.colour import (AB_RANGE, ab_bins, annealed_mean, colour_class_loss, lab_to_rgb, pixels,
                                 require_colour, rgb_to_lab, soft_encode)
from workbench.nn.decoders import PixelPredictor
from workbench.nn.pooling import pooled_features
from workbench.views import training_crops


def twin_backbone(backbone: nn.Module, feat_dim: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """A fresh encoder of the host backbone's kind and feature size, for inputs `input_shape`.

    The host hands a built module, not its name, so the kind is read off the module: a
    torchvision ResNet inside -> resnet18; only Linear layers -> mlp with the same hidden and
    output sizes; otherwise small_cnn with the width of its first convolution. If that guess
    does not give feat_dim features, fall back to a small_cnn of width feat_dim / 4 (its
    feature size is 4 × width), so the two halves of the representation always match.
    """
    modules = list(backbone.modules())
    convs = [m for m in modules if isinstance(m, nn.Conv2d)]
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    if any(type(m).__name__ == "ResNet" for m in modules):
        net, dim = build_backbone("resnet18", input_shape)
    elif linears and not convs:
        net, dim = build_backbone("mlp", input_shape, hidden=linears[0].out_features, out_dim=feat_dim)
    elif convs:
        net, dim = build_backbone("small_cnn", input_shape, width=convs[0].out_channels)
    else:
        net, dim = None, -1
    if dim != feat_dim:
        net, dim = build_backbone("small_cnn", input_shape, width=max(1, feat_dim // 4))
    if dim != feat_dim:
        raise ValueError(f"split_brain cannot build a second encoder with {feat_dim} features; "
                         f"use backbone small_cnn, resnet18 or mlp")
    return net


def lightness_classes(L: torch.Tensor, bins: int) -> torch.Tensor:
    """L in [0, 100] -> class index in 0..bins-1 (equal-width bins)."""
    return (L / 100 * bins).floor().long().clamp(0, bins - 1)


def lightness_centres(bins: int) -> torch.Tensor:
    return (torch.arange(bins, dtype=torch.float32) + 0.5) * (100 / bins)


def split_brain_losses(ab_logits: torch.Tensor, ab_targets: torch.Tensor, l_logits: torch.Tensor,
                       l_targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(L→ab loss, ab→L loss): cross entropy of each sub-network over its quantised target.

    ab_logits (N, Q) against soft ab targets (N, Q); l_logits (N, K) against L classes (N,).
    """
    return colour_class_loss(ab_logits, ab_targets), F.cross_entropy(l_logits.float(), l_targets)


class SplitBrain(Method):
    name = "split_brain"
    input_channels = (3,)  # predicts colour, so it needs colour images
    title = "Split-brain autoencoder"
    family = "reconstruction"
    modality = "image"
    summary = "Two half-networks predict colour from lightness and lightness from colour; both together are the code."
    reference = "Zhang et al. 2017, arXiv:1611.09842"
    run_defaults = {"batch_size": 128, "lr": 1e-3}

    @dataclass
    class Config:
        bin_size: float = setting(10.0, "Width of the square ab bins (Lab units) the L→ab half "
                                        "classifies into.", min=2.0, max=50.0)
        l_bins: int = setting(50, "Number of lightness classes the ab→L half predicts "
                                  "(Zhang et al.: 50).", min=2, max=200, label="L bins")
        stride: int = setting(4, "Predictions are made at 1/stride of the image size.",
                              choices=(1, 2, 4))
        temperature: float = setting(0.38, "Temperature of the annealed mean used to show the "
                                           "predicted colours.", min=0.01, max=1.0, exclusive_min=True)
        decoder_width: int = setting(64, "Channels of each decoder.", min=8, max=1024)
        pooling: str = setting("max", "How each encoder's last feature map becomes its half of the "
                                      "representation: its maximum over positions, or its average.",
                               choices=("max", "avg"))
        ab_noise: float = setting(8.0, "Training only: Gaussian noise of a random strength, up to this "
                                       "many ab units, added to the ab half's input, so the strength of "
                                       "an image's own colour noise (larger in lighter pixels) cannot "
                                       "tell that half the lightness (0 = off).", min=0.0, max=50.0)
        crop_min: float = setting(0.5, "Training only: smallest random crop, as a fraction of the image "
                                       "area, resized back (1 = no crop).", min=0.1, max=1.0,
                                  label="Smallest crop")
        flip: bool = setting(True, "Training only: random left-right flips.")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        require_colour(self.name, data.channels, data.name)
        _, H, W = data.input_shape
        # sub-network 1 is the host's backbone (fed L repeated to its 3 channels);
        # sub-network 2 sees the two ab channels and gets its own encoder of the same kind
        self.ab_encoder = twin_backbone(backbone, feat_dim, (2, H, W))
        self.register_buffer("ab_centres", ab_bins(cfg.bin_size), persistent=False)
        self.register_buffer("l_centres", lightness_centres(cfg.l_bins), persistent=False)
        # fully convolutional, as in the paper: each half reads the other channels of a pixel
        # from its encoder's last feature map at that place
        self.l_to_ab = PixelPredictor(backbone, feat_dim, self.ab_centres.shape[0], (H, W), cfg.stride,
                                      cfg.decoder_width)
        self.ab_to_l = PixelPredictor(self.ab_encoder, feat_dim, cfg.l_bins, (H, W), cfg.stride,
                                      cfg.decoder_width)
        self.feat_dim = 2 * feat_dim  # the representation concatenates both encoders

    @staticmethod
    def inputs(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(L / 100 repeated to 3 channels, ab scaled to [0, 1]): what each half sees."""
        return ((lab[:, :1] / 100).expand(-1, 3, -1, -1),
                ((lab[:, 1:] + AB_RANGE) / (2 * AB_RANGE)).clamp(0, 1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        l_in, ab_in = self.inputs(rgb_to_lab(x))
        pool = self.cfg.pooling
        return torch.cat([pooled_features(self.backbone, l_in, pool),
                          pooled_features(self.ab_encoder, ab_in, pool)], dim=1)

    def predict(self, lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ab logits from L, L logits from ab), each (B, classes, h, w)."""
        l_in, ab_in = self.inputs(lab)
        if self.training and self.cfg.ab_noise > 0:
            sigma = torch.rand(len(ab_in), 1, 1, 1, device=ab_in.device) * self.cfg.ab_noise / (2 * AB_RANGE)
            ab_in = ab_in + torch.randn_like(ab_in) * sigma
        return self.l_to_ab(self.backbone, l_in), self.ab_to_l(self.ab_encoder, ab_in)

    def training_step(self, batch: Batch) -> StepOutput:
        lab = rgb_to_lab(training_crops(batch.x, self.cfg.crop_min, self.cfg.flip))
        ab_maps, l_maps = self.predict(lab)
        small = F.adaptive_avg_pool2d(lab, self.l_to_ab.out_hw)
        ab_logits, l_logits = pixels(ab_maps), pixels(l_maps)
        ab_targets = soft_encode(pixels(small[:, 1:]), self.ab_centres)
        l_targets = lightness_classes(pixels(small[:, :1]).squeeze(1), self.cfg.l_bins)
        loss_ab, loss_l = split_brain_losses(ab_logits, ab_targets, l_logits, l_targets)
        with torch.no_grad():
            ab_acc = (ab_logits.argmax(1) == ab_targets.argmax(1)).float().mean()
            l_acc = (l_logits.argmax(1) == l_targets).float().mean()
        return StepOutput(loss_ab + loss_l, {"l_to_ab_loss": loss_ab.detach(), "ab_to_l_loss": loss_l.detach(),
                                             "ab_bin_acc": ab_acc, "l_bin_acc": l_acc})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        lab = rgb_to_lab(x)
        ab_maps, l_maps = self.predict(lab)
        size = x.shape[-2:]
        ab_hat = F.interpolate(annealed_mean(ab_maps, self.ab_centres, self.cfg.temperature),
                               size=size, mode="bilinear", align_corners=False)
        p_l = torch.softmax(l_maps.float(), dim=1)
        l_hat = F.interpolate(torch.einsum("bkhw,k->bhw", p_l, self.l_centres).unsqueeze(1),
                              size=size, mode="bilinear", align_corners=False)
        L, ab = lab[:, :1], lab[:, 1:]
        grey = lab_to_rgb(torch.cat([L, torch.zeros_like(ab)], 1))
        coloured = lab_to_rgb(torch.cat([L, ab_hat], 1))
        ab_only = lab_to_rgb(torch.cat([torch.full_like(L, 60.0), ab], 1))  # colour at a fixed lightness
        l_pred = lab_to_rgb(torch.cat([l_hat, torch.zeros_like(ab)], 1))
        ab_err = (ab_hat - ab).pow(2).sum(1).sqrt().flatten(1).mean(1).tolist()
        l_err = (l_hat - L).abs().flatten(1).mean(1).tolist()
        n = len(x)
        captions = (["L input"] * n + [f"L + predicted ab · Δab {e:.1f}" for e in ab_err]
                    + ["ab input (at L 60)"] * n + [f"predicted L · ΔL {e:.1f}" for e in l_err]
                    + ["original"] * n)
        rows = torch.cat([grey, coloured, ab_only, l_pred, x])
        return {"split_brain": Preview.from_tensor(
            "L / predicted ab with true L / ab input / predicted L / original", rows, captions, columns=n)}
