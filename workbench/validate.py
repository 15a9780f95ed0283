"""`ssl-workbench validate NAME`: build a method on a tiny backbone and run one real step."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from .api import Batch
from .build import build_method
from .config import new_run_config
from .data import example_dataset, load_dataset
from .registry import get_method
from .data.base import model_input


@dataclass
class Validation:
    method: str
    loss: float
    embed_shape: tuple[int, ...]
    previews: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    seconds: float = 0.0


def validate_method(name: str, dataset: str | None = None, batch_size: int = 16, steps: int = 1) -> Validation:
    """One optimiser step on CPU with the small CNN; raises on any broken part of the contract."""
    cls = get_method(name)
    if dataset is None:  # the embedded set of the method's modality (and channels) it can use
        dataset = example_dataset(cls.modality, cls.input_channels)
    t0 = time.perf_counter()
    data = load_dataset(dataset)
    run = new_run_config(name, dataset, backbone="small_cnn", device="cpu")
    method = build_method(run, data, "cpu")
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=1e-3)
    x = model_input(data.x_train[:batch_size])
    batch = Batch(x, data.y_train[:batch_size], torch.arange(batch_size))
    loss = float("nan")
    for step in range(steps):
        method.learning_rate = optimizer.param_groups[0]["lr"]
        out = method.training_step(batch)
        loss = out.loss.item()
        if not math.isfinite(loss):
            raise AssertionError(f"{name}: loss is {loss} on the first step")
        if out.loss.requires_grad:  # else the method updated itself (api.Method.learning_rate)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
        method.on_step_end(step, steps)
    method.eval()
    with torch.no_grad():
        emb = method.embed(x)
        if emb.ndim != 2 or emb.shape[0] != batch_size:
            raise AssertionError(f"{name}: embed returned shape {tuple(emb.shape)}, expected ({batch_size}, D)")
        previews = method.previews(batch)
    shapes = {}
    for key, preview in previews.items():
        grid = preview.grid()
        if grid.dtype.name != "uint8" or grid.ndim != 3 or grid.shape[2] != 3:
            raise AssertionError(f"{name}: preview {key!r} is not an H×W×3 uint8 image")
        if preview.captions and len(preview.captions) != len(preview.tiles):
            raise AssertionError(f"{name}: preview {key!r} has {len(preview.captions)} captions "
                                 f"for {len(preview.tiles)} tiles")
        shapes[key] = tuple(grid.shape)
    return Validation(name, loss, tuple(emb.shape), shapes, time.perf_counter() - t0)
