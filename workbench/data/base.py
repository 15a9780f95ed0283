"""The data package's shared types: DataError, DatasetInfo and Dataset."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import numpy as np

from workbench.spec import DataSpec

if TYPE_CHECKING:  # torch is imported where tensors are made, so the CLI and GUI start without it
    import torch


def model_input(x: torch.Tensor) -> torch.Tensor:
    """A stored batch as a method receives it: uint8 images -> float32 in [0, 1]; float
    sequences stay float32; integer token ids (text) stay as they are."""
    import torch

    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255)
    if x.is_floating_point():
        return x.float()
    return x


class DataError(ValueError):
    """A user-facing data problem; str(e) is a clear one-line message naming the bad value and what to do."""


@dataclass
class DatasetInfo:
    """What the dataset picker shows before anything is loaded."""

    name: str  # registry key, e.g. "mnist5k"
    title: str  # "MNIST-5k"
    description: str  # one line
    modality: str  # "image", "sequence" or "text"
    embedded: bool  # True when it needs no files/network
    needs_root: bool  # True for folder and torchvision sets
    channels: int = 3  # image channels (folders are loaded as RGB)


@dataclass
class Dataset:
    """A loaded dataset on the CPU with int64 labels (-1 when unlabelled).

    x is uint8 (N, C, H, W) for images, float32 (N, C, T) for sequences and integer token ids
    for text; `model_input` turns a batch of any of them into what a method receives.
    """

    spec: DataSpec
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    # factor name -> int64 codes (N,), indices into spec.factors[name]
    factors_train: dict[str, np.ndarray] = field(default_factory=dict)
    factors_test: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # first unreadable paths only
    skipped_count: int = 0  # exact number of unreadable files

    def __post_init__(self) -> None:
        self.spec.train_factors = self.factors_train  # what a method may read per batch.index

    def shallow_copy(self) -> "Dataset":
        """A new Dataset sharing the (read-only by convention) tensors, so a cached load can be
        handed out without callers editing each other's spec or lists."""
        spec = dataclasses.replace(
            self.spec,
            class_names=list(self.spec.class_names),
            factors={k: list(v) for k, v in self.spec.factors.items()},
        )
        return Dataset(
            spec=spec,
            x_train=self.x_train,
            y_train=self.y_train,
            x_test=self.x_test,
            y_test=self.y_test,
            factors_train=dict(self.factors_train),
            factors_test=dict(self.factors_test),
            skipped=list(self.skipped),
            skipped_count=self.skipped_count,
        )


def crossed_codes(rng: np.random.Generator, n: int, factors: dict[str, int]) -> dict[str, np.ndarray]:
    """Codes of n items for factors crossed in full ({"shape": 4, "colour": 6, …}), in a random order.

    Every combination occurs n // C or n // C + 1 times (C = the product of the sizes), so
    analogy queries over these factors always find examples. One permutation draw from rng.
    """
    sizes = list(factors.values())
    combo = rng.permutation(np.arange(n) % int(np.prod(sizes)))
    codes, radix = {}, 1
    for name, size in reversed(factors.items()):  # the last factor varies fastest
        codes[name] = ((combo // radix) % size).astype(np.int64)
        radix *= size
    return {name: codes[name] for name in factors}


def make_dataset(
    name: str,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    class_names: list[str],
    factors: dict[str, list[str]] | None = None,
    factors_train: dict[str, np.ndarray] | None = None,
    factors_test: dict[str, np.ndarray] | None = None,
    modality: str = "image",
) -> Dataset:
    """Normalise dtypes/layout and derive the DataSpec from the arrays, so every loader agrees.

    Images are stored as uint8, sequences as float32, text as int64 token ids.
    """
    import torch

    dtype = {"image": torch.uint8, "sequence": torch.float32, "text": torch.int64}.get(modality)
    if dtype is None:
        raise ValueError(f"unknown modality {modality!r}; choose image, sequence or text")
    x_train = torch.as_tensor(x_train, dtype=dtype).contiguous()
    x_test = torch.as_tensor(x_test, dtype=dtype).contiguous()
    y_train = torch.as_tensor(y_train, dtype=torch.int64).contiguous()
    y_test = torch.as_tensor(y_test, dtype=torch.int64).contiguous()
    spec = DataSpec(
        name=name,
        modality=modality,
        input_shape=tuple(int(s) for s in x_train.shape[1:]),
        num_classes=len(class_names),
        class_names=list(class_names),
        train_size=int(x_train.shape[0]),
        test_size=int(x_test.shape[0]),
        factors=dict(factors or {}),
    )
    return Dataset(
        spec=spec,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        factors_train={k: np.asarray(v, dtype=np.int64) for k, v in (factors_train or {}).items()},
        factors_test={k: np.asarray(v, dtype=np.int64) for k, v in (factors_test or {}).items()},
    )
