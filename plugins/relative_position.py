"""Relative patch position: classify where a neighbouring patch lies around a centre patch
(Doersch et al. 2015, arXiv:1505.05192)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.heads import mlp_head
from workbench.nn.patches import crop_patches, drop_channels, grid_cells

# the 8 neighbours of the centre cell of a 3×3 grid, in row-major order, and their names
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)
POSITIONS = ("top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right")
CENTRE = 4


def relative_position_loss(logits: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """Cross entropy of the 8-way position classifier (log 8 for a uniform guess)."""
    return F.cross_entropy(logits.float(), position)


def side_by_side(a: torch.Tensor, b: torch.Tensor, pad: int = 2) -> torch.Tensor:
    """(N, C, h, w) pairs -> (N, C, h, 2w + pad): a on the left, b on the right, a grey gutter."""
    gutter = a.new_full((*a.shape[:-1], pad), 0.4)  # grey: visible on black backgrounds
    return torch.cat([a, gutter, b], dim=-1)


class RelativePosition(Method):
    name = "relative_position"
    title = "Context prediction (relative patch position)"
    family = "pretext"
    modality = "image"
    summary = "Show a centre patch and a neighbour; guess which of the 8 neighbours it is."
    reference = "Doersch et al. 2015, arXiv:1505.05192"
    run_defaults = {"batch_size": 64, "lr": 1e-3}
    backbone_refusals = {"mlp": "relative_position encodes patches of the image,"
                                 " and the mlp backbone takes only whole images; use small_cnn or resnet18"}

    @dataclass
    class Config:
        patch_px: int = setting(16, "Side each patch is resampled to before the shared encoder.",
                                min=4, max=128, label="Patch size (px)")
        gap: float = setting(0.2, "Fraction of each grid cell left out around its patch, so "
                                  "patch edges never touch.", min=0.0, max=0.8)
        jitter: bool = setting(True, "Place each patch at a random spot inside its cell.")
        all_neighbours: bool = setting(True, "Pair each centre with all 8 neighbours per step "
                                             "(8 examples per image); off: one random neighbour.")
        colour_drop: float = setting(0.5, "Probability of dropping two colour channels of a "
                                          "patch (chromatic aberration guard; colour images only).",
                                     min=0.0, max=1.0)
        hidden: int = setting(512, "Hidden units of the position classifier (0 = linear).",
                              min=0, max=8192)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if len(data.input_shape) != 3:
            raise ValueError("relative_position needs images shaped (C, H, W)")
        self.classifier = mlp_head(2 * feat_dim, cfg.hidden, len(NEIGHBOURS))

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 9, C, p, p): the 3×3 grid of patches with gaps and jitter."""
        x0, y0, side = grid_cells(x, self.cfg.gap, self.cfg.jitter)
        patches = crop_patches(x, x0, y0, side, self.cfg.patch_px)
        return drop_channels(patches, self.cfg.colour_drop if self.training else 0.0)

    def pairs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Centre patches, neighbour patches and the neighbours' position classes (0..7)."""
        p = self.patches(x)
        B = len(x)
        if self.cfg.all_neighbours:
            position = torch.arange(8, device=x.device).repeat(B)  # (8B,)
            sample = torch.arange(B, device=x.device).repeat_interleave(8)
        else:
            position = torch.randint(0, 8, (B,), device=x.device)
            sample = torch.arange(B, device=x.device)
        cell = torch.tensor(NEIGHBOURS, device=x.device)[position]
        return p[:, CENTRE], p[sample, cell], position

    def classify(self, centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        """Encode the centres once and every neighbour, then classify each pair."""
        B, M = len(centre), len(neighbour)
        feats = self.backbone(torch.cat([centre, neighbour]))
        fc, fn = feats[:B], feats[B:]
        fc = fc.repeat_interleave(M // B, dim=0)
        return self.classifier(torch.cat([fc, fn], dim=1))

    def training_step(self, batch: Batch) -> StepOutput:
        centre, neighbour, position = self.pairs(batch.x)
        logits = self.classify(centre, neighbour)
        loss = relative_position_loss(logits, position)
        return StepOutput(loss, {"position_acc": (logits.argmax(1) == position).float().mean()})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:16]
        p = self.patches(x)
        position = torch.arange(len(x), device=x.device) % 8  # every position twice
        cell = torch.tensor(NEIGHBOURS, device=x.device)[position]
        centre, neighbour = p[:, CENTRE], p[torch.arange(len(x), device=x.device), cell]
        pred = self.classify(centre, neighbour).argmax(1)
        captions = [f"{'✓' if a == b else '✗'} pred {POSITIONS[a]} / true {POSITIONS[b]}"
                    for a, b in zip(pred.tolist(), position.tolist())]
        return {"pairs": Preview.from_tensor("Centre | neighbour, with the guessed position",
                                             side_by_side(centre, neighbour), captions, columns=8)}
