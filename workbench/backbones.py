"""Encoders shared by every method: a small CNN (2-D for images, 1-D for sequences), ResNet-18
with a CIFAR stem (images only), and an MLP on the flattened input."""
from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

from .config import ConfigError

BACKBONES: dict[str, str] = {
    "small_cnn": "3 conv blocks (32-64-128 channels), 128-d features; fast on CPU (default); "
                 "a 1-D CNN on sequences",
    "resnet18": "ResNet-18 with CIFAR stem (3x3 conv, no max-pool), 512-d features; images only",
    "mlp": "flatten -> 512 -> 256 with BatchNorm and ReLU, 256-d features",
}
# Backbones that build for sequences (C, T); the others are image networks.
SEQUENCE_BACKBONES = ("small_cnn", "mlp")


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


def resnet18(input_shape: tuple[int, int, int]) -> tuple[nn.Module, int]:
    """torchvision ResNet-18 (random init) with the CIFAR stem used by SimCLR on small images:
    a 3x3 stride-1 first conv and no max-pool, so 32x32 inputs keep their detail."""
    from torchvision.models import resnet18 as tv_resnet18  # torchvision is slow to import

    net = tv_resnet18(weights=None)
    net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return nn.Sequential(Normalize(), net), 512


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
    "resnet18": resnet18,
    "mlp": mlp,
}


def backbone_problem(name: str, modality: str) -> str | None:
    """Why backbone `name` cannot encode data of this modality (one line), or None."""
    if modality == "sequence" and name not in SEQUENCE_BACKBONES:
        return (f"backbone {name!r} is an image network and cannot encode sequences; "
                f"use {' or '.join(SEQUENCE_BACKBONES)} (small_cnn is a 1-D CNN on sequences)")
    return None


def build_backbone(name: str, input_shape: tuple[int, ...], **kwargs) -> tuple[nn.Module, int]:
    """Build backbone `name` for images (C, H, W) or sequences (C, T); returns (module, feature_dim).

    The module takes float (B, C, H, W) in [0, 1] or standardised float (B, C, T) and returns
    (B, feature_dim). kwargs go to the builder (small_cnn: width; mlp: hidden, out_dim).
    A backbone that cannot encode sequences raises ConfigError (a user's choice to fix).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(BACKBONES)}")
    if len(input_shape) not in (2, 3) or min(input_shape) < 1:
        raise ValueError(f"backbone {name!r} needs an image (C, H, W) or sequence (C, T) input "
                         f"shape, got {tuple(input_shape)}")
    problem = backbone_problem(name, "sequence" if len(input_shape) == 2 else "image")
    if problem:
        raise ConfigError(problem)
    return _BUILDERS[name](tuple(int(s) for s in input_shape), **kwargs)


def feature_trunk(backbone: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """The backbone up to its global average pooling, i.e. a function giving its last feature
    map (B, C, h, w); None for a backbone without one (mlp).

    Averaging the returned map over space gives exactly backbone(x). The function is built on
    the fly from the backbone's own modules rather than stored, so no module is registered
    twice in a state dict. Methods that read feature maps (colour prediction, VQ-VAE) use this
    instead of looking inside the backbones.
    """
    if (isinstance(backbone, nn.Sequential) and len(backbone) >= 3
            and isinstance(backbone[-2], nn.AdaptiveAvgPool2d) and isinstance(backbone[-1], nn.Flatten)):
        return backbone[:-2]
    if isinstance(backbone, nn.Sequential) and len(backbone) == 2 and type(backbone[1]).__name__ == "ResNet":
        norm, r = backbone[0], backbone[1]

        def trunk(x: Tensor) -> Tensor:
            x = r.maxpool(r.relu(r.bn1(r.conv1(norm(x)))))
            return r.layer4(r.layer3(r.layer2(r.layer1(x))))
        return trunk
    return None
