"""The plugin contract: what a self-supervised method provides and what the host gives it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from .spec import FAMILIES, MODALITIES, DataSpec  # noqa: F401  (part of the plugin contract)

if TYPE_CHECKING:
    from .measures import Splits


@dataclass
class Batch:
    """One training batch on the host's device.

    x is float32 in [0, 1] for images (B, C, H, W), float32 (B, C, T) for sequences and
    int64 token ids for text (see workbench.data.base.model_input).
    """

    x: torch.Tensor
    y: torch.Tensor  # labels, -1 when unlabelled; methods must not train on them
    index: torch.Tensor  # row in the dataset split


@dataclass
class StepOutput:
    """What training_step returns: the loss to minimise and scalars worth plotting."""

    loss: torch.Tensor
    logs: dict[str, float | torch.Tensor] = field(default_factory=dict)


@dataclass
class Preview:
    """A picture the inspector shows with no knowledge of the method.

    `tiles` is a list of uint8 H×W×3 arrays laid out in `columns`; `captions` (optional) has
    one string per tile, e.g. "pred 90° / true 90°".
    """

    title: str
    tiles: list[np.ndarray]
    captions: list[str] = field(default_factory=list)
    columns: int = 8

    @classmethod
    def from_tensor(
        cls, title: str, images: torch.Tensor, captions: list[str] | None = None, columns: int = 8
    ) -> "Preview":
        """Build from a float (N, C, H, W) tensor in [0, 1] (1 or 3 channels)."""
        imgs = images.detach().float().clamp(0, 1).cpu()
        if imgs.shape[1] == 1:
            imgs = imgs.expand(-1, 3, -1, -1)
        arr = (imgs.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        return cls(title=title, tiles=list(arr), captions=list(captions or []), columns=columns)

    @classmethod
    def from_series(
        cls, title: str, series: torch.Tensor | np.ndarray, captions: list[str] | None = None,
        columns: int = 4, size: tuple[int, int] = (48, 96), ylim: tuple[float, float] | None = None,
    ) -> "Preview":
        """Build from sequences (N, T) or (N, C, T): one line plot per item, all on one y
        range (ylim, default shared by the batch) so their amplitudes compare."""
        from workbench.render import sparklines  # numpy only; imported when first used

        if torch.is_tensor(series):
            series = series.detach().float().cpu().numpy()
        tiles = sparklines(series, size=size, ylim=ylim)
        return cls(title=title, tiles=list(tiles), captions=list(captions or []), columns=columns)

    def grid(self, pad: int = 2) -> np.ndarray:
        """All tiles in one uint8 image, `columns` across, with a `pad`-pixel dark gutter."""
        if not self.tiles:
            return np.zeros((1, 1, 3), np.uint8)
        h = max(t.shape[0] for t in self.tiles)
        w = max(t.shape[1] for t in self.tiles)
        cols = max(1, min(self.columns, len(self.tiles)))
        rows = -(-len(self.tiles) // cols)
        out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 32, np.uint8)
        for i, tile in enumerate(self.tiles):
            r, c = divmod(i, cols)
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            out[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        return out


class Method(nn.Module):
    """Base class of every method plugin.

    A method owns its heads, loss, views and previews; the host (workbench.trainer) owns the
    loop, optimiser, device, checkpoints and evaluation. Everything a method registers as a
    sub-module or buffer (EMA targets, queues) is checkpointed with it.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    family: ClassVar[str] = ""
    modality: ClassVar[str] = "image"
    # Every data modality the method trains on, when more than its main one (e.g. a VQ-VAE
    # on images and on sequences); empty means just `modality`.
    modalities: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    # RunConfig values this method trains best with (e.g. {"batch_size": 128}); the CLI and
    # GUI start from them, and a user's explicit setting wins.
    run_defaults: ClassVar[dict[str, Any]] = {}
    # Image channels the method can work with; colour-only methods say (3,).
    input_channels: ClassVar[tuple[int, ...]] = (1, 3)
    # Host backbones it cannot train on, with the reason. The `mlp` backbone takes only whole
    # inputs and has no feature map, so methods that encode patches or read maps refuse it.
    backbone_refusals: ClassVar[dict[str, str]] = {}
    # True when a training step may leave trainable parameters out of the loss (e.g. a head
    # used only on some steps). Several processes then need DistributedDataParallel's search
    # for unused parameters, which costs a graph traversal every step, so it is off otherwise.
    has_unused_parameters: ClassVar[bool] = False

    @dataclass
    class Config:
        pass

    @classmethod
    def accepts(cls, modality: str) -> bool:
        """Whether the method can train on data of this modality."""
        return modality in (cls.modalities or (cls.modality,))

    @classmethod
    def backbone_problem(cls, backbone: str, modality: str) -> str | None:
        """Why the method cannot train on the host backbone named `backbone` for data of this
        modality (one line, shown before a run starts), or None; by default its backbone_refusals."""
        return cls.backbone_refusals.get(backbone)

    @classmethod
    def settings_problem(cls, cfg: Any, run: Any) -> str | None:
        """Why these method settings cannot start a new run of `run` (a workbench RunConfig), one
        line, or None: e.g. a run folder a setting names is missing or does not fit. Checked
        before a new run starts (`ssl-workbench train` refuses with it), not when a checkpoint
        is reloaded. Default: no problem."""
        return None

    def load_initial_weights(self) -> None:
        """Called once a model is built for a new run (and before a resumed run restores its
        checkpoint), never when a finished run is reloaded: load the weights a setting names,
        e.g. a frozen first stage. A ValueError is a user error. Default: nothing to load."""

    def __init__(self, cfg: Any, backbone: nn.Module, feat_dim: int, data: DataSpec):
        super().__init__()
        # The optimiser's learning rate for this step, set by the host before each training_step.
        # A method that updates its own parameters there (sparse SGD on embedding rows, no
        # autograd) uses it and returns a loss without a graph; the host then skips backward and
        # its optimiser step but keeps the schedule going.
        self.learning_rate = 0.0
        self.cfg = cfg
        self.backbone = backbone
        self.feat_dim = feat_dim
        self.data = data

    def training_step(self, batch: Batch) -> StepOutput:
        raise NotImplementedError  # abstract: every method defines its loss

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The representation that evaluation, the explorer and the export use."""
        return self.backbone(x)

    def previews(self, batch: Batch) -> dict[str, Preview]:
        """Pictures of what the method does on this batch, keyed by a short name."""
        return {}

    def measures(self, batches: "Splits") -> dict[str, float]:
        """The method's own evaluation in its own units, label -> value: a test likelihood or
        perplexity with the floor it must beat beside it (e.g. "test NLL (nats/image)" and
        "independent pixels NLL (nats/image)"), CLIP's zero-shot accuracy. Put the headline
        first. `batches("test")` and `batches("train")` yield a split as model input on the
        device; `batches.dataset` is the loaded workbench.data Dataset itself (stored rows,
        factors). Runs under no_grad in eval mode after each evaluation (the dashboard's eval
        events) and in `ssl-workbench eval`, for the model and its random-init floor. Default: none."""
        return {}

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Hook after each optimiser step (momentum encoders, EMA schedules)."""
