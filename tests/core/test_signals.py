"""The procedural `signals` dataset: layout, balance, determinism and that its factors are real."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.data import list_datasets, load_dataset
from workbench.data.signals import FACTORS, LENGTH, generate_signals


@pytest.fixture(scope="module")
def ds():
    return load_dataset("signals")


def test_listed_as_an_embedded_sequence_set():
    info = {i.name: i for i in list_datasets()}["signals"]
    assert info.modality == "sequence" and info.embedded and not info.needs_root
    assert info.channels == 1 and info.title and "\n" not in info.description


def test_layout_sizes_and_standardisation(ds):
    assert ds.spec.modality == "sequence" and ds.spec.input_shape == (1, LENGTH)
    assert (ds.spec.train_size, ds.spec.test_size) == (6000, 2000)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert x.dtype == torch.float32 and x.is_contiguous() and x.shape[1:] == (1, LENGTH)
        assert y.dtype == torch.int64 and len(y) == len(x)
        assert torch.isfinite(x).all()
    assert abs(float(ds.x_train.mean())) < 1e-3 and abs(float(ds.x_train.std()) - 1) < 1e-3
    # one mean and std for the whole set, not per sequence: amplitude survives standardising
    assert abs(float(ds.x_test.std()) - 1) < 0.05


def test_classes_and_factors_are_balanced(ds):
    assert ds.spec.class_names == FACTORS["waveform"] and ds.spec.num_classes == 6
    assert ds.spec.factors == FACTORS
    counts = np.bincount(ds.y_test.numpy(), minlength=6)
    assert counts.min() >= 333 and counts.max() <= 335  # 2,000 = 54 combinations × 37 + 2
    assert np.array_equal(ds.factors_test["waveform"], ds.y_test.numpy())
    for name, values in FACTORS.items():
        codes = ds.factors_train[name]
        assert codes.dtype == np.int64 and len(codes) == 6000
        assert set(np.unique(codes)) == set(range(len(values)))


def test_fixed_seeds_make_the_same_data_and_splits_differ():
    a, fa = generate_signals(64, seed=0)
    b, fb = generate_signals(64, seed=0)
    c, _ = generate_signals(64, seed=1)
    assert np.array_equal(a, b) and all(np.array_equal(fa[k], fb[k]) for k in fa)
    assert not np.allclose(a, c)


def test_amplitude_and_noise_factors_are_what_they_say(ds):
    x = ds.x_train.numpy()[:, 0]
    peak = np.abs(x).max(axis=1)
    amp = ds.factors_train["amplitude"]
    assert np.median(peak[amp == 0]) < np.median(peak[amp == 1]) < np.median(peak[amp == 2])
    # noise: sample-to-sample jumps of clean sines are small, of noisy ones large
    sine = ds.factors_train["waveform"] == 0
    low = ds.factors_train["frequency"] == 0
    jump = np.abs(np.diff(x, axis=1)).mean(axis=1)
    noisy = ds.factors_train["noise"] == 1
    assert np.median(jump[sine & low & noisy]) > 3 * np.median(jump[sine & low & ~noisy])


def test_frequency_factor_is_the_dominant_frequency(ds):
    # the peak of the spectrum of clean sines falls in the band the factor names
    f = ds.factors_train
    pick = (f["waveform"] == 0) & (f["noise"] == 0)
    spectrum = np.abs(np.fft.rfft(ds.x_train.numpy()[pick, 0], axis=1))
    peak = spectrum[:, 1:].argmax(axis=1) + 1  # cycles per sequence
    bands = f["frequency"][pick]
    assert peak[bands == 0].max() <= 5 < peak[bands == 1].min()
    assert peak[bands == 1].max() <= 11 < peak[bands == 2].min()


def test_image_size_is_ignored_for_sequences():
    # the GUI and build always pass image_size; it must not try to resize a sequence
    ds = load_dataset("signals", image_size=32)
    assert ds.spec.input_shape == (1, LENGTH)
