"""Colorization: predict the colour (ab of CIE Lab) of a grey image as a distribution over colour bins (Zhang et al. 2016, arXiv:1603.08511)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.augment import random_flip, random_resized_crop
from workbench.config import setting

# --- sRGB <-> CIE Lab (D65 white), vectorised over (B, 3, H, W) ------------------------------

_RGB_TO_XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                            [0.2126729, 0.7151522, 0.0721750],
                            [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE = _RGB_TO_XYZ.sum(1)  # XYZ of RGB (1, 1, 1): the D65 white (0.9505, 1, 1.0888)
_DELTA = 6 / 29
AB_RANGE = 110.0  # |a|, |b| of every sRGB colour stays below ~108


def _mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply a 3×3 matrix to the channel axis of (B, 3, H, W)."""
    return torch.einsum("ij,bjhw->bihw", m.to(device=x.device, dtype=x.dtype), x)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], (B, 3, H, W) -> Lab: L in [0, 100], a and b roughly in [-110, 110]."""
    rgb = rgb.float()
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp_min(0) + 0.055) / 1.055) ** 2.4)
    xyz = _mix(_RGB_TO_XYZ, linear) / _WHITE.to(rgb.device, rgb.dtype).view(1, 3, 1, 1)
    f = torch.where(xyz > _DELTA ** 3, xyz.clamp_min(_DELTA ** 3) ** (1 / 3),
                    xyz / (3 * _DELTA ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Inverse of rgb_to_lab; colours outside the sRGB gamut are clamped into [0, 1] unless
    clamp=False."""
    lab = lab.float()
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=1)
    xyz = torch.where(f > _DELTA, f ** 3, 3 * _DELTA ** 2 * (f - 4 / 29))
    linear = _mix(_XYZ_TO_RGB, xyz * _WHITE.to(lab.device, lab.dtype).view(1, 3, 1, 1))
    rgb = torch.where(linear <= 0.0031308, 12.92 * linear,
                      1.055 * linear.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)
    return rgb.clamp(0, 1) if clamp else rgb


def lightness_input(rgb: torch.Tensor) -> torch.Tensor:
    """What the colorization encoder sees: L / 100 in [0, 1], repeated to 3 channels.

    The host built the backbone for the dataset's 3 channels; feeding L three times keeps that
    backbone (and any other method's weights) usable unchanged, and embed() can take the
    ordinary RGB batch.
    """
    L = rgb_to_lab(rgb)[:, :1] / 100
    return L.expand(-1, 3, -1, -1)


# --- quantised ab: the output classes ---------------------------------------------------------


def ab_bins(step: float = 10.0, levels: int = 33) -> torch.Tensor:
    """(Q, 2) centres of the step×step ab cells that some sRGB colour falls into.

    The cells are centred on multiples of `step` (Zhang et al. use 10, giving 313 in-gamut
    bins for ImageNet's colours); we mark the cells hit by a `levels`³ grid of the RGB cube,
    which is deterministic and takes a few milliseconds.
    """
    v = torch.linspace(0, 1, levels, dtype=torch.float64)
    cube = torch.stack(torch.meshgrid(v, v, v, indexing="ij")).reshape(1, 3, -1, 1)
    ab = rgb_to_lab(cube.float())[0, 1:, :, 0].T  # (levels³, 2)
    n = int(math.ceil(AB_RANGE / step))
    idx = torch.round(ab / step).long().clamp(-n, n) + n
    hit = torch.zeros(2 * n + 1, 2 * n + 1, dtype=torch.bool)
    hit[idx[:, 0], idx[:, 1]] = True
    cells = hit.nonzero().float()
    return (cells - n) * step


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, neighbours: int = 5, sigma: float = 5.0) -> torch.Tensor:
    """Soft targets (N, Q): each ab value (N, 2) spread over its nearest bins with a Gaussian
    kernel (Zhang et al.: 5 neighbours, σ = 5), so nearby colours are nearly right."""
    d2 = torch.cdist(ab.float(), centres.float()).pow(2)  # (N, Q)
    k = min(neighbours, centres.shape[0])
    near_d2, near_idx = d2.topk(k, dim=1, largest=False)
    w = torch.softmax(-near_d2 / (2 * sigma ** 2), dim=1)
    return torch.zeros_like(d2).scatter_(1, near_idx, w)


def rebalancing_weights(prior: torch.Tensor, mix: float = 0.5) -> torch.Tensor:
    """Per-bin weights ∝ 1 / ((1 − λ)·p + λ/Q), scaled so that E_p[w] = 1 (Zhang et al. eq. 4)."""
    q = prior.shape[0]
    w = 1.0 / ((1 - mix) * prior + mix / q)
    return w / (prior * w).sum()


def colour_class_loss(logits: torch.Tensor, targets: torch.Tensor,
                      weights: torch.Tensor | None = None) -> torch.Tensor:
    """Multinomial cross entropy between logits (N, Q) and soft targets (N, Q), optionally
    weighted per pixel by the weight of its most likely true bin (class rebalancing)."""
    ce = -(targets * F.log_softmax(logits.float(), dim=1)).sum(1)
    if weights is not None:
        ce = ce * weights[targets.argmax(1)]
    return ce.mean()


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float = 0.38) -> torch.Tensor:
    """Decode (B, Q, h, w) bin logits into ab (B, 2, h, w): the mean of the distribution
    sharpened to temperature T (Zhang et al.: T = 0.38, between the mean (1) and the mode (→0))."""
    p = torch.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", p, centres.to(p.device))


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


def backbone_trunk(backbone: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The backbone up to its global average pooling, i.e. its last feature map, or None.

    small_cnn is a Sequential ending in AdaptiveAvgPool2d + Flatten; resnet18 is
    Sequential(Normalize, ResNet) whose fc is the identity. Averaging the returned map over
    space gives exactly backbone(x). Computed on the fly rather than stored, so no module is
    registered twice in the state dict.
    """
    if (isinstance(backbone, nn.Sequential) and len(backbone) >= 3
            and isinstance(backbone[-2], nn.AdaptiveAvgPool2d) and isinstance(backbone[-1], nn.Flatten)):
        return backbone[:-2]
    if isinstance(backbone, nn.Sequential) and len(backbone) == 2 and type(backbone[1]).__name__ == "ResNet":
        norm, r = backbone[0], backbone[1]

        def trunk(x: torch.Tensor) -> torch.Tensor:
            x = r.maxpool(r.relu(r.bn1(r.conv1(norm(x)))))
            return r.layer4(r.layer3(r.layer2(r.layer1(x))))
        return trunk
    return None


def pooled_features(encoder: nn.Module, x: torch.Tensor, pooling: str = "max") -> torch.Tensor:
    """The representation of x: the encoder's last feature map maximised over positions ("max"),
    or the backbone's own output ("avg", its global average). An encoder without a feature map
    (mlp) always gives its own output."""
    trunk = backbone_trunk(encoder) if pooling == "max" else None
    return trunk(x).amax(dim=(2, 3)) if trunk is not None else encoder(x)


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
        self.conv = backbone_trunk(encoder) is not None
        head = ConvHead if self.conv else LogitDecoder
        self.head = head(feat_dim, out_channels, image_hw, stride, width)
        self.out_hw = self.head.out_hw

    def forward(self, encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits for inputs x, running `encoder` (not stored here: it belongs to the method)."""
        trunk = backbone_trunk(encoder) if self.conv else None
        return self.head(trunk(x) if trunk is not None else encoder(x))


def require_colour(name: str, channels: int, dataset: str) -> None:
    if channels != 3:
        raise ValueError(f"{name} needs colour images, but dataset {dataset!r} has {channels} "
                         f"channel{'s' if channels != 1 else ''}; pick shapes, CIFAR-10 or an image folder")


def training_crops(x: torch.Tensor, crop_min: float, flip: bool) -> torch.Tensor:
    """A random crop of at least crop_min of the area, resized back, and a random left-right flip
    per image: the training augmentation of colour-prediction nets. Without it a 3-epoch run on
    shapes fits its exact training images and its kNN falls below the random-init floor."""
    if crop_min < 1:
        x = random_resized_crop(x, scale=(crop_min, 1.0))
    return random_flip(x) if flip else x


def pixels(t: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B·h·w, C)."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


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
