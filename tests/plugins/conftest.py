"""Shared by the plugin tests: one torch thread, and one factory (`make`) for data specs, methods
on a tiny seeded backbone, and batches."""
from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from workbench.api import Batch, DataSpec
from workbench.backbones import build_backbone

IMAGE = (1, 28, 28)


@pytest.fixture(autouse=True, scope="module")
def one_thread(one_torch_thread):
    """Every plugin test module runs on one torch thread (tests/conftest.py)."""


class Factory:
    """Builders for the plugin tests; every method is built right after torch.manual_seed(0)."""

    @staticmethod
    def spec(shape: Sequence[int] = IMAGE, name: str = "toy", class_names: Sequence[str] | None = None,
             train_size: int = 64) -> DataSpec:
        """A DataSpec for images (C, H, W) or sequences (C, T); ten digit classes by default."""
        names = list(class_names) if class_names is not None else [str(i) for i in range(10)]
        modality = "sequence" if len(shape) == 2 else "image"
        return DataSpec(name, modality, tuple(shape), len(names), names, train_size, 64)

    @staticmethod
    def method(cls, shape: Sequence[int] = IMAGE, backbone: str = "small_cnn", spec: DataSpec | None = None,
               **cfg):
        """cls with Config(**cfg) on a fresh backbone (small_cnn of width 8) for `shape`."""
        torch.manual_seed(0)
        kwargs = {"width": 8} if backbone == "small_cnn" else {}
        net, feat_dim = build_backbone(backbone, tuple(shape), **kwargs)
        return cls(cls.Config(**cfg), net, feat_dim, spec if spec is not None else Factory.spec(shape))

    @staticmethod
    def batch(n: int = 8, shape: Sequence[int] = IMAGE, start: int = 0, normal: bool = False) -> Batch:
        """n random inputs (uniform in [0, 1], or standard normal), label 0, indices start.."""
        x = torch.randn(n, *shape) if normal else torch.rand(n, *shape)
        return Factory.of(x, start)

    @staticmethod
    def of(x: torch.Tensor, start: int = 0) -> Batch:
        """A batch of the given inputs, label 0, indices start.."""
        return Batch(x, torch.zeros(len(x), dtype=torch.long), torch.arange(start, start + len(x)))

    @staticmethod
    def colour_batch(n: int = 16) -> Batch:
        """Blocky 32×32 colour images (8×8 blocks of one colour): something to learn."""
        g = torch.Generator().manual_seed(7)
        x = torch.rand(n, 3, 4, 4, generator=g).repeat_interleave(8, 2).repeat_interleave(8, 3)
        return Factory.of(x)


@pytest.fixture
def make() -> type[Factory]:
    return Factory
