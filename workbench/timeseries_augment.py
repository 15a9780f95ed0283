"""Batched time-series augmentations (amplitude scaling, jitter, slicing, time warp) on (B, C, T) tensors.

The views of the thesis's non-contrastive VQ-VAE branch (Mathisen 2024, "You're your own best
teacher"), after Um et al. 2017 and Iwana & Uchida 2021's survey of time-series augmentation.
Every function draws one set of parameters per sequence from x's device RNG (or `generator`,
which must live on x's device), so a seeded generator gives the same views, and every one is
the identity at strength 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .augment import _rand  # one set of draws per sequence, on x's device, as for images


@dataclass
class SeriesViewConfig:
    """Strengths of one view; 0 turns an augmentation off."""

    scale: float = 0.3  # amplitude factor drawn from U(1 − scale, 1 + scale)
    jitter: float = 0.05  # standard deviation of the added Gaussian noise (data are standardised)
    slice: float = 0.2  # the kept window is U(1 − slice, 1) of the length, resized back
    warp: float = 0.2  # standard deviation of the local speed changes of the time warp
    warp_knots: int = 4  # speed changes are drawn at this many knots and smoothly interpolated


def _check(x: Tensor) -> None:
    if x.ndim != 3:
        raise ValueError(f"expected sequences (B, C, T), got shape {tuple(x.shape)}")


def resample(x: Tensor, positions: Tensor) -> Tensor:
    """x (B, C, T) read at fractional time positions (B, T') in [0, T − 1] by linear
    interpolation: (B, C, T'). Whole positions read the samples exactly."""
    t = x.shape[-1]
    pos = positions.float().clamp(0, t - 1)
    lo = pos.floor().long().clamp(max=t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    frac = (pos - lo.float()).unsqueeze(1).to(x.dtype)
    idx_lo = lo.unsqueeze(1).expand(-1, x.shape[1], -1)
    idx_hi = hi.unsqueeze(1).expand(-1, x.shape[1], -1)
    return torch.gather(x, 2, idx_lo) * (1 - frac) + torch.gather(x, 2, idx_hi) * frac


def amplitude_scale(x: Tensor, strength: float = 0.3, generator: torch.Generator | None = None) -> Tensor:
    """Each sequence times a factor from U(1 − strength, 1 + strength)."""
    _check(x)
    factor = 1 + strength * (2 * _rand((len(x), 1, 1), x, generator) - 1)
    return x * factor.to(x.dtype)


def jitter(x: Tensor, sigma: float = 0.05, generator: torch.Generator | None = None) -> Tensor:
    """x plus Gaussian noise of standard deviation sigma, drawn independently per sample."""
    _check(x)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=torch.float32)
    return x + sigma * noise.to(x.dtype)


def slice_resize(x: Tensor, strength: float = 0.2, generator: torch.Generator | None = None) -> Tensor:
    """Crop-and-resize in time: a window of U(1 − strength, 1) of the length at a random
    start, stretched back to the full length."""
    _check(x)
    b, t = len(x), x.shape[-1]
    keep = 1 - strength * _rand((b, 1), x, generator)
    start = (1 - keep) * _rand((b, 1), x, generator)
    grid = torch.linspace(0, 1, t, device=x.device).unsqueeze(0)
    return resample(x, (start + keep * grid) * (t - 1))


def time_warp(x: Tensor, strength: float = 0.2, knots: int = 4,
              generator: torch.Generator | None = None) -> Tensor:
    """Smooth random time warp: the playback speed is 1 + strength·N(0, 1) at `knots` points
    (kept ≥ 0.1), interpolated over time and integrated into monotone read positions that
    still run from the first sample to the last."""
    _check(x)
    b, t = len(x), x.shape[-1]
    if strength == 0:
        return x.clone()
    noise = torch.randn((b, 1, knots), generator=generator, device=x.device, dtype=torch.float32)
    speed = (1 + strength * noise).clamp_min(0.1)
    speed = F.interpolate(speed, size=t, mode="linear", align_corners=True).squeeze(1)
    cum = torch.cumsum(speed, 1) - speed[:, :1]  # 0 at the first sample
    return resample(x, cum / cum[:, -1:].clamp_min(1e-8) * (t - 1))


def series_view(x: Tensor, cfg: SeriesViewConfig | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """One augmented view: slicing, time warp, amplitude scaling, then jitter."""
    cfg = cfg or SeriesViewConfig()
    x = slice_resize(x, cfg.slice, generator)
    x = time_warp(x, cfg.warp, cfg.warp_knots, generator)
    x = amplitude_scale(x, cfg.scale, generator)
    return jitter(x, cfg.jitter, generator)
