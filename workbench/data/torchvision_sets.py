"""MNIST, FashionMNIST, CIFAR-10 and STL-10 read by torchvision from a local root."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from workbench.data.base import DataError, Dataset, make_dataset

DEFAULT_ROOT = "~/.cache/ssl-workbench/datasets"

TITLES = {"mnist": "MNIST", "fashionmnist": "FashionMNIST", "cifar10": "CIFAR-10", "stl10": "STL-10"}


# The sub-folder torchvision keeps each set in (what the cache's fingerprint looks at).
SUBFOLDERS = {"mnist": "MNIST", "fashionmnist": "FashionMNIST", "cifar10": "cifar-10-batches-py",
              "stl10": "stl10_binary"}


def default_root() -> Path:
    return Path(DEFAULT_ROOT).expanduser()


def open_root(name: str, root: str | os.PathLike | None) -> Path:
    """The root a set is read from (default_root() when None)."""
    return default_root() if root is None else Path(root).expanduser()


def _open(name: str, root: Path, download: bool):
    """Both official splits as torchvision objects; DataError (never a traceback) on failure."""
    from torchvision import datasets

    title = TITLES[name]
    try:
        if download:
            root.mkdir(parents=True, exist_ok=True)
        if name in ("mnist", "fashionmnist"):
            cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
            return cls(str(root), train=True, download=download), cls(str(root), train=False, download=download)
        if name == "cifar10":
            return (
                datasets.CIFAR10(str(root), train=True, download=download),
                datasets.CIFAR10(str(root), train=False, download=download),
            )
        return (
            datasets.STL10(str(root), split="train", download=download),
            datasets.STL10(str(root), split="test", download=download),
        )
    except Exception as e:  # RuntimeError when missing/corrupt, URLError/OSError when offline
        if not download:
            raise DataError(
                f"{title} is not in {root}. Download it with --download (needs internet) "
                "or set --data-root to a folder that holds it."
            ) from e
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DataError(
            f"Could not download {title} into {root} ({reason}). Check the internet connection, "
            "or set --data-root to a folder that holds it."
        ) from e


def _arrays(name: str, ds) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 (N, C, H, W), int64 (N,)) from a torchvision dataset's raw storage."""
    if name in ("mnist", "fashionmnist"):
        x = torch.as_tensor(ds.data, dtype=torch.uint8).unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
        y = torch.as_tensor(ds.targets, dtype=torch.int64)
    elif name == "cifar10":
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)  # NHWC -> NCHW
        y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    else:  # stl10 stores NCHW already
        x = torch.from_numpy(np.ascontiguousarray(ds.data))
        y = torch.as_tensor(np.asarray(ds.labels), dtype=torch.int64)
    return x.contiguous(), y


def load_torchvision(name: str, root: str | os.PathLike | None = None, download: bool = False) -> Dataset:
    """Official train/test splits of a torchvision image set found under root."""
    root_path = default_root() if root is None else Path(root).expanduser()
    train, test = _open(name, root_path, download)
    x_train, y_train = _arrays(name, train)
    x_test, y_test = _arrays(name, test)
    # MNIST's torchvision names are "0 - zero" etc.; plain digits read better in plots.
    class_names = [] if name == "mnist" else [str(c) for c in getattr(train, "classes", [])]
    class_names = class_names or [str(i) for i in range(int(y_train.max()) + 1)]
    return make_dataset(name, x_train, y_train, x_test, y_test, class_names)
