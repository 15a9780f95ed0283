"""Batched, on-device image augmentation with per-sample random parameters (SimCLR views, rotations)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# ITU-R 601 luma weights (PIL's "L" mode; torchvision rounds red to 0.2989), so grey views
# look like the ones users know from PIL/torchvision pipelines.
_LUMA = (0.299, 0.587, 0.114)


@dataclass
class ViewConfig:
    """Parameters of one SimCLR-style view; defaults are SimCLR's CIFAR recipe."""

    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    rotate: float = 0.0  # largest turn of the crop either way, degrees (0 = upright crops)
    shift: float = 0.0  # largest move of the crop either way, as a fraction of the image side
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    gray_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)


# ---------------------------------------------------------------------------------------------
# random parameters: one draw per sample, all at once, from the RNG of x's device (or
# `generator`, which must live on x's device), so the trainer's saved RNG state reproduces
# the same views on resume.


def _rand(shape: tuple[int, ...], x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.rand(shape, generator=generator, device=x.device, dtype=torch.float32)


def _uniform(n: int, lo: float, hi: float, x: Tensor, generator) -> Tensor:
    return lo + (hi - lo) * _rand((n,), x, generator)


def _coin(n: int, p: float, x: Tensor, generator) -> Tensor:
    """Boolean (n,) mask, True with probability p."""
    return _rand((n,), x, generator) < p


def _check_images(x: Tensor) -> None:
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(
            f"expected a float image batch shaped (B, C, H, W) in [0, 1], got "
            f"{tuple(x.shape)} {x.dtype} (uint8 images: use to_float first)"
        )


def _gray(x: Tensor) -> Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma."""
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


# ---------------------------------------------------------------------------------------------
# crop and flip


def _crop_boxes(
    x: Tensor, scale: tuple[float, float], ratio: tuple[float, float], generator
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-sample (x0, y0, w, h) in pixels, drawn the way torchvision's RandomResizedCrop does.

    torchvision tries up to 10 (area, aspect) draws and falls back to a central crop with the
    aspect clamped into `ratio`; we make all 10 draws for every sample at once and keep the
    first one that fits, so there is no per-sample loop. Boxes are continuous (sub-pixel).
    """
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"crop scale must satisfy 0 < lo <= hi <= 1, got {scale}")
    if not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"crop ratio must satisfy 0 < lo <= hi, got {ratio}")
    B, _, H, W = x.shape
    tries = 10
    area = float(H * W)
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    target = area * (scale[0] + (scale[1] - scale[0]) * _rand((B, tries), x, generator))
    aspect = torch.exp(log_lo + (log_hi - log_lo) * _rand((B, tries), x, generator))
    w = torch.sqrt(target * aspect)
    h = torch.sqrt(target / aspect)
    # a hair of tolerance so scale=(1,1) on a square image is not rejected by rounding
    fits = (w <= W * (1 + 1e-6)) & (h <= H * (1 + 1e-6)) & (w > 0) & (h > 0)
    first = fits.float().argmax(dim=1, keepdim=True)  # first fitting try (0 if none)
    w = w.gather(1, first).squeeze(1)
    h = h.gather(1, first).squeeze(1)

    # fallback: the whole image, trimmed to the nearest allowed aspect ratio
    in_ratio = W / H
    if in_ratio < min(ratio):
        fw, fh = float(W), W / min(ratio)
    elif in_ratio > max(ratio):
        fw, fh = H * max(ratio), float(H)
    else:
        fw, fh = float(W), float(H)
    ok = fits.any(dim=1)
    w = torch.where(ok, w, torch.full_like(w, fw)).clamp(max=W)
    h = torch.where(ok, h, torch.full_like(h, fh)).clamp(max=H)
    # a fitting box goes anywhere inside the image; the fallback is centred, as in torchvision
    x0 = (W - w) * torch.where(ok, _rand((B,), x, generator), 0.5)
    y0 = (H - h) * torch.where(ok, _rand((B,), x, generator), 0.5)
    return x0, y0, w, h


def _sample_boxes(x: Tensor, x0: Tensor, y0: Tensor, w: Tensor, h: Tensor, flip: Tensor | None,
                  angle: Tensor | None = None) -> Tensor:
    """Resample each box to the full H×W with one batched affine_grid + grid_sample, turned
    about its centre by `angle` (radians, per sample) when given."""
    B, _, H, W = x.shape
    # With align_corners=False, normalised -1 and 1 are the outer pixel *edges*, so the box
    # [x0, x0+w] maps to [-1, 1] by scale w/W and centre (2*x0 + w)/W - 1; the identity box
    # then samples exactly at the input pixel centres and returns the input unchanged.
    sx = w / W
    sy = h / H
    if flip is not None:
        sx = torch.where(flip, -sx, sx)  # mirroring about the box centre = flip after crop
    tx = (2 * x0 + w) / W - 1
    ty = (2 * y0 + h) / H - 1
    theta = torch.zeros(B, 2, 3, device=x.device, dtype=torch.float32)
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    if angle is None:
        theta[:, 0, 0] = sx
        theta[:, 1, 1] = sy
    else:
        # the rotation acts in pixels, not in normalised coordinates (which stretch a
        # non-square image), hence the H/W and W/H factors on the off-diagonal terms
        cos, sin = angle.cos(), angle.sin()
        theta[:, 0, 0] = cos * sx
        theta[:, 0, 1] = -sin * sy * (H / W)
        theta[:, 1, 0] = sin * sx * (W / H)
        theta[:, 1, 1] = cos * sy
    grid = F.affine_grid(theta.to(x.dtype), [B, x.shape[1], H, W], align_corners=False)
    # upright boxes lie inside the image, so "border" only guards against last-bit rounding
    # (a turned or shifted box may leave it: it repeats the edge pixels, background on digits); the
    # clamp keeps [0, 1] exact when the bilinear weights round to a hair above 1
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.clamp_(0, 1)


def random_resized_crop(
    x: Tensor,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Crop a random box per sample (area fraction in `scale`, aspect in `ratio`) and resize
    it back to the input's H×W (bilinear)."""
    _check_images(x)
    return _sample_boxes(x, *_crop_boxes(x, scale, ratio, generator), flip=None)


def random_flip(x: Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each sample left-right with probability p."""
    _check_images(x)
    if p <= 0:
        return x
    flip = _coin(x.shape[0], p, x, generator).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(3), x)


# ---------------------------------------------------------------------------------------------
# colour


# NTSC RGB -> YIQ. Y is the luma above; I and Q are zero for grey, so rotating (I, Q)
# turns hue while keeping luma and leaving greys grey (NVIDIA DALI's hue op works the
# same way). Inverted in float64, then stored as float32 so every device (MPS has no
# float64) can use them.
_YIQ64 = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64
)
_YIQ = _YIQ64.float()
_YIQ_INV = torch.linalg.inv(_YIQ64).float()


def _hue_matrices(shift: Tensor) -> Tensor:
    """(B,) hue shifts in turns -> (B, 3, 3) RGB matrices rotating the YIQ chroma plane.

    The rotation is clockwise in (I, Q) so a positive shift moves hue the same way as
    torchvision's adjust_hue (red -> yellow -> green).
    """
    angle = 2 * math.pi * shift.float()
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rot = torch.stack([one, zero, zero, zero, cos, sin, zero, -sin, cos], dim=1).view(-1, 3, 3)
    return _YIQ_INV.to(shift.device) @ rot @ _YIQ.to(shift.device)


def color_jitter(
    x: Tensor,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
    p: float = 0.8,
    generator: torch.Generator | None = None,
) -> Tensor:
    """With probability p per sample, jitter brightness, contrast, saturation and hue.

    Factors are drawn per sample as in torchvision's ColorJitter (brightness, contrast and
    saturation in [max(0, 1-v), 1+v]; hue shift in [-hue, hue] turns) and applied in that
    fixed order. One-channel images get brightness and contrast only.

    Each of the four steps is affine in RGB, so we compose them into one C×C matrix plus
    offset per sample and touch the pixels once (a batched matmul and a clamp), much faster
    on CPU than running the steps one by one (docs/BENCHMARKS.md). The price: unlike
    torchvision, values are clamped to [0, 1] once at the end instead of after every step
    (identical whenever no step pushes a pixel out of range), and hue turns in YIQ rather
    than HSV.
    """
    _check_images(x)
    if not 0 <= hue <= 0.5:
        raise ValueError(f"hue must be in [0, 0.5], got {hue}")
    if p <= 0:
        return x
    B, C, H, W = x.shape
    if C not in (1, 3):
        raise ValueError(f"color_jitter needs 1 or 3 channels, got {C}")
    apply = _coin(B, p, x, generator)
    # draw every parameter even when unused so the RNG stream doesn't depend on the settings
    fb = _uniform(B, max(0.0, 1 - brightness), 1 + brightness, x, generator)
    fc = _uniform(B, max(0.0, 1 - contrast), 1 + contrast, x, generator)
    fs = _uniform(B, max(0.0, 1 - saturation), 1 + saturation, x, generator)
    fh = _uniform(B, -hue, hue, x, generator)

    # y = M x + o, built up step by step on (B, C, C) / (B, C, 1) parameters: cheap
    dev = x.device
    eye = torch.eye(C, device=dev).expand(B, C, C)
    luma = torch.tensor(_LUMA if C == 3 else (1.0,), device=dev).view(1, 1, C)  # row vector
    M = fb.view(B, 1, 1) * eye  # brightness: scale
    o = torch.zeros(B, C, 1, device=dev)
    # contrast: blend with the mean grey level of the current image; that mean is linear in
    # the per-channel means of x, so it needs one reduction over x, not a pass per step
    mu = x.float().mean(dim=(2, 3)).unsqueeze(2)  # (B, C, 1)
    mean = luma @ (M @ mu + o)  # (B, 1, 1)
    c = fc.view(B, 1, 1)
    M, o = c * M, c * o + (1 - c) * mean
    if C == 3:
        # saturation: blend with the pixel's own grey, i.e. s·I + (1 - s)·1·lumaᵀ
        s = fs.view(B, 1, 1)
        S = s * eye + (1 - s) * luma.expand(B, C, C)
        M, o = S @ M, S @ o
        R = _hue_matrices(fh)
        M, o = R @ M, R @ o
    # samples not jittered get exactly the identity (1·x + 0 is exact in floating point)
    keep = ~apply.view(B, 1, 1)
    M = torch.where(keep, eye, M).to(x.dtype)
    o = torch.where(keep, torch.zeros_like(o), o).to(x.dtype)
    out = torch.baddbmm(o, M, x.reshape(B, C, H * W)).clamp_(0, 1)
    return out.view(B, C, H, W)


def random_grayscale(x: Tensor, p: float = 0.2, generator: torch.Generator | None = None) -> Tensor:
    """Replace each RGB sample by its luma (kept as 3 equal channels) with probability p."""
    _check_images(x)
    if x.shape[1] == 1 or p <= 0:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"grayscale needs 1 or 3 channels, got {x.shape[1]}")
    gray = _coin(x.shape[0], p, x, generator).view(-1, 1, 1, 1)
    return torch.where(gray, _gray(x).clamp_(0, 1).expand_as(x), x)


def gaussian_blur(
    x: Tensor,
    sigma_range: tuple[float, float] = (0.1, 2.0),
    p: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Blur each sample with probability p, sigma uniform in sigma_range (pixels).

    One separable pass with a different 1-D kernel per sample (grouped conv over B*C).
    Samples that are not blurred get a delta kernel, which returns them exactly.
    """
    _check_images(x)
    if p <= 0:
        return x
    lo, hi = sigma_range
    if not 0 < lo <= hi:
        raise ValueError(f"blur sigma range must satisfy 0 < lo <= hi, got {sigma_range}")
    B, C, H, W = x.shape
    apply = _coin(B, p, x, generator)
    sigma = _uniform(B, lo, hi, x, generator)
    # radius 3 sigma covers 99.7% of the mass; reflect padding needs radius < side
    radius = max(1, min(math.ceil(3 * hi), H - 1, W - 1))
    offs = torch.arange(-radius, radius + 1, device=x.device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offs / sigma.view(-1, 1)) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    delta = (offs == 0).to(kernel.dtype).expand_as(kernel)
    kernel = torch.where(apply.view(-1, 1), kernel, delta)
    kernel = kernel.repeat_interleave(C, dim=0).to(x.dtype)  # (B*C, K): one per channel plane
    K = 2 * radius + 1
    planes = x.reshape(1, B * C, H, W)
    planes = F.pad(planes, (radius, radius, radius, radius), mode="reflect")
    planes = F.conv2d(planes, kernel.view(B * C, 1, 1, K), groups=B * C)
    planes = F.conv2d(planes, kernel.view(B * C, 1, K, 1), groups=B * C)
    return planes.view(B, C, H, W).clamp_(0, 1)  # the kernel sums to 1 only up to rounding


# ---------------------------------------------------------------------------------------------
# views


def _shift_boxes(x: Tensor, boxes, shift: float, generator):
    """Move each crop box by up to `shift` of the image side either way, each axis on its own, without
    resizing it: the content moves and keeps its size, so views differ in where an object lies but not
    in how large it is (a smaller crop changes both). The box may leave the image; the edge pixels fill
    in there (the background, on centred data)."""
    if not 0 <= shift <= 0.5:
        raise ValueError(f"shift must be in [0, 0.5], got {shift}")
    x0, y0, w, h = boxes
    B, _, H, W = x.shape
    dx = _uniform(B, -shift, shift, x, generator) * W
    dy = _uniform(B, -shift, shift, x, generator) * H
    return x0 + dx, y0 + dy, w, h


def random_view(x: Tensor, cfg: ViewConfig | None = None, generator: torch.Generator | None = None) -> Tensor:
    """One random view per sample: crop (turned by up to cfg.rotate degrees, moved by up to cfg.shift
    of the side) -> flip -> colour jitter -> grayscale -> blur."""
    _check_images(x)
    cfg = cfg or ViewConfig()
    # Crop and flip share one grid_sample: a flip is a negative x-scale of the crop's affine
    # map, so folding it in saves a full pass over the batch.
    boxes = _crop_boxes(x, cfg.crop_scale, cfg.crop_ratio, generator)
    flip = _coin(x.shape[0], cfg.flip_p, x, generator) if cfg.flip_p > 0 else None
    angle = None
    if cfg.rotate > 0:
        turn = math.radians(cfg.rotate)
        angle = _uniform(x.shape[0], -turn, turn, x, generator)
    if cfg.shift > 0:
        boxes = _shift_boxes(x, boxes, cfg.shift, generator)
    out = _sample_boxes(x, *boxes, flip=flip, angle=angle)
    out = color_jitter(out, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue, cfg.jitter_p, generator)
    out = random_grayscale(out, cfg.gray_p, generator)
    out = gaussian_blur(out, cfg.blur_sigma, cfg.blur_p, generator)
    return out


def two_views(
    x: Tensor, cfg: ViewConfig | None = None, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Two independent random views of every sample (SimCLR, BYOL, Barlow Twins, ...)."""
    # one pass over the doubled batch: half the kernel launches / Python overhead of two calls
    both = random_view(torch.cat([x, x]), cfg, generator)
    return both[: x.shape[0]], both[x.shape[0] :]


# ---------------------------------------------------------------------------------------------
# rotations (RotNet) and dtype


def rotate90(x: Tensor, k: Tensor) -> Tensor:
    """Rotate sample i counter-clockwise by 90°·k[i] (k int64 (B,) in 0..3); square images."""
    if x.ndim != 4 or x.shape[2] != x.shape[3]:
        raise ValueError(f"rotate90 needs square images (B, C, S, S), got {tuple(x.shape)}")
    if k.shape != (x.shape[0],):
        raise ValueError(f"k must have shape ({x.shape[0]},), got {tuple(k.shape)}")
    k = k.to(device=x.device, dtype=torch.long).remainder(4)
    # all four rotations, then pick one per sample: no per-sample Python loop
    variants = torch.stack([torch.rot90(x, r, dims=(2, 3)) for r in range(4)])  # (4, B, C, S, S)
    return variants[k, torch.arange(x.shape[0], device=x.device)]


def random_rotations(x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Rotate each sample by a uniform multiple of 90°; returns (rotated, k)."""
    k = torch.randint(0, 4, (x.shape[0],), generator=generator, device=x.device)
    return rotate90(x, k), k


def to_float(x_uint8: Tensor) -> Tensor:
    """uint8 images in 0..255 -> float32 in [0, 1]."""
    if x_uint8.dtype != torch.uint8:
        raise TypeError(f"to_float expects uint8, got {x_uint8.dtype}")
    return x_uint8.to(torch.float32).div_(255)
