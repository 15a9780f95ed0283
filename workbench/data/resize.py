"""Resizing of whole uint8 image tensors to a square size (used when image_size is asked for)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

_CHUNK = 2048  # bounds the float32 working copy for large sets (CIFAR-10 is 50k images)


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, size, size); shorter side to size, then centre crop."""
    n, c, h, w = x.shape
    if h == size and w == size:
        return x
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for start in range(0, n, _CHUNK):
        chunk = x[start : start + _CHUNK].float()
        # antialias only matters (and is only supported) when shrinking with bilinear
        resized = F.interpolate(chunk, size=(new_h, new_w), mode="bilinear", align_corners=False,
                                antialias=scale < 1)
        out[start : start + _CHUNK] = resized[:, :, top : top + size, left : left + size].round().clamp(0, 255).to(torch.uint8)
    return out.contiguous()
