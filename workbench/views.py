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
    hue: float = setting(0.1, "Largest hue turn of the colour jitter, as a fraction of the colour "
                              "wheel either way, at jitter 0.4 and above (less below it); 0.5 lets "
                              "any colour become any other.", min=0.0, max=0.5, label="Hue range")
    rotate: float = setting(0.0, "Largest random rotation of a view either way, in degrees "
                                 "(small turns suit digits and handwriting).", min=0.0, max=180.0,
                            label="Rotation")
    shift: float = setting(0.0, "Largest random move of a view either way, as a fraction of the "
                                "image side, without resizing it (views differ in where an object "
                                "lies, not in its size; the edge pixels fill in).", min=0.0, max=0.5,
                           label="Shift")
    flip: bool = setting(False, "Random horizontal flips (off for digits, whose mirror "
                                "images are other shapes).")
    blur_p: float = setting(0.0, "Probability of Gaussian blur per view.", min=0.0, max=1.0,
                            label="Blur probability")


def view_config(cfg, channels: int) -> ViewConfig:
    """SimCLR's view recipe; colour terms only where there is colour to change. The hue range
    grows with the jitter up to jitter 0.4 (SimCLR's strength), so jitter 0 still means no
    colour change and the default range (0.1) gives SimCLR's min(0.1, jitter / 4)."""
    colour = channels == 3
    return ViewConfig(crop_scale=(cfg.crop_min, 1.0), flip_p=0.5 if cfg.flip else 0.0,
                      rotate=cfg.rotate, shift=cfg.shift, jitter_p=0.8, brightness=cfg.jitter, contrast=cfg.jitter,
                      saturation=cfg.jitter if colour else 0.0,
                      hue=cfg.hue * min(1.0, cfg.jitter / 0.4) if colour else 0.0,
                      gray_p=0.2 if colour else 0.0, blur_p=cfg.blur_p)


def training_crops(x: torch.Tensor, crop_min: float, flip: bool) -> torch.Tensor:
    """A random crop of at least crop_min of the area, resized back, and a random left-right flip
    per image: the training augmentation of colour-prediction nets. Without it a 3-epoch run on
    shapes fits its exact training images and its kNN falls below the random-init floor."""
    if crop_min < 1:
        x = random_resized_crop(x, scale=(crop_min, 1.0))
    return random_flip(x) if flip else x
