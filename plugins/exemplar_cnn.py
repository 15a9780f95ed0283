"""Exemplar CNN: every one of N seed images is a class made of its heavy augmentations (Dosovitskiy et al. 2014, arXiv:1406.6909)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.augment import random_view
from workbench.config import setting
from workbench.views import ViewSettings, view_config

PREVIEW_CLASSES = 4
PREVIEW_MEMBERS = 8


def store_seeds(seeds: torch.Tensor, seen: torch.Tensor, x: torch.Tensor) -> None:
    """Fill the free seed slots with the batch's images, in batch order: the first N images the
    run sees are the N surrogate classes.

    With N up to the batch size every class has its seed from the first step on. (Keeping only
    dataset rows below N instead left most classes unseen through the whole first epoch: a
    2-epoch run on mnist5k then trained on a handful of classes and fell below the
    random-init floor.) The host shuffles each epoch without repeats, so the seeds are N
    different images.
    """
    free = (~seen).nonzero().squeeze(1)
    take = min(len(free), len(x))
    if take:
        seeds[free[:take]] = x[:take].to(seeds.dtype)
        seen[free[:take]] = True


def draw_classes(seen: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n surrogate classes drawn uniformly (with replacement) from the seeds seen so far."""
    pool = seen.nonzero().squeeze(1)
    pick = torch.randint(0, len(pool), (n,), generator=generator, device=pool.device)
    return pool[pick]


def exemplar_loss(logits: torch.Tensor, classes: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """Cross entropy over the N surrogate classes, with the classes not seen yet left out of the
    softmax: a class with no seed image has no examples and must not be a free negative."""
    masked = logits.float().masked_fill(~seen, float("-inf"))
    return F.cross_entropy(masked, classes)


def small_affine(x: torch.Tensor, degrees: float, scale: tuple[float, float], shift: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Per image: rotation in ±degrees, isotropic scaling in `scale`, translation up to `shift`
    of the side (Exemplar CNN's rotation, scaling and translation), by one grid_sample."""
    n = len(x)
    u = torch.rand(4, n, generator=generator, device=x.device)
    angle = (2 * u[0] - 1) * math.radians(degrees)
    s = scale[0] + (scale[1] - scale[0]) * u[1]
    tx, ty = (2 * u[2] - 1) * 2 * shift, (2 * u[3] - 1) * 2 * shift  # grid units: the side is 2
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


class ExemplarCNN(Method):
    name = "exemplar_cnn"
    title = "Exemplar CNN (surrogate classes)"
    family = "pretext"
    modality = "image"
    summary = "Each of N seed images is a class of its own heavy augmentations; classify them."
    reference = "Dosovitskiy et al. 2014, arXiv:1406.6909"
    # 3e-3 with 64 seeds and a cosine classifier: a 2-epoch (62-step) mnist5k run reached kNN
    # 0.829 against the random-init floor's 0.768 (1e-3, 1000 seeds, linear softmax: 0.759)
    run_defaults = {"batch_size": 128, "lr": 3e-3}

    @dataclass
    class Config(ViewSettings):
        seeds: int = setting(64, "Number N of seed images, one surrogate class each (capped at "
                                 "the training set's size). Few classes are learnt in a short run: "
                                 "in 62 steps 1000 classes see ~8 members each and the loss stays "
                                 "at ln N; the paper's 8000 take hours.", min=2, max=100_000,
                             label="Seed images")
        degrees: float = setting(20.0, "Largest rotation of an augmented member, in degrees.", min=0.0, max=180.0)
        scale_min: float = setting(0.7, "Smallest scaling of a member.", min=0.1, max=1.0)
        shift: float = setting(0.2, "Largest translation, as a fraction of the image side.", min=0.0, max=0.5)
        hidden: int = setting(512, "Units of the fully connected ReLU layer between the encoder and "
                                   "the N-way softmax (the paper's 512f; 0 = the softmax straight on "
                                   "the encoder's features).", min=0, max=8192, label="Hidden units")
        cosine_scale: float = setting(10.0, "Scale s of a cosine classifier, logits = s·cos(h, w_c): "
                                            "every class weighs the same whatever its norm, which "
                                            "learnt the surrogate classes faster than a linear "
                                            "softmax (0 = a plain linear classifier).", min=0.0,
                                      max=100.0, label="Cosine scale")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        n = min(cfg.seeds, data.train_size)
        # The paper's fully connected layer before the softmax: it, not the encoder's pooled
        # features (the representation), takes the fit to the N surrogate classes.
        self.hidden = (nn.Sequential(nn.Linear(feat_dim, cfg.hidden), nn.ReLU(inplace=True))
                       if cfg.hidden else nn.Identity())
        # a cosine classifier has no bias: its logits are scaled cosines only
        self.classifier = nn.Linear(cfg.hidden or feat_dim, n, bias=cfg.cosine_scale == 0)
        self.views = view_config(cfg, data.channels)
        self.register_buffer("seeds", torch.zeros(n, *data.input_shape))
        self.register_buffer("seen", torch.zeros(n, dtype=torch.bool))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Surrogate-class logits of images x: linear, or s·cos(h, w_c) with a cosine scale."""
        h = self.hidden(self.backbone(x))
        if self.cfg.cosine_scale > 0:
            return self.cfg.cosine_scale * F.normalize(h, dim=1) @ F.normalize(self.classifier.weight, dim=1).T
        return self.classifier(h)

    def augment(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A heavy random transformation per image: crop, rotation/scale/shift, colour, contrast."""
        x = small_affine(x, self.cfg.degrees, (self.cfg.scale_min, 1.0), self.cfg.shift, generator)
        return random_view(x, self.views, generator)

    def training_step(self, batch: Batch) -> StepOutput:
        store_seeds(self.seeds, self.seen, batch.x)
        classes = draw_classes(self.seen, len(batch.x))
        logits = self.logits(self.augment(self.seeds[classes]))
        loss = exemplar_loss(logits, classes, self.seen)
        with torch.no_grad():
            acc = (logits.masked_fill(~self.seen, float("-inf")).argmax(1) == classes).float().mean()
        return StepOutput(loss, {"surrogate_acc": acc, "seen_classes": self.seen.sum().float()})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        if not self.seen.any():
            return {}
        g = torch.Generator(device=self.seeds.device).manual_seed(0)  # the same classes every time
        classes = draw_classes(self.seen, PREVIEW_CLASSES, g)
        per = PREVIEW_MEMBERS - 1
        members = self.augment(self.seeds[classes].repeat_interleave(per, 0), g)
        pred = self.logits(members).masked_fill(~self.seen, float("-inf")).argmax(1)
        rows, captions = [], []
        for k, c in enumerate(classes.tolist()):
            rows += [self.seeds[c:c + 1], members[k * per:(k + 1) * per]]
            captions += [f"seed · class {c}"] + ["✓ its class" if p == c else f"✗ class {p}"
                                                 for p in pred[k * per:(k + 1) * per].tolist()]
        return {"members": Preview.from_tensor(
            "Surrogate classes: a seed image, then members made by heavy augmentation (✓ classified as its seed)",
            torch.cat(rows), captions, columns=PREVIEW_MEMBERS)}
