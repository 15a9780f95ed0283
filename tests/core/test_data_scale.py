"""The large shapes set (shapes120k): registry entry, sizes, factors, determinism, block-wise drawing."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import workbench.data as data
from workbench.data import list_datasets, load_dataset
from workbench.data import shapes
from workbench.data.shapes import FACTORS, generate_shapes

pytestmark = pytest.mark.slow  # scale checks on large datasets


@pytest.fixture
def small_large_set(monkeypatch):
    """shapes120k through the real registry, at a size a test can afford (and not cached after)."""
    monkeypatch.setattr(shapes, "LARGE_TRAIN_SIZE", 1_000)
    monkeypatch.setattr(shapes, "LARGE_TEST_SIZE", 300)
    monkeypatch.setattr(data, "_CACHE", {})
    return load_dataset("Shapes-120k")


def test_registered_with_title_and_full_sizes():
    info = {i.name: i for i in list_datasets()}["shapes120k"]
    assert info.title == "Shapes-120k" and info.embedded and not info.needs_root
    assert shapes.LARGE_TRAIN_SIZE + shapes.LARGE_TEST_SIZE >= 100_000
    assert (shapes.LARGE_TRAIN_SIZE, shapes.LARGE_TEST_SIZE) == (100_000, 20_000)


def test_same_factors_as_shapes_so_analogies_work(small_large_set):
    ds = small_large_set
    assert ds.spec.name == "shapes120k" and ds.spec.input_shape == (3, 32, 32)
    assert (ds.spec.train_size, ds.spec.test_size) == (1_000, 300)
    assert ds.spec.factors == FACTORS and ds.spec.class_names == FACTORS["shape"]
    for factors, n in ((ds.factors_train, 1_000), (ds.factors_test, 300)):
        assert set(factors) == set(FACTORS)
        assert all(codes.shape == (n,) and codes.dtype == np.int64 for codes in factors.values())
        # every shape x colour x size combination is there, balanced to within one item
        combos = factors["shape"] * 18 + factors["colour"] * 3 + factors["size"]
        counts = np.bincount(combos, minlength=72)
        assert counts.min() >= n // 72 and counts.max() <= n // 72 + 1
    assert np.array_equal(ds.y_train.numpy(), ds.factors_train["shape"])


def test_deterministic_and_distinct_from_the_small_set(small_large_set):
    again = shapes.load_shapes_large()
    assert np.array_equal(again.x_train.numpy(), small_large_set.x_train.numpy())
    assert np.array_equal(again.factors_test["colour"], small_large_set.factors_test["colour"])
    small = load_dataset("shapes")
    assert not np.array_equal(small.x_test[:300].numpy(), small_large_set.x_test.numpy())


@pytest.mark.parametrize("block", [1, 7, 100, 4096])
def test_pixels_do_not_depend_on_the_block_size(monkeypatch, block):
    reference, ref_codes = generate_shapes(333, 9)
    monkeypatch.setattr(shapes, "_BLOCK", block)
    x, codes = generate_shapes(333, 9)
    assert np.array_equal(x, reference)
    for name in FACTORS:
        assert np.array_equal(codes[name], ref_codes[name])


def test_every_combination_appears_in_any_size():
    for n in (72, 73, 500):
        _, codes = generate_shapes(n, 0)
        seen = set(zip(codes["shape"], codes["colour"], codes["size"]))
        assert seen == set(itertools.product(range(4), range(6), range(3)))
    x, codes = generate_shapes(0, 0)
    assert x.shape == (0, 3, 32, 32) and all(len(c) == 0 for c in codes.values())
