"""Shared by the autoregressive image models: binarised pixels, Bernoulli likelihoods, the independent-pixels floor, pictures of drawing."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.render import heatmap_tile

UNDRAWN = (0.20, 0.30, 0.55)  # pixels a sampler has not reached yet: a blue no digit has
DRAWING_FRACTIONS = (1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0)
SMOOTHING = 1.0  # add-one (Laplace) counts, so no pixel of the floor has probability 0 or 1


@contextmanager
def one_thread():
    """Run a loop of many tiny steps (pixel-by-pixel sampling) on one CPU thread: threads gain
    nothing there, and on a busy machine their waiting on each other made a 64-pixel sample
    take minutes instead of a fraction of a second."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def binarise(x: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] -> {0, 1} at 0.5 (fixed binarisation: the likelihood is then exact)."""
    return (x > 0.5).to(torch.float32)


def bernoulli_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """−log p(x) per image in nats, summed over every pixel: (B,), from logits of p(x_i = 1 | …)."""
    nll = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return nll.flatten(1).sum(1)


def pixel_marginals(batches: Iterator[Batch]) -> torch.Tensor:
    """Each binarised pixel's probability of being on over a split, add-one smoothed: (C, H, W)."""
    on, n = None, 0
    for b in batches:
        s = binarise(b.x).sum(0)
        on = s if on is None else on + s
        n += len(b.x)
    if on is None:
        raise ValueError("no images to count pixels over")
    return (on + SMOOTHING) / (n + 2 * SMOOTHING)


def marginal_logits(x: torch.Tensor) -> torch.Tensor:
    """Log-odds of each pixel being on in a batch of images in [0, 1], add-one smoothed: (D,).
    The output biases start here, as the independent-pixels model, so training spends its
    steps on the dependencies between pixels rather than on learning that the edges are dark."""
    on = binarise(x).flatten(1).sum(0)
    return torch.logit((on + SMOOTHING) / (len(x) + 2 * SMOOTHING))


def independent_pixels_nll(marginals: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−log p(x) in nats (B,) under independent pixels with these marginals: the floor an
    autoregressive model must get below (every gain is from dependencies between pixels)."""
    logits = torch.logit(marginals.float()).expand_as(x)
    return bernoulli_nll(logits, binarise(x))


@torch.no_grad()
def likelihood_measures(nll: Callable[[torch.Tensor], torch.Tensor],
                        batches: Callable[[str], Iterator[Batch]], unit: str = "nats/image") -> dict[str, float]:
    """Test NLL of the model (nll: images in [0, 1] -> (B,) nats) beside the independent-pixels
    floor fitted on the train split, in nats per image or bits per dimension."""
    marginals = pixel_marginals(batches("train"))
    total = floor = 0.0
    n, dims = 0, 1
    for b in batches("test"):
        total += float(nll(b.x).double().sum())
        floor += float(independent_pixels_nll(marginals, b.x).double().sum())
        n += len(b.x)
        dims = b.x[0].numel()
    if n == 0:
        return {}
    scale = 1.0 / (dims * math.log(2)) if unit == "bits/dim" else 1.0
    return {f"test NLL ({unit})": total / n * scale, f"independent pixels NLL ({unit})": floor / n * scale}


def drawing_frames(samples: torch.Tensor, fractions=DRAWING_FRACTIONS) -> tuple[torch.Tensor, list[str]]:
    """Binary samples (N, 1, H, W) drawn in raster order, as they stood after each fraction of
    the pixels: (N · len(fractions), 3, H, W), pixels not yet drawn in UNDRAWN blue; with captions."""
    n, _, h, w = samples.shape
    d = h * w
    order = torch.arange(d, device=samples.device).view(1, 1, h, w)
    undrawn = torch.tensor(UNDRAWN, device=samples.device).view(1, 3, 1, 1)
    frames, captions = [], []
    for i in range(n):
        for f in fractions:
            k = int(round(f * d))
            done = order < k
            frames.append(torch.where(done, samples[i:i + 1].expand(-1, 3, -1, -1), undrawn))
            captions.append(f"sample {i + 1} · {k}/{d} pixels")
    return torch.cat(frames), captions


def conditionals_preview(x: torch.Tensor, logits: torch.Tensor, labels: list[str]) -> Preview:
    """For each binarised digit (N, 1, H, W): the digit, p(x_i = 1 | pixels before i) and the
    surprise −log p(x_i | x_<i) per pixel (the image's NLL is its sum)."""
    p = torch.sigmoid(logits.float())
    surprise = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="none")
    tiles, captions = [], []
    top = float(surprise.max().clamp_min(1e-6))
    for i in range(len(x)):
        grey = (x[i, 0].cpu().numpy() * 255).astype(np.uint8)
        tiles.append(np.repeat(grey[:, :, None], 3, axis=2))
        captions.append(f"binarised input{' · ' + labels[i] if labels[i] else ''}")
        tiles.append(heatmap_tile(p[i, 0].cpu().numpy(), vmin=0.0, vmax=1.0, cmap="grey"))
        captions.append("p(pixel on | pixels before it)")
        tiles.append(heatmap_tile(surprise[i, 0].cpu().numpy(), vmin=0.0, vmax=top, cmap="viridis"))
        captions.append(f"−log p per pixel · {float(surprise[i].sum()):.1f} nats")
    return Preview("Per-pixel conditionals of a few digits (raster order)", tiles, captions, columns=6)


class BinaryPixelModel(Method):
    """What FVSBN and NADE share: an exact likelihood over binarised pixels in raster order.

    A subclass defines its parameters (with the output biases as `bias`, (D,)), `logits(x)` (the
    conditional logits (B, D) of images in [0, 1]) and `sample(n)`; this class gives the NLL, the
    training step (the output biases start at the first batch's pixel log-odds, so short runs
    spend their steps on dependencies), the measures against the independent-pixels floor and
    the previews. The host's encoder is unused: the model is the whole density.
    """

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.backbone = nn.Identity()
        self.shape = tuple(data.input_shape)
        self.n_pixels = math.prod(self.shape)
        self.register_buffer("started", torch.tensor(False))  # checkpointed: a resumed run keeps its biases

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Exact −log p(x) in nats per image (B,) of images in [0, 1], after binarising them."""
        return bernoulli_nll(self.logits(x), binarise(x).flatten(1))

    def training_step(self, batch: Batch) -> StepOutput:
        if not self.started:  # data-dependent init of the output biases (marginal_logits)
            with torch.no_grad():
                self.bias.copy_(marginal_logits(batch.x))
                self.started.fill_(True)
        nll = self.nll(batch.x).mean()
        # per pixel, so the learning rate does not depend on the image size; logged per image
        return StepOutput(nll / self.n_pixels, {"train NLL (nats/image)": nll.detach()})

    def measures(self, batches) -> dict[str, float]:
        return likelihood_measures(self.nll, batches, "nats/image")

    def previews(self, batch: Batch) -> dict[str, Preview]:
        with one_thread():
            drawn = self.sample(6)
        frames, captions = drawing_frames(drawn)
        x = binarise(batch.x[:4])
        labels = [f"label {int(y)}" if int(y) >= 0 else "" for y in batch.y[:4]]
        logits = self.logits(x).view_as(x)
        return {"samples": Preview.from_tensor("Samples drawn pixel by pixel (blue: not drawn yet)",
                                               frames, captions, columns=6),
                "conditionals": conditionals_preview(x, logits, labels)}
