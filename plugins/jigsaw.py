"""Jigsaw puzzles: shuffle a 3×3 grid of tiles and classify which permutation was applied
(Noroozi & Favaro 2016, arXiv:1603.09246)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.heads import mlp_head
from workbench.nn.patches import GRID, crop_patches, drop_channels, grid_cells

PERM_SEED = 1603  # fixed, so every run (and every checkpoint) means the same permutation set


def normalise_tiles(tiles: torch.Tensor, eps: float = 0.05) -> torch.Tensor:
    """Noroozi & Favaro's per-tile normalisation, so tiles cannot be matched by their mean
    brightness or contrast. The result is mapped to mean 0.5, std 0.25, which the backbone's
    input Normalize turns into mean 0, std 1."""
    mean = tiles.mean(dim=(-3, -2, -1), keepdim=True)
    std = tiles.std(dim=(-3, -2, -1), keepdim=True)
    return (tiles - mean) / (std + eps) * 0.25 + 0.5


# ---------------------------------------------------------------------------------------------
# the permutation set and the loss


@lru_cache(maxsize=8)
def _permutation_set(n: int, tiles: int, seed: int) -> np.ndarray:
    every = np.array(list(itertools.permutations(range(tiles))), dtype=np.int8)
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(every)))]
    # distance of every candidate to its nearest chosen permutation; farthest-point greedy
    nearest = (every != every[chosen[0]]).sum(1, dtype=np.int16)
    for _ in range(n - 1):
        j = int(np.argmax(nearest))  # ties: the first, so the set is deterministic
        chosen.append(j)
        np.minimum(nearest, (every != every[j]).sum(1, dtype=np.int16), out=nearest)
    return every[chosen].astype(np.int64)


def permutation_set(n: int, tiles: int = GRID * GRID, seed: int = PERM_SEED) -> np.ndarray:
    """n permutations of range(tiles), chosen greedily to be far apart in Hamming distance.

    Noroozi & Favaro's Algorithm 1 in its max-min form: start from one permutation drawn with
    `seed`, then repeatedly add the permutation whose distance to its nearest chosen one is
    largest. Deterministic for (n, tiles, seed); returns an (n, tiles) int64 array.
    """
    total = int(np.prod(range(1, tiles + 1)))
    if not 1 <= n <= total:
        raise ValueError(f"need 1 <= n <= {tiles}! = {total} permutations, got {n}")
    return _permutation_set(n, tiles, seed).copy()


def jigsaw_loss(logits: torch.Tensor, perm_index: torch.Tensor) -> torch.Tensor:
    """Cross entropy of the permutation classifier (log P for a uniform guess)."""
    return F.cross_entropy(logits.float(), perm_index)


def assemble(tiles: torch.Tensor, pad: int = 2, gutter: float = 0.4) -> torch.Tensor:
    """(B, 9, C, t, t) tiles in row-major order -> (B, C, 3t + 2·pad, 3t + 2·pad) images with
    grey gutters (visible on black digits' backgrounds), to show a puzzle as the network sees it."""
    B, N, C, t, _ = tiles.shape
    n = int(round(N ** 0.5))
    side = n * t + (n - 1) * pad
    out = tiles.new_full((B, C, side, side), gutter)
    for k in range(N):  # 9 slices, not a per-sample loop
        r, c = divmod(k, n)
        out[:, :, r * (t + pad):r * (t + pad) + t, c * (t + pad):c * (t + pad) + t] = tiles[:, k]
    return out


class Jigsaw(Method):
    name = "jigsaw"
    title = "Jigsaw puzzles"
    family = "pretext"
    modality = "image"
    summary = "Shuffle a 3×3 grid of tiles and guess which of P permutations was used."
    reference = "Noroozi & Favaro 2016, arXiv:1603.09246"
    run_defaults = {"batch_size": 64, "lr": 1e-3}
    backbone_refusals = {"mlp": "jigsaw encodes tiles of the image,"
                                 " and the mlp backbone takes only whole images; use small_cnn or resnet18"}

    @dataclass
    class Config:
        num_permutations: int = setting(
            30, "Size of the permutation set (classes), chosen for maximal Hamming distance.",
            min=2, max=1000, label="Permutations")
        tile_px: int = setting(16, "Side each tile is resampled to before the shared encoder.",
                               min=4, max=128, label="Tile size (px)")
        gap: float = setting(0.2, "Fraction of each grid cell left out around its tile, so "
                                  "tile edges never touch.", min=0.0, max=0.8)
        jitter: bool = setting(True, "Place each tile at a random spot inside its cell.")
        tile_norm: bool = setting(False, "Normalise each tile to zero mean and unit variance "
                                         "(hides brightness cues; off suits digits).",
                              label="Per-tile normalisation")
        colour_drop: float = setting(0.3, "Probability of dropping two colour channels of a tile "
                                          "(colour images only).", min=0.0, max=1.0)
        hidden: int = setting(512, "Hidden units of the permutation classifier (0 = linear).",
                              min=0, max=8192)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if len(data.input_shape) != 3:
            raise ValueError("jigsaw needs images shaped (C, H, W)")
        perms = torch.from_numpy(permutation_set(cfg.num_permutations))
        self.register_buffer("perms", perms, persistent=False)  # a pure function of the config
        self.classifier = mlp_head(GRID * GRID * feat_dim, cfg.hidden, cfg.num_permutations)

    def tiles(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 9, C, t, t) tiles in their true row-major order, with gaps and jitter."""
        x0, y0, side = grid_cells(x, self.cfg.gap, self.cfg.jitter)
        tiles = crop_patches(x, x0, y0, side, self.cfg.tile_px)
        tiles = drop_channels(tiles, self.cfg.colour_drop if self.training else 0.0)
        return normalise_tiles(tiles) if self.cfg.tile_norm else tiles

    def shuffle(self, tiles: torch.Tensor, perm_index: torch.Tensor) -> torch.Tensor:
        """Position j of sample i shows tile perms[perm_index[i], j]."""
        order = self.perms[perm_index]  # (B, 9)
        return tiles[torch.arange(len(tiles), device=tiles.device).unsqueeze(1), order]

    def classify(self, shuffled: torch.Tensor) -> torch.Tensor:
        B = shuffled.shape[0]
        feats = self.backbone(shuffled.flatten(0, 1))  # all 9B tiles in one batch
        return self.classifier(feats.reshape(B, -1))

    def training_step(self, batch: Batch) -> StepOutput:
        x = batch.x
        perm_index = torch.randint(0, self.cfg.num_permutations, (len(x),), device=x.device)
        logits = self.classify(self.shuffle(self.tiles(x), perm_index))
        loss = jigsaw_loss(logits, perm_index)
        return StepOutput(loss, {"jigsaw_acc": (logits.argmax(1) == perm_index).float().mean()})

    def unshuffle(self, shuffled: torch.Tensor, perm_index: torch.Tensor) -> torch.Tensor:
        """The tiles put back as permutation perm_index says they were shuffled (the inverse of shuffle)."""
        order = self.perms[perm_index]  # position j holds tile order[j]: send it back to place order[j]
        out = torch.empty_like(shuffled)
        out[torch.arange(len(shuffled), device=shuffled.device).unsqueeze(1), order] = shuffled
        return out

    def previews(self, batch: Batch) -> dict[str, Preview]:
        """Each puzzle beside its tiles put back in the order the model predicts: a right guess
        shows the picture whole; a wrong one shows which tiles it misplaced."""
        x = batch.x[:8]
        perm_index = torch.arange(len(x), device=x.device) * 7 % self.cfg.num_permutations
        shuffled = self.shuffle(self.tiles(x), perm_index)
        pred = self.classify(shuffled).argmax(1)
        solved = self.unshuffle(shuffled, pred)
        placed = (self.perms[pred] == self.perms[perm_index]).sum(1).tolist()
        puzzles, answers = assemble(normalise_display(shuffled)), assemble(normalise_display(solved))
        pairs = torch.stack([puzzles, answers], 1).flatten(0, 1)  # puzzle, answer, puzzle, answer, …
        captions = []
        for right, n in zip((pred == perm_index).tolist(), placed):
            captions += ["shuffled", "✓ put back right" if right else f"✗ {n} of {GRID * GRID} tiles in place"]
        return {"puzzles": Preview.from_tensor("Shuffled tiles, then put back in the predicted order",
                                               pairs, captions, columns=8)}


def normalise_display(tiles: torch.Tensor) -> torch.Tensor:
    """Per-tile normalised tiles leave [0, 1]; stretch each tile back into it for display."""
    lo = tiles.amin(dim=(-3, -2, -1), keepdim=True)
    hi = tiles.amax(dim=(-3, -2, -1), keepdim=True)
    inside = (lo >= 0) & (hi <= 1)
    return torch.where(inside, tiles, (tiles - lo) / (hi - lo).clamp_min(1e-6))
