"""Patches of images: crop and resample boxes, lay a jittered grid of tiles, drop colour
channels (the patch-based methods: jigsaw, relative position, CPC)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

GRID = 3  # tiles per side of the default grid (jigsaw's and relative position's 3×3)


def crop_patches(x: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor, size, out: int) -> torch.Tensor:
    """Crop square boxes and resample each to out×out pixels, all in one grid_sample.

    x: (B, C, H, W); x0, y0: (B, N) top-left corners in pixels (continuous); size: box side in
    pixels (a number or a (B, N) tensor). Returns (B, N, C, out, out). Upsampling small tiles
    happens here too (bilinear), so a 9-px tile comes out at whatever size the encoder likes.
    """
    B, C, H, W = x.shape
    N = x0.shape[1]
    dev = x.device
    t = (torch.arange(out, device=dev, dtype=torch.float32) + 0.5) / out  # sample centres in [0, 1]
    size = torch.as_tensor(size, device=dev, dtype=torch.float32).expand(B, N).unsqueeze(-1)
    # with align_corners=False, -1 and 1 are the outer pixel edges: pixel-edge coordinate p
    # maps to 2p/W - 1
    gx = 2 * (x0.float().unsqueeze(-1) + t * size) / W - 1  # (B, N, out)
    gy = 2 * (y0.float().unsqueeze(-1) + t * size) / H - 1
    gx, gy = torch.broadcast_tensors(gx[:, :, None, :], gy[:, :, :, None])  # (B, N, out, out)
    # stack the N patch grids vertically: one sampling call per batch, no copy of the images
    grid = torch.stack([gx, gy], dim=-1).reshape(B, N * out, out, 2)
    patches = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="border",
                            align_corners=False)
    return patches.view(B, C, N, out, out).transpose(1, 2)


def grid_cells(x: torch.Tensor, gap: float, jitter: bool, n: int = GRID):
    """Boxes of the n×n tiles with a gap and random per-tile jitter (the papers' shortcut
    guards: no tile edge touches its neighbour's, and lines do not run straight across).

    Returns (x0, y0, side), x0/y0 (B, n*n) in row-major cell order. Each tile is a square of
    side (1 - gap)·cell placed uniformly inside its cell (centred when jitter is off).
    """
    B, _, H, W = x.shape
    cell = min(H, W) / n
    side = cell * (1 - gap)
    slack = cell - side
    r = torch.arange(n, device=x.device, dtype=torch.float32)
    base_y, base_x = torch.meshgrid(r * cell, r * cell, indexing="ij")
    base_x, base_y = base_x.reshape(1, -1), base_y.reshape(1, -1)
    if jitter:
        off = torch.rand(2, B, n * n, device=x.device) * slack
    else:
        off = torch.full((2, B, n * n), slack / 2, device=x.device)
    # centre the grid when the image is not square
    return base_x + off[0] + (W - n * cell) / 2, base_y + off[1] + (H - n * cell) / 2, side


def drop_channels(tiles: torch.Tensor, p: float) -> torch.Tensor:
    """Doersch et al.'s guard against chromatic aberration: with probability p per tile, keep
    one random colour channel and replace the other two by that tile's mean plus faint noise.

    tiles: (..., C, h, w). Grey images (C = 1) are returned as they are.
    """
    if tiles.shape[-3] != 3 or p <= 0:
        return tiles
    flat = tiles.reshape(-1, 3, *tiles.shape[-2:])
    n = flat.shape[0]
    keep = torch.randint(0, 3, (n,), device=tiles.device)
    kept = flat[torch.arange(n, device=tiles.device), keep].unsqueeze(1)  # (n, 1, h, w)
    mean = kept.mean(dim=(2, 3), keepdim=True)
    std = kept.std(dim=(2, 3), keepdim=True)
    filler = mean + torch.randn_like(flat) * std / 100
    chan = torch.arange(3, device=tiles.device).view(1, 3, 1, 1)
    dropped = torch.where(chan == keep.view(-1, 1, 1, 1), flat, filler)
    apply = (torch.rand(n, device=tiles.device) < p).view(-1, 1, 1, 1)
    return torch.where(apply, dropped, flat).reshape(tiles.shape).to(tiles.dtype)
