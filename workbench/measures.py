"""A method's own measures (likelihoods, perplexity) on a dataset: the split reader it gets and the rounding."""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from .api import Batch, Method
from .data.base import Dataset, model_input

SPLITS = ("train", "test")


def split_reader(data: Dataset, device: torch.device, batch_size: int = 512):
    """batches(split): the split in order as Batch objects of model input on `device`."""

    def batches(split: str) -> Iterator[Batch]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose train or test")
        x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
        for start in range(0, len(x), batch_size):
            xb = model_input(x[start:start + batch_size].to(device))
            index = torch.arange(start, start + len(xb), device=device)
            yield Batch(xb, y[start:start + batch_size].to(device), index)

    return batches


@torch.no_grad()
def method_measures(method: Method, data: Dataset, device: torch.device) -> dict[str, float]:
    """method.measures on the data, in eval mode, finite values rounded to 4 decimals."""
    was_training = method.training
    method.eval()
    try:
        raw = method.measures(split_reader(data, device))
    finally:
        method.train(was_training)
    return {str(k): round(float(v), 4) for k, v in raw.items() if math.isfinite(float(v))}
