"""Contrastive predictive coding on images: encode a grid of overlapping patches, summarise
the rows above with a causal context network and pick out the codes of lower rows among
distractors (van den Oord et al. 2018, arXiv:1807.03748; Hénaff et al. 2020, arXiv:1905.09272)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.losses import cpc_loss
from workbench.nn.patches import crop_patches


def patch_grid(x: torch.Tensor, grid: int, patch_frac: float, out: int,
               jitter: float = 0.0) -> torch.Tensor:
    """(B, grid², C, out, out): a grid×grid raster of overlapping square patches of side
    patch_frac·min(H, W), evenly spaced from edge to edge, row-major, resampled to out×out.
    jitter moves each patch by up to that fraction of its side (random per patch)."""
    B, _, H, W = x.shape
    side = patch_frac * min(H, W)
    ys = torch.linspace(0, H - side, grid, device=x.device)
    xs = torch.linspace(0, W - side, grid, device=x.device)
    y0, x0 = torch.meshgrid(ys, xs, indexing="ij")
    x0, y0 = x0.reshape(1, -1).expand(B, -1), y0.reshape(1, -1).expand(B, -1)
    if jitter > 0:
        shift = (torch.rand(2, B, grid * grid, device=x.device) * 2 - 1) * jitter * side
        x0 = (x0 + shift[0]).clamp(0, W - side)
        y0 = (y0 + shift[1]).clamp(0, H - side)
    return crop_patches(x, x0, y0, side, out)


def flatten_grid(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, F, G, G) codes -> (B·G·G, F) rows and the (B, G, G) index of each position's row."""
    B, Fd, G, G2 = z.shape
    codes = z.permute(0, 2, 3, 1).reshape(-1, Fd)
    return codes, torch.arange(B * G * G2, device=z.device).view(B, G, G2)


class CausalConv(nn.Module):
    """A conv whose output at row r sees only rows <= r (padding on top, none below), with
    a residual connection; stacking them grows the context upwards, never downwards."""

    def __init__(self, channels: int, hidden: int, kh: int = 3, kw: int = 3):
        super().__init__()
        self.pad = (kw // 2, kw // 2, kh - 1, 0)  # left, right, top, bottom
        self.conv = nn.Conv2d(channels, hidden, (kh, kw))
        self.out = nn.Conv2d(hidden, channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.out(F.relu(self.conv(F.pad(z, self.pad))))


class CPC(Method):
    name = "cpc"
    title = "CPC (contrastive predictive coding)"
    family = "joint-embedding"
    modality = "image"
    summary = "From the patches above, pick out the codes of the patches further down."
    reference = "van den Oord et al. 2018, arXiv:1807.03748; Hénaff et al. 2020, arXiv:1905.09272"
    run_defaults = {"batch_size": 64, "lr": 1e-3}
    backbone_refusals = {"mlp": "cpc encodes patches of the image,"
                                 " and the mlp backbone takes only whole images; use small_cnn or resnet18"}

    @dataclass
    class Config:
        grid: int = setting(5, "Patches per side of the grid.", min=3, max=16)
        patch_frac: float = setting(0.33, "Patch side as a fraction of the image side (0.33 with "
                                          "a 5×5 grid: 9 px patches overlapping their neighbours "
                                          "by half, on 28 px digits).",
                                    min=0.05, max=0.9, label="Patch size (fraction)")
        patch_px: int = setting(12, "Side each patch is resampled to before the shared encoder.",
                                min=4, max=128, label="Patch size (px)")
        first_step: int = setting(2, "Nearest row predicted, counted from the context row "
                                     "(2 skips the row that overlaps the context row, so no "
                                     "target shares pixels with its context).", min=1, max=15)
        steps: int = setting(3, "How many rows are predicted below each context row.", min=1,
                             max=15)
        context_layers: int = setting(2, "Causal conv layers of the context network.", min=1,
                                      max=8)
        jitter: float = setting(0.1, "Random shift of each patch, as a fraction of its side "
                                     "(per-patch augmentation, as in CPC v2).", min=0.0, max=0.5)
        embedding: str = setting("image", "The representation: the encoder on the whole image "
                                          "(cheap, and the better kNN on digits), or the mean "
                                          "of the patch codes (CPC's own pooling).",
                                 choices=("image", "patches"))

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        if len(data.input_shape) != 3:
            raise ValueError("cpc needs images shaped (C, H, W)")
        if cfg.first_step >= cfg.grid:
            raise ValueError(f"first_step={cfg.first_step} leaves nothing to predict in a "
                             f"{cfg.grid}-row grid; use a first_step below grid")
        self.offsets = [k for k in range(cfg.first_step, cfg.first_step + cfg.steps) if k < cfg.grid]
        self.context = nn.Sequential(*[CausalConv(feat_dim, feat_dim) for _ in range(cfg.context_layers)])
        self.predictors = nn.ModuleList(nn.Conv2d(feat_dim, feat_dim, 1) for _ in self.offsets)

    def codes(self, x: torch.Tensor, jitter: float = 0.0) -> torch.Tensor:
        """(B, F, G, G): the shared encoder's code of every patch (all patches in one batch)."""
        cfg = self.cfg
        patches = patch_grid(x, cfg.grid, cfg.patch_frac, cfg.patch_px, jitter)
        z = self.backbone(patches.flatten(0, 1)).view(len(x), cfg.grid, cfg.grid, -1)
        return z.permute(0, 3, 1, 2)

    def predictions(self, z: torch.Tensor):
        """For each offset k: predicted codes of rows k.. from the context of rows ..G−1−k."""
        c = self.context(z)
        for k, predictor in zip(self.offsets, self.predictors):
            yield k, predictor(c[:, :, :-k])  # (B, F, G − k, G): for target rows k..G−1

    def training_step(self, batch: Batch) -> StepOutput:
        z = self.codes(batch.x, self.cfg.jitter)
        Fd = z.shape[1]
        codes, idx = flatten_grid(z)  # every patch of every image: positives and negatives
        losses, correct, total = [], 0.0, 0
        for k, pred in self.predictions(z):
            p = pred.permute(0, 2, 3, 1).reshape(-1, Fd)
            target = idx[:, k:, :].reshape(-1)
            losses.append(cpc_loss(p, codes, target))
            with torch.no_grad():
                correct = correct + ((p.float() @ codes.float().T).argmax(1) == target).float().sum()
                total += len(target)
        return StepOutput(torch.stack(losses).mean(), {"cpc_acc": correct / total})

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder on the whole image, or the mean of the patch codes (CPC's pooling)."""
        if self.cfg.embedding == "patches":
            return self.codes(x).mean(dim=(2, 3))
        return self.backbone(x)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        z = self.codes(x)
        B, G = len(x), z.shape[-1]
        k, pred = next(self.predictions(z))  # the nearest offset
        codes, _ = flatten_grid(z)
        patches = patch_grid(x, G, self.cfg.patch_frac, x.shape[-1])  # full-size patch views
        H, W = x.shape[-2:]
        side = self.cfg.patch_frac * min(H, W)
        step_y, step_x = (H - side) / (G - 1), (W - side) / (G - 1)
        rgb = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        context, true, found, captions = [], [], [], [[], [], []]
        for b in range(B):  # 8 pictures for people, not a training loop
            r, col = b % (G - k), (3 * b + 1) % G
            best = int((pred[b, :, r, col] @ codes.T).argmax())
            target = (b * G + r + k) * G + col
            img = rgb[b].clone()
            visible = int(round(r * step_y + side))
            # the rows the context has not seen: dimmed and tinted blue (visible on black)
            tint = torch.tensor([0.0, 0.05, 0.3], device=x.device).view(3, 1, 1)
            img[:, visible:] = 0.4 * img[:, visible:] + tint
            y0, x0 = int(round((r + k) * step_y)), int(round(col * step_x))
            y1, x1 = min(H, y0 + int(round(side))) - 1, min(W, x0 + int(round(side))) - 1
            colour = torch.tensor([1.0, 0.2, 0.2], device=x.device).view(3, 1)
            img[:, y0, x0:x1 + 1] = colour
            img[:, y1, x0:x1 + 1] = colour
            img[:, y0:y1 + 1, x0] = colour
            img[:, y0:y1 + 1, x1] = colour
            context.append(img)
            true.append(patches[b, (r + k) * G + col])
            found.append(patches.flatten(0, 1)[best])
            fb, rest = divmod(best, G * G)
            captions[0].append(f"rows ≤ {r} → row {r + k}")
            captions[1].append(f"true patch ({r + k}, {col})")
            captions[2].append("✓ picked the true patch" if best == target else
                               f"✗ picked image {fb} ({rest // G}, {rest % G})")
        tiles = torch.cat([torch.stack(context), torch.stack(true).expand(-1, 3, -1, -1)
                           if x.shape[1] == 1 else torch.stack(true),
                           torch.stack(found).expand(-1, 3, -1, -1) if x.shape[1] == 1
                           else torch.stack(found)])
        return {"predictions": Preview.from_tensor(
            "Context (blue: rows not seen yet, red: target) / true patch / patch the model picked",
            tiles, captions[0] + captions[1] + captions[2], columns=B)}
