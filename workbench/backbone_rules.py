"""Which backbones exist and what data each can encode: names, descriptions and the rules,
without torch, so the GUI can grey the ones that do not fit."""
from __future__ import annotations

BACKBONES: dict[str, str] = {
    "small_cnn": "3 conv blocks (32-64-128 channels), 128-d features; fast on CPU (default); "
                 "a 1-D CNN on sequences",
    "small_cnn_grid": "small_cnn pooled to a 3x3 grid instead of one average, 1,152-d features: "
                      "keeps where in the image each feature is (digits); images only",
    "small_cnn_levels": "small_cnn read at all three blocks, each map GeM-pooled and scaled to unit "
                        "length, 224-d features: keeps colour, size and shape apart (shapes); images only",
    "resnet18": "ResNet-18, 512-d features; CIFAR stem (3x3 conv, no max-pool) below 64 px, "
                "ImageNet stem (7x7 stride-2 conv + max-pool) from 64 px; images only",
    "mlp": "flatten -> 512 -> 256 with BatchNorm and ReLU, 256-d features",
    "resnet50": "ResNet-50, 2048-d features; CIFAR stem below 64 px, ImageNet stem from 64 px; "
                "images only",
    "vit_tiny": "ViT-Tiny (12 layers, 3 heads), 192-d class-token features; patch 4 px below "
                "64 px, 8 px up to 127 px, 16 px from 128 px; square images only",
    "vit_small": "ViT-Small (12 layers, 6 heads), 384-d class-token features; patch size as "
                 "vit_tiny; square images only",
}
# Backbones that build for sequences (C, T); the others are image networks.
SEQUENCE_BACKBONES = ("small_cnn", "mlp")
# ResNets switch to the ImageNet stem (7x7 stride-2 conv, 3x3 max-pool: 4x smaller maps) from this
# side on; below it the CIFAR stem keeps the few pixels a small image has.
IMAGENET_STEM_MIN_SIDE = 64
# (layers, heads, width) of the ViT sizes of Touvron et al. 2021 (DeiT); MLP width is 4x.
VIT_SIZES: dict[str, tuple[int, int, int]] = {"vit_tiny": (12, 3, 192), "vit_small": (12, 6, 384)}


def vit_patch_size(side: int) -> int:
    """The patch side a ViT uses on images of this side: 4 below 64 px (8x8 tokens at 32 px),
    8 up to 127 px (8x8 at 64, 12x12 at 96), 16 from 128 px (14x14 at 224)."""
    return 4 if side < 64 else 8 if side < 128 else 16


def backbone_problem(name: str, modality: str,
                     input_shape: tuple[int, ...] | None = None) -> str | None:
    """Why backbone `name` cannot encode data of this modality (and, when given, this input
    shape (C, H, W)), in one line, or None."""
    if modality == "sequence" and name not in SEQUENCE_BACKBONES:
        return (f"backbone {name!r} is an image network and cannot encode sequences; "
                f"use {' or '.join(SEQUENCE_BACKBONES)} (small_cnn is a 1-D CNN on sequences)")
    if name in VIT_SIZES and input_shape is not None and len(input_shape) == 3:
        _, h, w = input_shape
        if h != w:
            return f"backbone {name!r} needs square images, got {h}x{w}"
        patch = vit_patch_size(h)
        if h % patch:
            fit = max(patch, h - h % patch)
            return (f"backbone {name!r} cuts {h}-px images into {patch}-px patches, so the side "
                    f"must be a multiple of {patch}; set image_size to {fit} or {fit + patch}")
    return None


def method_backbone_problem(method, backbone: str, modality: str,
                            input_shape: tuple[int, ...] | None = None) -> str | None:
    """Why `method` (a Method class, or its listing's MethodInfo: both answer backbone_problem)
    cannot train with `backbone` on data of `modality` (and input_shape, when known), in one
    line, or None: the method's own refusal first, then the backbone's."""
    return method.backbone_problem(backbone, modality) or backbone_problem(backbone, modality, input_shape)
