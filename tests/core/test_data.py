"""Tests of workbench.data: embedded sets, shapes, image folders and torchvision roots."""
from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.api import DataSpec
from workbench.data import DataError, Dataset, list_datasets, load_dataset
from workbench.data.shapes import generate_shapes
from workbench.data.splits import split_indices
from workbench.data.store import as_tensor

ALL_NAMES = ["mnist5k", "digits", "shapes", "shapes120k", "signals", "lee", "textfile", "folder", "mnist", "fashionmnist", "cifar10", "stl10"]


def _check_layout(ds: Dataset) -> None:
    """Contract every loader must meet: uint8 NCHW contiguous CPU images, int64 labels
    (images kept on disk read back as such)."""
    assert isinstance(ds.spec, DataSpec)
    for x, y, n in ((ds.x_train, ds.y_train, ds.spec.train_size), (ds.x_test, ds.y_test, ds.spec.test_size)):
        assert tuple(x.shape[1:]) == ds.spec.input_shape and x.dtype == torch.uint8
        x = as_tensor(x)
        assert x.dtype == torch.uint8 and x.is_contiguous() and x.device.type == "cpu"
        assert y.dtype == torch.int64
        assert x.ndim == 4 and tuple(x.shape[1:]) == ds.spec.input_shape
        assert x.shape[0] == y.shape[0] == n
    assert ds.spec.modality == "image"
    assert ds.spec.num_classes == len(ds.spec.class_names)


def test_list_datasets_names_and_flags():
    infos = list_datasets()
    assert [i.name for i in infos] == ALL_NAMES
    by = {i.name: i for i in infos}
    assert by["mnist5k"].embedded and not by["mnist5k"].needs_root
    assert by["folder"].needs_root and not by["folder"].embedded
    assert by["cifar10"].needs_root and not by["cifar10"].embedded
    assert all(i.title and i.description and "\n" not in i.description for i in infos)


def test_mnist5k_split_is_stratified_and_deterministic():
    ds = load_dataset("mnist5k")
    _check_layout(ds)
    assert tuple(ds.x_train.shape) == (4000, 1, 28, 28)
    assert tuple(ds.x_test.shape) == (1000, 1, 28, 28)
    assert ds.spec.class_names == [str(i) for i in range(10)]
    assert np.bincount(ds.y_test.numpy(), minlength=10).tolist() == [100] * 10
    assert np.bincount(ds.y_train.numpy(), minlength=10).tolist() == [400] * 10
    assert int(ds.x_train.max()) == 255 and int(ds.x_train.min()) == 0
    # Prefixes mix classes (the split is shuffled, not sorted by label).
    assert len(set(ds.y_test[:20].tolist())) > 3
    again = load_dataset("mnist5k")
    assert torch.equal(ds.x_train, again.x_train) and torch.equal(ds.y_test, again.y_test)
    # Cached, and handing out copies protects the spec but shares tensors.
    assert again.x_train is ds.x_train
    again.spec.class_names.append("oops")
    assert load_dataset("mnist5k").spec.class_names == [str(i) for i in range(10)]
    # No test image is also a train image (a rough check on a sample).
    train_rows = {bytes(r) for r in ds.x_train.reshape(4000, -1).numpy()}
    assert sum(bytes(r) in train_rows for r in ds.x_test[:200].reshape(200, -1).numpy()) < 5


def test_digits():
    ds = load_dataset("digits")
    _check_layout(ds)
    assert ds.spec.input_shape == (1, 8, 8)
    assert ds.spec.train_size + ds.spec.test_size == 1797
    assert ds.spec.test_size == pytest.approx(360, abs=5)
    assert int(ds.x_train.max()) == 255
    counts = np.bincount(ds.y_test.numpy(), minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37


def test_image_size_resizes_embedded_sets():
    ds = load_dataset("digits", image_size=16)
    _check_layout(ds)
    assert ds.spec.input_shape == (1, 16, 16)
    assert load_dataset("digits").spec.input_shape == (1, 8, 8)  # the native one is untouched
    with pytest.raises(DataError, match="image_size"):
        load_dataset("digits", image_size=0)


def test_shapes_factors_balance_and_determinism():
    ds = load_dataset("shapes")
    _check_layout(ds)
    assert ds.spec.input_shape == (3, 32, 32)
    assert (ds.spec.train_size, ds.spec.test_size) == (6000, 2000)
    assert ds.spec.num_classes == 4 and ds.spec.class_names == ["circle", "square", "triangle", "cross"]
    assert list(ds.spec.factors) == ["shape", "colour", "size", "x", "y", "rotation"]
    assert len(ds.spec.factors["colour"]) == 6 and len(ds.spec.factors["rotation"]) == 4
    for factors, n in ((ds.factors_train, 6000), (ds.factors_test, 2000)):
        assert set(factors) == set(ds.spec.factors)
        for name, codes in factors.items():
            assert codes.dtype == np.int64 and codes.shape == (n,)
            assert codes.min() == 0 and codes.max() == len(ds.spec.factors[name]) - 1
        combos = {tuple(c) for c in np.stack([factors["shape"], factors["colour"], factors["size"]], 1)}
        assert combos == set(itertools.product(range(4), range(6), range(3)))
        counts = np.unique(factors["shape"] * 18 + factors["colour"] * 3 + factors["size"], return_counts=True)[1]
        assert counts.min() >= n // 72 and counts.max() <= n // 72 + 1
    assert torch.equal(ds.y_train, torch.from_numpy(ds.factors_train["shape"]))
    # Deterministic: regenerating gives identical pixels and factors.
    x2, f2 = generate_shapes(2000, 1)
    assert np.array_equal(x2, ds.x_test.numpy()) and np.array_equal(f2["colour"], ds.factors_test["colour"])
    # Images differ from each other (noise and jitter), and train differs from test.
    flat = ds.x_train[:500].reshape(500, -1).numpy()
    assert len({bytes(r) for r in flat}) == 500
    assert not torch.equal(ds.x_train[:2000], ds.x_test)


def test_shapes_pixels_follow_their_factors():
    x, f = generate_shapes(288, 5)
    img = x.astype(np.float32)
    bright = img.max(1)  # (N, H, W)
    mask = bright > 100
    # Colour: red shapes are mostly red, blue mostly blue (on the shape's own pixels).
    for code, channel in ((0, 0), (1, 1), (2, 2)):
        idx = np.flatnonzero(f["colour"] == code)
        means = np.array([[img[i, c][mask[i]].mean() for c in range(3)] for i in idx])
        assert (means.argmax(1) == channel).all()
    # Size: large shapes cover more pixels than small ones; x: left shapes sit left of right ones.
    area = mask.sum((1, 2))
    assert area[f["size"] == 2].mean() > 1.8 * area[f["size"] == 0].mean()
    cols = np.arange(32)[None, :]
    cx = (mask.sum(1) * cols).sum(1) / np.maximum(area, 1)
    assert cx[f["x"] == 0].max() < cx[f["x"] == 2].min()
    # Background stays dark.
    assert np.median(bright[~mask]) < 50


def _png(path, colour, size=(20, 12)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_folder_with_class_subfolders(tmp_path):
    for i in range(5):
        _png(tmp_path / "cat" / f"c{i}.png", (250, 0, 0))
        _png(tmp_path / "dog" / f"d{i}.JPG", (0, 0, 250))
    (tmp_path / "notes.txt").write_text("not an image")
    ds = load_dataset("folder", root=str(tmp_path), image_size=16)
    _check_layout(ds)
    assert ds.spec.class_names == ["cat", "dog"] and ds.spec.num_classes == 2
    assert ds.spec.input_shape == (3, 16, 16)
    assert (ds.spec.train_size, ds.spec.test_size) == (8, 2)
    assert sorted(ds.y_test.tolist()) == [0, 1]  # stratified: one of each class
    # Labels match the pixels: cats are red, dogs blue.
    x = torch.cat([ds.x_train[:], ds.x_test[:]]).float()
    y = torch.cat([ds.y_train, ds.y_test])
    assert (x[y == 0, 0].mean((1, 2)) > 200).all() and (x[y == 1, 2].mean((1, 2)) > 200).all()
    assert ds.skipped_count == 0 and ds.skipped == []
    # Deterministic split.
    again = load_dataset("folder", root=str(tmp_path), image_size=16)
    assert torch.equal(again.x_test[:], ds.x_test[:]) and torch.equal(again.y_train, ds.y_train)


def test_folder_without_subfolders_is_unlabelled(tmp_path):
    for i in range(4):
        _png(tmp_path / f"a{i}.png", (10 * i, 100, 100), size=(40, 30))
    _png(tmp_path / "sub" / "b.png", (0, 0, 0))  # a mix of root and sub-folder files
    ds = load_dataset("folder", root=str(tmp_path))
    _check_layout(ds)
    assert ds.spec.input_shape == (3, 32, 32)  # default image_size
    assert ds.spec.num_classes == 0 and ds.spec.class_names == []
    assert (ds.y_train == -1).all() and (ds.y_test == -1).all()
    assert ds.spec.train_size + ds.spec.test_size == 5 and ds.spec.test_size == 1


def test_folder_skips_corrupt_files(tmp_path):
    for i in range(4):
        _png(tmp_path / f"ok{i}.png", (0, 200, 0))
    (tmp_path / "bad.png").write_bytes(np.random.default_rng(0).bytes(300))
    (tmp_path / "empty.jpg").write_bytes(b"")
    ds = load_dataset("folder", root=str(tmp_path))
    assert ds.skipped_count == 2
    assert sorted(p.rsplit("/", 1)[-1] for p in ds.skipped) == ["bad.png", "empty.jpg"]
    assert ds.spec.train_size + ds.spec.test_size == 4


def test_folder_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match=r"No readable images in .*\.png"):
        load_dataset("folder", root=str(tmp_path))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="No readable images"):
        load_dataset("folder", root=str(tmp_path))
    _png(tmp_path / "one.png", (1, 2, 3))
    with pytest.raises(DataError, match="at least 2"):
        load_dataset("folder", root=str(tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", root=str(tmp_path / "missing"))
    with pytest.raises(DataError, match="not a folder"):
        load_dataset("folder", root=str(tmp_path / "one.png"))
    with pytest.raises(DataError, match="needs a root"):
        load_dataset("folder")
    assert issubclass(DataError, ValueError)


def test_unknown_name_lists_valid_names():
    with pytest.raises(DataError) as info:
        load_dataset("imagenet")
    msg = str(info.value)
    assert "'imagenet'" in msg and "\n" not in msg
    assert all(name in msg for name in ALL_NAMES)
    # Common spellings are accepted.
    assert load_dataset("MNIST-5k").spec.name == "mnist5k"


@pytest.mark.parametrize("name,title", [("cifar10", "CIFAR-10"), ("mnist", "MNIST"), ("stl10", "STL-10")])
def test_torchvision_missing_files(tmp_path, name, title):
    with pytest.raises(DataError) as info:
        load_dataset(name, root=str(tmp_path))
    msg = str(info.value)
    assert msg.startswith(f"{title} is not in {tmp_path}")
    assert "--download" in msg and "--data-root" in msg and "\n" not in msg


def _idx(path, arr: np.ndarray) -> None:
    """Write an MNIST idx (SN3) file: magic (uint8 type 8, ndim), big-endian dims, bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", (8 << 8) | arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def test_torchvision_mnist_from_local_files(tmp_path):
    # torchvision only checks that MNIST's raw files exist (no checksum), so a fake works.
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    _idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (12, 28, 28)))
    _idx(raw / "train-labels-idx1-ubyte", np.arange(12) % 10)
    _idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (5, 28, 28)))
    _idx(raw / "t10k-labels-idx1-ubyte", np.arange(5))
    ds = load_dataset("mnist", root=str(tmp_path))
    _check_layout(ds)
    assert tuple(ds.x_train.shape) == (12, 1, 28, 28) and tuple(ds.x_test.shape) == (5, 1, 28, 28)
    assert ds.y_train.tolist() == (np.arange(12) % 10).tolist()
    assert ds.spec.class_names == [str(i) for i in range(10)]
    resized = load_dataset("mnist", root=str(tmp_path), image_size=14)
    assert resized.spec.input_shape == (1, 14, 14) and resized.x_train.dtype == torch.uint8


def test_split_indices_edge_cases():
    train, test = split_indices(None, 2)
    assert len(train) == 1 and len(test) == 1
    labels = np.array([0] * 10 + [1] * 5)
    train, test = split_indices(labels, len(labels))
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(15))
    assert np.bincount(labels[test]).tolist() == [2, 1]
    assert np.array_equal(split_indices(labels, 15)[1], test)  # fixed seed


def test_every_modality_has_an_embedded_example_dataset():
    from workbench.api import MODALITIES
    from workbench.data import example_dataset

    infos = {i.name: i for i in list_datasets()}
    for modality in MODALITIES:
        info = infos[example_dataset(modality)]
        assert info.modality == modality and info.embedded
    assert example_dataset("image", channels=(3,)) == "shapes"  # colour-only methods
    with pytest.raises(DataError, match="no example dataset for modality 'audio'"):
        example_dataset("audio")


def test_crossed_codes_cover_every_combination_evenly():
    from workbench.data.base import crossed_codes
    codes = crossed_codes(np.random.default_rng(0), 50, {"a": 2, "b": 3, "c": 4})
    assert list(codes) == ["a", "b", "c"] and all(v.dtype == np.int64 for v in codes.values())
    combo = codes["a"] * 12 + codes["b"] * 4 + codes["c"]
    counts = np.bincount(combo, minlength=24)
    assert counts.min() == 2 and counts.max() == 3  # 50 items over 24 combinations
    assert not np.array_equal(combo, np.arange(50) % 24)  # in a random order
