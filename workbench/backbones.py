"""Encoders shared by every method: a small CNN (2-D for images, 1-D for sequences), an MLP on
the flattened input, and torchvision's ResNet-18/50 and ViT-Tiny/Small (images only)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .backbone_rules import (BACKBONES, IMAGENET_STEM_MIN_SIDE, SEQUENCE_BACKBONES, VIT_SIZES,  # noqa: F401
                             backbone_problem, vit_patch_size)
from .config import ConfigError


class Normalize(nn.Module):
    """Map [0, 1] pixels to roughly zero mean, unit scale, so callers never normalise."""

    def forward(self, x: Tensor) -> Tensor:
        return (x - 0.5) / 0.25


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),  # BN makes a bias redundant
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


def _small_cnn_1d(input_shape: tuple[int, int], width: int) -> tuple[nn.Module, int]:
    """The sequence version: kernel-7 Conv1d-BN-ReLU x3, max-pool by 4 after the first two
    (a 142-step receptive field, half of a 256-step sequence), global average pool. No
    Normalize: sequences arrive standardised, not as [0, 1] pixels."""
    c, t = input_shape
    layers: list[nn.Module] = []
    chans = [c, width, 2 * width, 4 * width]
    for i in range(3):
        layers += [nn.Conv1d(chans[i], chans[i + 1], kernel_size=7, padding=3, bias=False),
                   nn.BatchNorm1d(chans[i + 1]), nn.ReLU(inplace=True)]
        if i < 2 and t >= 2:
            layers.append(nn.MaxPool1d(4, ceil_mode=True))
            t = -(-t // 4)
    layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten()]
    return nn.Sequential(*layers), chans[-1]


def small_cnn(input_shape: tuple[int, ...], width: int = 32) -> tuple[nn.Module, int]:
    """Conv-BN-ReLU x3 (width, 2·width, 4·width channels), max-pool after the first two,
    global average pool at the end; 1-D convolutions for sequences shaped (C, T)."""
    if len(input_shape) == 2:
        return _small_cnn_1d(input_shape, width)
    c, h, w = input_shape
    layers: list[nn.Module] = [Normalize()]
    chans = [c, width, 2 * width, 4 * width]
    for i in range(3):
        layers += _conv_block(chans[i], chans[i + 1])
        if i < 2 and min(h, w) >= 2:
            # ceil_mode keeps odd sides (7x7 -> 4x4); skipping at 1 px never pools to nothing
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            h, w = -(-h // 2), -(-w // 2)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), chans[-1]


def small_cnn_grid(input_shape: tuple[int, int, int], width: int = 32, grid: int = 3) -> tuple[nn.Module, int]:
    """small_cnn with its last map average-pooled to grid x grid cells and flattened instead of
    to one cell (4·width·grid² features: 1,152 at the defaults). The global average throws away
    where in the image each feature fired, which is what tells digits apart; a coarse grid keeps
    it (random init on mnist5k: kNN 0.93 against 0.79 with the global average)."""
    net, dim = small_cnn(input_shape, width)
    net[-2] = nn.AdaptiveAvgPool2d(grid)
    return net, dim * grid * grid


class LevelGeM(nn.Module):
    """small_cnn whose every block's feature map is GeM-pooled (p = 3), scaled to unit length and
    concatenated: 7·width features (224 at the defaults)."""

    def __init__(self, net: nn.Sequential, p: float = 3.0):
        super().__init__()
        self.net = net
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        levels = []
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                # GeM (Radenović et al. 2018): between the average (p = 1) and the maximum
                # (p → ∞); in float32, since a cube of bfloat16 activations loses the small ones
                pooled = x.float().clamp_min(1e-6).pow(self.p).mean(dim=(2, 3)).pow(1 / self.p)
                levels.append(F.normalize(pooled, dim=1))
        return torch.cat(levels, dim=1)


def small_cnn_levels(input_shape: tuple[int, int, int], width: int = 32) -> tuple[nn.Module, int]:
    """small_cnn read at all three depths, each map GeM-pooled (see LevelGeM)."""
    net, _ = small_cnn(input_shape, width)
    return LevelGeM(net[:-2]), 7 * width


def _resnet(arch: str, input_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
    """torchvision ResNet (random init) without its classifier. Below IMAGENET_STEM_MIN_SIDE
    px it gets the CIFAR stem SimCLR uses on small images (a 3x3 stride-1 first conv, no
    max-pool, so 32x32 inputs keep their detail); from there on torchvision's own ImageNet stem,
    with its first conv rebuilt only when the images do not have 3 channels."""
    import torchvision.models as tvm  # torchvision is slow to import

    net = getattr(tvm, arch)(weights=None)
    c, h, w = input_shape
    if min(h, w) < IMAGENET_STEM_MIN_SIDE:
        net.conv1 = nn.Conv2d(c, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif c != 3:
        net.conv1 = nn.Conv2d(c, 64, kernel_size=7, stride=2, padding=3, bias=False)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return nn.Sequential(Normalize(), net), dim


def resnet18(input_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
    """ResNet-18, 512-d features; the stem follows the image side (see _resnet)."""
    return _resnet("resnet18", input_shape)


def resnet50(input_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
    """ResNet-50 (bottleneck blocks), 2048-d features; the stem follows the image side."""
    return _resnet("resnet50", input_shape)


class ViT(nn.Module):
    """torchvision's VisionTransformer as an encoder: [0, 1] pixels in, the final class token
    (after the last LayerNorm) out. `encode_visible` runs the same encoder on a subset of the
    patch tokens, which is what MAE needs to drop the masked ones."""

    def __init__(self, input_shape: tuple[int, int, int], layers: int, heads: int, width: int,
                 patch_size: int):
        super().__init__()
        from torchvision.models.vision_transformer import VisionTransformer

        c, side, _ = input_shape
        self.normalize = Normalize()
        self.vit = VisionTransformer(image_size=side, patch_size=patch_size, num_layers=layers,
                                     num_heads=heads, hidden_dim=width, mlp_dim=4 * width)
        self.vit.heads = nn.Identity()
        if c != 3:  # torchvision hard-codes RGB patches
            self.vit.conv_proj = nn.Conv2d(c, width, kernel_size=patch_size, stride=patch_size)
        self.patch_size = patch_size
        self.grid = side // patch_size
        self.width = width

    @property
    def num_patches(self) -> int:
        return self.grid * self.grid

    def patch_tokens(self, x: Tensor) -> Tensor:
        """(B, C, H, W) pixels -> (B, N, width) patch embeddings with their positions added.

        Images of the built size use the learned positions as they are. Methods that encode
        crops or tiles (jigsaw, relative position, CPC) pass other sizes: those are padded with
        mid-grey to whole patches and the position grid is resized bicubically, as timm does
        for dynamic image sizes."""
        x = self.normalize(x)
        p = self.patch_size
        pad_h, pad_w = -x.shape[-2] % p, -x.shape[-1] % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))  # 0 after Normalize is mid-grey
        t = self.vit.conv_proj(x)
        gh, gw = t.shape[-2:]
        pos = self.vit.encoder.pos_embedding[:, 1:]
        if (gh, gw) != (self.grid, self.grid):
            grid = pos.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            pos = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
            pos = pos.flatten(2).transpose(1, 2)
        return t.flatten(2).transpose(1, 2) + pos

    def encode_tokens(self, tokens: Tensor) -> Tensor:
        """Prepend the class token and run the transformer: (B, n, width) -> (B, 1 + n, width)."""
        cls = self.vit.class_token + self.vit.encoder.pos_embedding[:, :1]
        enc = self.vit.encoder
        x = torch.cat([cls.expand(len(tokens), -1, -1), tokens], dim=1)
        return enc.ln(enc.layers(enc.dropout(x)))

    def encode_visible(self, x: Tensor, keep: Tensor) -> Tensor:
        """Encode only the patches listed in keep (B, n_keep) of each image: (B, 1 + n_keep, width)."""
        tokens = self.patch_tokens(x)
        tokens = tokens.gather(1, keep.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        return self.encode_tokens(tokens)

    def forward(self, x: Tensor) -> Tensor:
        return self.encode_tokens(self.patch_tokens(x))[:, 0]


def _vit(name: str, input_shape: tuple[int, int, int], depth: int | None = None,
         patch_size: int | None = None) -> tuple[nn.Module, int]:
    layers, heads, width = VIT_SIZES[name]
    patch = patch_size or vit_patch_size(input_shape[1])
    return ViT(input_shape, depth or layers, heads, width, patch), width


def vit_tiny(input_shape: tuple[int, int, int], depth: int | None = None,
             patch_size: int | None = None) -> tuple[nn.Module, int]:
    """ViT-Tiny: 12 layers (or `depth`), 3 heads, 192-d; patch from vit_patch_size unless given."""
    return _vit("vit_tiny", input_shape, depth, patch_size)


def vit_small(input_shape: tuple[int, int, int], depth: int | None = None,
              patch_size: int | None = None) -> tuple[nn.Module, int]:
    """ViT-Small: 12 layers (or `depth`), 6 heads, 384-d; patch from vit_patch_size unless given."""
    return _vit("vit_small", input_shape, depth, patch_size)


def mlp(input_shape: tuple[int, ...], hidden: int = 512, out_dim: int = 256) -> tuple[nn.Module, int]:
    """Flatten, then two Linear-BN-ReLU layers; a baseline with no spatial or temporal prior.
    Images are normalised first; sequences arrive standardised and pass as they are."""
    n_in = 1
    for s in input_shape:
        n_in *= s
    net = nn.Sequential(
        Normalize() if len(input_shape) == 3 else nn.Identity(),
        nn.Flatten(),
        nn.Linear(n_in, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim, bias=False),
        nn.BatchNorm1d(out_dim),
        nn.ReLU(inplace=True),
    )
    return net, out_dim


_BUILDERS: dict[str, Callable[..., tuple[nn.Module, int]]] = {
    "small_cnn": small_cnn,
    "small_cnn_grid": small_cnn_grid,
    "small_cnn_levels": small_cnn_levels,
    "resnet18": resnet18,
    "mlp": mlp,
    "resnet50": resnet50,
    "vit_tiny": vit_tiny,
    "vit_small": vit_small,
}


def load_backbone_weights(net: nn.Module, path: str) -> None:
    """Initialise `net` from a local state dict file (never downloaded), loaded weights_only.

    Accepted: torchvision's own files (resnet50-*.pth, vit_*.pth: keys as in torchvision's
    model, classifier keys ignored) and state dicts saved from these backbones or from a method
    (prefixes 'backbone.', 'module.' stripped). A file that does not fit — other channels, other
    sizes, missing layers — is a ConfigError naming the first mismatch.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"backbone_weights: no file {str(file)!r}")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files: the file is the user's to fix
        raise ConfigError(f"backbone_weights: cannot read {str(file)!r} as a state dict ({exc})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a workbench checkpoint
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ConfigError(f"backbone_weights: {str(file)!r} is not a state dict of tensors")
    own = net.state_dict()
    # Our modules wrap torchvision's: Sequential(Normalize, resnet) has keys '1.*', ViT 'vit.*'.
    inner = "1." if any(k.startswith("1.") for k in own) else "vit." if any(k.startswith("vit.") for k in own) else ""
    mapped: dict[str, Tensor] = {}
    for key, value in state.items():
        for prefix in ("module.", "backbone."):
            key = key[len(prefix):] if key.startswith(prefix) else key
        if key not in own and inner + key in own:
            key = inner + key
        if key in own:
            mapped[key] = value
    missing = [k for k in own if k not in mapped]
    if missing:
        raise ConfigError(f"backbone_weights: {str(file)!r} does not fit this backbone: "
                          f"{len(missing)} of its {len(own)} tensors are missing (first: {missing[0]})")
    for key, value in mapped.items():
        if value.shape != own[key].shape:
            raise ConfigError(f"backbone_weights: {key} is {tuple(value.shape)} in {str(file)!r} "
                              f"but {tuple(own[key].shape)} here (other image channels, image "
                              f"size or model size?)")
    net.load_state_dict(mapped)


def build_backbone(name: str, input_shape: tuple[int, ...], **kwargs) -> tuple[nn.Module, int]:
    """Build backbone `name` for images (C, H, W) or sequences (C, T); returns (module, feature_dim).

    The module takes float (B, C, H, W) in [0, 1] or standardised float (B, C, T) and returns
    (B, feature_dim). kwargs go to the builder (small_cnn: width; mlp: hidden, out_dim; ViTs:
    depth, patch_size).
    A backbone that cannot encode sequences raises ConfigError (a user's choice to fix).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    if len(input_shape) not in (2, 3) or min(input_shape) < 1:
        raise ValueError(f"backbone {name!r} needs an image (C, H, W) or sequence (C, T) input "
                         f"shape, got {tuple(input_shape)}")
    problem = backbone_problem(name, "sequence" if len(input_shape) == 2 else "image", input_shape)
    if problem:
        raise ConfigError(problem)
    return _BUILDERS[name](tuple(int(s) for s in input_shape), **kwargs)


def feature_trunk(backbone: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """The backbone up to its global average pooling, i.e. a function giving its last feature
    map (B, C, h, w); None for a backbone without one (mlp) or whose output is not its average
    (small_cnn_grid).

    Averaging the returned map over space gives exactly backbone(x). The function is built on
    the fly from the backbone's own modules rather than stored, so no module is registered
    twice in a state dict. Methods that read feature maps (colour prediction, VQ-VAE) use this
    instead of looking inside the backbones.
    """
    # small_cnn_grid pools to a grid, not an average: its output is no summary of one map's
    # channels, so it counts as a backbone without a map (like mlp) for the methods that read one
    if (isinstance(backbone, nn.Sequential) and len(backbone) >= 3
            and isinstance(backbone[-2], nn.AdaptiveAvgPool2d) and backbone[-2].output_size in (1, (1, 1))
            and isinstance(backbone[-1], nn.Flatten)):
        return backbone[:-2]
    if isinstance(backbone, nn.Sequential) and len(backbone) == 2 and type(backbone[1]).__name__ == "ResNet":
        norm, r = backbone[0], backbone[1]

        def trunk(x: Tensor) -> Tensor:
            x = r.maxpool(r.relu(r.bn1(r.conv1(norm(x)))))
            return r.layer4(r.layer3(r.layer2(r.layer1(x))))
        return trunk
    return None
