"""PixelCNN: masked convolutions (type A, then B) give every binarised pixel a distribution given the pixels above and to its left (van den Oord et al. 2016)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.autoregressive import (bernoulli_nll, binarise, conditionals_preview, drawing_frames,
                                         likelihood_measures, one_thread)

SAMPLE_SEED = 20160125  # fixed: the samples preview redraws the same uniforms, so only the model changes
_CENTRE = (230, 80, 80)
_SEEN = (236, 236, 236)
_UNSEEN = (44, 48, 56)


def causal_mask(kernel: int, kind: str) -> torch.Tensor:
    """The (k, k) mask of a masked convolution: rows above the centre, and the centre row left
    of the centre; type "B" also keeps the centre itself (a hidden layer may read its own
    position, which already only knows earlier pixels), type "A" (the first layer) does not."""
    if kind not in ("A", "B"):
        raise ValueError(f"mask type must be 'A' or 'B', got {kind!r}")
    mask = torch.zeros(kernel, kernel)
    c = kernel // 2
    mask[:c] = 1
    mask[c, :c + (kind == "B")] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded convolution whose weights are multiplied by causal_mask on every call."""

    def __init__(self, cin: int, cout: int, kernel: int, kind: str):
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        self.register_buffer("mask", causal_mask(kernel, kind), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNNNet(nn.Module):
    """Type-A 7×7 input layer, residual type-B 3×3 layers, 1×1 output to one logit per pixel."""

    def __init__(self, channels: int, layers: int):
        super().__init__()
        self.first = MaskedConv2d(1, channels, 7, "A")
        self.blocks = nn.ModuleList(MaskedConv2d(channels, channels, 3, "B") for _ in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                  nn.Conv2d(channels, 1, 1))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature map after the first layer and after every block (B, C, H, W) each."""
        h = self.first(x)
        out = [h]
        for block in self.blocks:
            h = h + block(F.relu(h))
            out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1])


class PixelCNN(Method):
    name = "pixelcnn"
    title = "PixelCNN (masked convolutions)"
    family = "autoregressive"
    modality = "image"
    input_channels = (1,)
    summary = ("A convolutional autoregressive model over binarised pixels: masked convolutions let "
               "each pixel see only those above and to its left; exact bits/dim, samples pixel by "
               "pixel. Representation: the last layer's features averaged over the image.")
    reference = "van den Oord, Kalchbrenner & Kavukcuoglu 2016, arXiv:1601.06759"
    run_defaults = {"batch_size": 32, "lr": 3e-3, "weight_decay": 0.0}

    @dataclass
    class Config:
        channels: int = setting(16, "Feature maps of every masked layer (and the representation's size).",
                                min=4, max=512)
        layers: int = setting(5, "Residual type-B 3×3 masked layers after the type-A 7×7 one.",
                              min=0, max=30)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.backbone = nn.Identity()  # the model is the whole density; the host's encoder is unused
        self.net = PixelCNNNet(cfg.channels, cfg.layers)
        self.shape = tuple(data.input_shape)
        self.feat_dim = cfg.channels

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel logits (B, 1, H, W) of p(x_ij = 1 | pixels before), after binarising x."""
        return self.net(binarise(x))

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        return bernoulli_nll(self.logits(x), binarise(x))

    def training_step(self, batch: Batch) -> StepOutput:
        nll = self.nll(batch.x).mean()
        pixels = batch.x[0].numel()
        return StepOutput(nll / pixels, {"train NLL (bits/dim)": nll.detach() / (pixels * np.log(2))})

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's features, averaged over every position."""
        return self.net.features(binarise(x))[-1].mean((2, 3))

    def measures(self, batches) -> dict[str, float]:
        return likelihood_measures(self.nll, batches, "bits/dim")

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n images drawn pixel by pixel in raster order, and the logits each pixel was drawn
        from: (n, 1, H, W) twice. One pass per pixel over only the rows that can reach it (the
        type-A layer reaches 3 rows up, every type-B layer one more), so the result is exact."""
        _, h, w = self.shape
        reach = 3 + len(self.net.blocks)
        device = next(self.parameters()).device
        u = torch.rand(n, 1, h, w, generator=torch.Generator().manual_seed(SAMPLE_SEED)).to(device)
        x = torch.zeros(n, 1, h, w, device=device)
        drawn_from = torch.zeros(n, 1, h, w, device=device)
        for i in range(h):
            top = max(0, i - reach)
            for j in range(w):
                logit = self.net(x[:, :, top:i + 1])[:, :, -1, j]
                drawn_from[:, :, i, j] = logit
                x[:, :, i, j] = (u[:, :, i, j] < torch.sigmoid(logit)).float()
        return x, drawn_from

    @torch.enable_grad()
    def receptive_fields(self) -> list[np.ndarray]:
        """For the centre pixel: which input pixels reach its features after each layer, by
        gradient (the masks make every other gradient exactly zero): bool (H, W) per layer."""
        _, h, w = self.shape
        device = next(self.parameters()).device
        x = torch.rand(1, 1, h, w, device=device, requires_grad=True)
        out = []
        for feats in self.net.features(x):
            (grad,) = torch.autograd.grad(feats[0, :, h // 2, w // 2].sum(), x, retain_graph=True)
            out.append((grad[0, 0] != 0).cpu().numpy())
        return out

    def _field_preview(self) -> Preview:
        _, h, w = self.shape
        tiles, captions = [], []
        with one_thread():
            fields = self.receptive_fields()
        for depth, seen in enumerate(fields):
            tile = np.where(seen[:, :, None], np.array(_SEEN, np.uint8), np.array(_UNSEEN, np.uint8))
            tile[h // 2, w // 2] = _CENTRE
            tiles.append(tile.astype(np.uint8))
            # the blind spot: pixels before the centre (above, or left on its row) it cannot see
            before = np.zeros((h, w), bool)
            before[:h // 2] = True
            before[h // 2, :w // 2] = True
            blind = int((before & ~seen).sum())
            captions.append(f"after layer {depth + 1} ({'A' if depth == 0 else 'B'}) · "
                            f"{int(seen.sum())} pixels seen · blind spot {blind}")
        return Preview("Receptive field of the centre pixel (red) by gradient: white = seen; "
                       "the unseen pixels above-right are the blind spot", tiles, captions, columns=len(tiles))

    def previews(self, batch: Batch) -> dict[str, Preview]:
        with one_thread():
            drawn = self.sample(4)[0]
        frames, captions = drawing_frames(drawn)
        x = binarise(batch.x[:4])
        labels = [f"label {int(y)}" if int(y) >= 0 else "" for y in batch.y[:4]]
        return {"samples": Preview.from_tensor("Samples drawn pixel by pixel (blue: not drawn yet)",
                                               frames, captions, columns=6),
                "conditionals": conditionals_preview(x, self.logits(x), labels),
                "receptive_field": self._field_preview()}
