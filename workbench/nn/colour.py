"""CIE Lab colour: sRGB <-> Lab conversion, quantised ab colour classes and their loss
(the colour-prediction methods: colorization, split-brain)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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


def pixels(t: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B·h·w, C)."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def require_colour(name: str, channels: int, dataset: str) -> None:
    if channels != 3:
        raise ValueError(f"{name} needs colour images, but dataset {dataset!r} has {channels} "
                         f"channel{'s' if channels != 1 else ''}; pick shapes, CIFAR-10 or an image folder")
