"""View settings of the methods that augment their inputs: the two-view recipe shared by the
joint-embedding methods (SimCLR, MoCo, BYOL, VICReg, Deep InfoMax) and the crop-and-flip of the
colour-prediction methods."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.augment import ViewConfig, random_flip, random_resized_crop
from workbench.config import setting


@dataclass
class ViewSettings:
    """Augmentation settings shared by the two-view methods (SimCLR, MoCo, BYOL, VICReg, DIM)."""

    crop_min: float = setting(0.3, "Smallest crop as a fraction of the image area.",
                              min=0.01, max=1.0, label="Smallest crop")
    jitter: float = setting(0.4, "Strength of brightness/contrast/saturation jitter.",
                            min=0.0, max=1.0)
    flip: bool = setting(False, "Random horizontal flips (off for digits, whose mirror "
                                "images are other shapes).")
    blur_p: float = setting(0.0, "Probability of Gaussian blur per view.", min=0.0, max=1.0,
                            label="Blur probability")


def view_config(cfg, channels: int) -> ViewConfig:
    """SimCLR's view recipe; colour terms only where there is colour to change."""
    colour = channels == 3
    return ViewConfig(crop_scale=(cfg.crop_min, 1.0), flip_p=0.5 if cfg.flip else 0.0,
                      jitter_p=0.8, brightness=cfg.jitter, contrast=cfg.jitter,
                      saturation=cfg.jitter if colour else 0.0, hue=min(0.1, cfg.jitter / 4) if colour else 0.0,
                      gray_p=0.2 if colour else 0.0, blur_p=cfg.blur_p)


def training_crops(x: torch.Tensor, crop_min: float, flip: bool) -> torch.Tensor:
    """A random crop of at least crop_min of the area, resized back, and a random left-right flip
    per image: the training augmentation of colour-prediction nets. Without it a 3-epoch run on
    shapes fits its exact training images and its kNN falls below the random-init floor."""
    if crop_min < 1:
        x = random_resized_crop(x, scale=(crop_min, 1.0))
    return random_flip(x) if flip else x
