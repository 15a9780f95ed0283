"""Procedural 1-D signals (256 steps, 6 waveforms) with ground-truth factors: waveform,
frequency band, amplitude band and noise level."""
from __future__ import annotations

import functools

import numpy as np

from workbench.data.base import Dataset, crossed_codes, make_dataset

LENGTH = 256  # time steps per sequence
TRAIN_SIZE = 6000
TEST_SIZE = 2000
# Fixed generator seeds (one per split) so every run sees the very same sequences.
TRAIN_SEED = 0
TEST_SEED = 1

FACTORS: dict[str, list[str]] = {
    "waveform": ["sine", "square", "sawtooth", "chirp", "am", "bursts"],
    "frequency": ["low", "mid", "high"],
    "amplitude": ["small", "medium", "large"],
    "noise": ["clean", "noisy"],
}

# Cycles per sequence for each frequency band; the gaps between bands keep them separable.
_FREQ = np.array([[2.5, 5.0], [6.5, 11.0], [14.0, 22.0]], dtype=np.float64)
# Peak amplitude for each amplitude band (before the dataset-wide standardisation).
_AMP = np.array([[0.4, 0.7], [0.9, 1.3], [1.6, 2.2]], dtype=np.float64)
# Standard deviation of the additive Gaussian noise per noise level.
_NOISE = np.array([0.05, 0.3], dtype=np.float64)


def _waveforms(kind: np.ndarray, freq: np.ndarray, phase: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """(n, LENGTH) unit-peak waveforms; freq in cycles per sequence, phase in radians."""
    n = len(kind)
    t = np.arange(LENGTH, dtype=np.float64)[None, :] / LENGTH  # [0, 1)
    f, p = freq[:, None], phase[:, None]
    out = np.empty((n, LENGTH), dtype=np.float64)
    for k in range(len(FACTORS["waveform"])):
        rows = np.flatnonzero(kind == k)
        if not len(rows):
            continue
        fr, ph, m = f[rows], p[rows], len(rows)
        if k == 0:  # sine
            y = np.sin(2 * np.pi * fr * t + ph)
        elif k == 1:  # square
            y = np.where(np.sin(2 * np.pi * fr * t + ph) >= 0, 1.0, -1.0)
        elif k == 2:  # sawtooth: rises linearly, then drops
            y = 2 * np.mod(fr * t + ph / (2 * np.pi), 1.0) - 1
        elif k == 3:  # linear chirp from f/2 to 3f/2, up or down, so its mean frequency is f
            up = rng.random((m, 1)) < 0.5
            f0, f1 = np.where(up, 0.5 * fr, 1.5 * fr), np.where(up, 1.5 * fr, 0.5 * fr)
            y = np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) * t * t) + ph)
        elif k == 4:  # amplitude-modulated carrier with a slow (1-2 cycle) envelope in [0.1, 1]
            fm = rng.uniform(1.0, 2.0, (m, 1))
            env = 0.55 + 0.45 * np.sin(2 * np.pi * fm * t + rng.uniform(0, 2 * np.pi, (m, 1)))
            y = env * np.sin(2 * np.pi * fr * t + ph)
        else:  # damped bursts: a decaying carrier restarted 2-4 times per sequence
            count = rng.integers(2, 5, (m, 1))
            start = rng.uniform(0, 1, (m, 1)) / count  # the first onset, then every 1/count
            # time since the last onset; before the first one, the tail of an earlier burst
            since = np.mod(t - start, 1.0 / count)
            y = np.exp(-since * count * 6.0) * np.sin(2 * np.pi * fr * since + ph)
        out[rows] = y
    return out


def generate_signals(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw n sequences (float64, (n, 1, LENGTH), not yet standardised) and their factor codes.

    Each waveform x frequency x amplitude combination (54) occurs n // 54 or n // 54 + 1
    times; the noise level and the phase are uniform at random.
    """
    rng = np.random.default_rng(seed)
    codes = crossed_codes(rng, n, {k: len(FACTORS[k]) for k in ("waveform", "frequency", "amplitude")})
    codes["noise"] = rng.integers(0, 2, n)
    codes = {k: v.astype(np.int64) for k, v in codes.items()}
    lo, hi = _FREQ[codes["frequency"]].T
    freq = rng.uniform(lo, hi)
    phase = rng.uniform(0, 2 * np.pi, n)
    lo, hi = _AMP[codes["amplitude"]].T
    amp = rng.uniform(lo, hi)
    x = _waveforms(codes["waveform"], freq, phase, rng) * amp[:, None]
    x += rng.standard_normal(x.shape) * _NOISE[codes["noise"]][:, None]
    return x[:, None, :], codes


@functools.lru_cache(maxsize=None)
def load_signals() -> Dataset:
    """6,000 train and 2,000 test sequences; labels are the waveform (6 classes).

    Both splits are standardised with the train split's mean and standard deviation (one
    number each, not per sequence), so amplitude stays a visible factor.
    """
    x_train, f_train = generate_signals(TRAIN_SIZE, TRAIN_SEED)
    x_test, f_test = generate_signals(TEST_SIZE, TEST_SEED)
    mean, std = x_train.mean(), x_train.std()
    x_train = ((x_train - mean) / std).astype(np.float32)
    x_test = ((x_test - mean) / std).astype(np.float32)
    return make_dataset(
        "signals",
        x_train,
        f_train["waveform"],
        x_test,
        f_test["waveform"],
        list(FACTORS["waveform"]),
        factors={k: list(v) for k, v in FACTORS.items()},
        factors_train=f_train,
        factors_test=f_test,
        modality="sequence",
    )
