"""Decoders from a backbone's features back to pixels: images (ConvDecoder) and per-pixel
class logits (LogitDecoder from a vector, ConvHead from a feature map, PixelPredictor picking one)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from workbench.backbones import feature_trunk


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


class LogitDecoder(nn.Module):
    """Features (B, D) -> per-pixel class logits (B, K, h, w) at 1/stride of the image size.

    A dense map to a width×(H/4)×(W/4) grid, then one ×2 transposed convolution per halving of
    the stride, a 3×3 conv and a 1×1 classifier.
    """

    def __init__(self, feat_dim: int, out_channels: int, image_hw: tuple[int, int], stride: int = 4,
                 width: int = 64):
        super().__init__()
        if stride not in (1, 2, 4):
            raise ValueError(f"stride must be 1, 2 or 4, got {stride}")
        H, W = image_hw
        self.out_hw = (-(-H // stride), -(-W // stride))
        self.h0, self.w0 = -(-H // 4), -(-W // 4)
        self.width = width
        self.fc = nn.Sequential(nn.Linear(feat_dim, width * self.h0 * self.w0), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        for _ in range({4: 0, 2: 1, 1: 2}[stride]):
            layers += [nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                   nn.Conv2d(width, out_channels, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = self.body(self.fc(h).view(-1, self.width, self.h0, self.w0))
        if y.shape[-2:] != self.out_hw:
            y = F.interpolate(y, size=self.out_hw, mode="bilinear", align_corners=False)
        return y


class ConvHead(nn.Module):
    """Feature map (B, C, h, w) -> per-pixel class logits (B, K, H/stride, W/stride).

    Zhang et al.'s networks are fully convolutional: the colour of a pixel is read from the
    features at that place. A 3×3 conv and a 1×1 classifier on the backbone's last feature map
    (1/4 of the image side for small_cnn), upsampled bilinearly when a finer output is asked for.
    """

    def __init__(self, in_channels: int, out_channels: int, image_hw: tuple[int, int], stride: int = 4,
                 width: int = 64):
        super().__init__()
        H, W = image_hw
        self.out_hw = (-(-H // stride), -(-W // stride))
        self.body = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.Conv2d(width, out_channels, 1))

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        y = self.body(fmap)
        if y.shape[-2:] != self.out_hw:
            y = F.interpolate(y, size=self.out_hw, mode="bilinear", align_corners=False)
        return y


class PixelPredictor(nn.Module):
    """An encoder's per-pixel class logits: a ConvHead on its last feature map when it has one
    (fully convolutional, as in the papers), else a LogitDecoder from its feature vector (mlp)."""

    def __init__(self, encoder: nn.Module, feat_dim: int, out_channels: int, image_hw: tuple[int, int],
                 stride: int, width: int):
        super().__init__()
        self.conv = feature_trunk(encoder) is not None
        head = ConvHead if self.conv else LogitDecoder
        self.head = head(feat_dim, out_channels, image_hw, stride, width)
        self.out_hw = self.head.out_hw

    def forward(self, encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits for inputs x, running `encoder` (not stored here: it belongs to the method)."""
        trunk = feature_trunk(encoder) if self.conv else None
        return self.head(trunk(x) if trunk is not None else encoder(x))
