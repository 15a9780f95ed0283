"""Torchvision sets and shapes120k kept in the on-disk cache: loaded once, then read by rows."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from workbench.api import DataSpec
from workbench.data.base import Dataset
from workbench.data.cache import Cancel, CacheEntry, Progress, build_entry, entry_dir, fingerprint, \
    open_entry, writable_root
from workbench.data.store import ImageRows


def folder_files(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of every file under root, for a fingerprint."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            try:
                st = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            out.append((os.path.relpath(os.path.join(dirpath, name), root), st.st_size, st.st_mtime_ns))
    return out


def torchvision_fingerprint(name: str, root: Path) -> str:
    from workbench.data.torchvision_sets import SUBFOLDERS

    return fingerprint(folder_files(root / SUBFOLDERS[name]), extra=f"torchvision|{name}|{root}")


def shapes_fingerprint(train: tuple[int, int], test: tuple[int, int]) -> str:
    """Changes with the sizes, the seeds or the drawing code itself."""
    from workbench.data import shapes

    code = hashlib.sha256(Path(shapes.__file__).read_bytes()).hexdigest()
    return fingerprint([], extra=f"shapes|{train}|{test}|{code}")


def cached_dataset(kind: str, source: str, print_: str, load: Callable[[], Dataset],
                   progress: Progress = None, cancel: Cancel = None) -> Dataset:
    """The image dataset `load()` would return, kept on disk; load() runs only when the cache
    for (kind, source) is missing or out of date."""
    final = entry_dir(kind, source, "native")
    entry = open_entry(final, print_)
    if entry is None:
        entry = _build(final, print_, load(), progress, cancel)
    elif progress is not None:
        progress(1.0)
    return _dataset(entry)


def _build(final: Path, print_: str, ds: Dataset, progress: Progress, cancel: Cancel) -> CacheEntry:
    writable_root()
    x_train, x_test = ds.x_train.numpy(), ds.x_test.numpy()
    n_train = len(x_train)
    arrays = {"y_train": ds.y_train.numpy(), "y_test": ds.y_test.numpy()}
    arrays.update({f"ftrain_{k}": v for k, v in ds.factors_train.items()})
    arrays.update({f"ftest_{k}": v for k, v in ds.factors_test.items()})
    spec = ds.spec
    manifest = {"kind": "arrays", "name": spec.name, "fingerprint": print_, "train_size": n_train,
                "class_names": list(spec.class_names), "factors": spec.factors}
    shape = (n_train + len(x_test), *x_train.shape[1:])
    return build_entry(final, shape, lambda i: x_train[i] if i < n_train else x_test[i - n_train],
                       arrays, manifest, progress=progress, cancel=cancel)


def _dataset(entry: CacheEntry) -> Dataset:
    m, a, store = entry.manifest, entry.arrays, entry.store
    n_train, n = int(m["train_size"]), store.shape[0]
    spec = DataSpec(name=m["name"], modality="image", input_shape=tuple(store.shape[1:]),
                    num_classes=len(m["class_names"]), class_names=list(m["class_names"]),
                    train_size=n_train, test_size=n - n_train,
                    factors={k: list(v) for k, v in m["factors"].items()})
    return Dataset(
        spec=spec,
        x_train=ImageRows(store, np.arange(n_train), store.shape[2]),
        y_train=torch.from_numpy(a["y_train"].astype(np.int64)),
        x_test=ImageRows(store, np.arange(n_train, n), store.shape[2]),
        y_test=torch.from_numpy(a["y_test"].astype(np.int64)),
        factors_train={k[len("ftrain_"):]: v for k, v in a.items() if k.startswith("ftrain_")},
        factors_test={k[len("ftest_"):]: v for k, v in a.items() if k.startswith("ftest_")},
    )
