"""A method's own measures (likelihoods, perplexity, zero-shot accuracy) on a dataset: the splits it reads and the rounding."""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from .api import Batch, Method
from .data.base import Dataset, model_input

SPLITS = ("train", "test")


class Splits:
    """What Method.measures reads: `splits("train")` / `splits("test")` yield that split in order
    as Batch objects of model input on `device`; `dataset` is the loaded Dataset itself, for
    measures that need more than batches (the test factors behind CLIP's zero-shot prompts)."""

    def __init__(self, dataset: Dataset, device: torch.device, batch_size: int = 512):
        self.dataset, self.device, self.batch_size = dataset, device, batch_size

    def __call__(self, split: str) -> Iterator[Batch]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose train or test")
        d = self.dataset
        x, y = (d.x_train, d.y_train) if split == "train" else (d.x_test, d.y_test)
        for start in range(0, len(x), self.batch_size):
            xb = model_input(x[start:start + self.batch_size].to(self.device))
            index = torch.arange(start, start + len(xb), device=self.device)
            yield Batch(xb, y[start:start + self.batch_size].to(self.device), index)


@torch.no_grad()
def method_measures(method: Method, data: Dataset, device: torch.device) -> dict[str, float]:
    """method.measures on the data, in eval mode, finite values rounded to 4 decimals."""
    was_training = method.training
    method.eval()
    try:
        raw = method.measures(Splits(data, device))
    finally:
        method.train(was_training)
    return {str(k): round(float(v), 4) for k, v in raw.items() if math.isfinite(float(v))}
