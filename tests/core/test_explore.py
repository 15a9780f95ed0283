"""workbench.explore helpers the explorer and analogy panel rely on: snapshots, colouring, clean analogies."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.config import new_run_config
from workbench.explore import (EmbeddingSource, categories, clean_analogy, colour_options, expected_factors,
                               load_snapshot, snapshot_like)
from workbench.runs import EMBEDDINGS, create_run_dir

SHAPES = {"shape": ["circle", "square", "triangle"], "colour": ["red", "green", "blue"],
          "size": ["small", "large"], "x": ["left", "centre", "right"]}


def factor_source(n: int = 300, seed: int = 0) -> EmbeddingSource:
    rng = np.random.default_rng(seed)
    factors = {k: rng.integers(0, len(v), n) for k, v in SHAPES.items()}
    return EmbeddingSource(
        run_dir=Path("."), label="test", step=0, embeddings=rng.normal(size=(n, 4)).astype(np.float32),
        labels=factors["shape"].copy(), indices=np.arange(n), images=np.zeros((n, 4, 4, 3), np.uint8),
        class_names=list(SHAPES["shape"]), factors=factors, factor_values=SHAPES, dataset="toy")


def write_snapshot(run_dir: Path, step: int, emb: np.ndarray, indices: np.ndarray) -> Path:
    path = run_dir / EMBEDDINGS / f"{step:08d}.npz"
    np.savez(path, embeddings=emb, indices=indices, labels=np.zeros(len(indices), np.int64))
    return path


def test_snapshot_like_shares_items_and_reads_new_embeddings(tmp_path):
    run_dir = create_run_dir(new_run_config("rotation", "digits", epochs=1), path=tmp_path / "run")
    idx = np.arange(0, 40, 2)
    first = write_snapshot(run_dir, 3, np.ones((20, 5), np.float32), idx)
    second = write_snapshot(run_dir, 7, np.full((20, 5), 2.0, np.float32), idx)
    base = load_snapshot(run_dir, first)
    later = snapshot_like(base, second.relative_to(run_dir))
    assert later.step == 7 and later.label == "snapshot at step 7"
    assert np.all(later.embeddings == 2.0)
    assert later.images is base.images  # shared, not reloaded
    assert np.array_equal(later.labels, base.labels)
    # a snapshot of other items is loaded in full, with its own images
    other = write_snapshot(run_dir, 9, np.zeros((5, 5), np.float32), np.arange(5))
    full = snapshot_like(base, other)
    assert len(full) == 5 and np.array_equal(full.indices, np.arange(5))


def test_colour_options_and_categories():
    src = factor_source()
    assert colour_options(src) == ["label", "shape", "colour", "size", "x"]
    codes, names = categories(src, "colour")
    assert names == ["red", "green", "blue"] and np.array_equal(codes, src.factors["colour"])
    codes, names = categories(src, "label")
    assert names == ["circle", "square", "triangle"]
    with pytest.raises(ValueError, match="cannot colour by 'weight'"):
        categories(src, "weight")


def test_categories_gives_unlabelled_items_their_own_name():
    src = factor_source(10)
    src.factors, src.factor_values = {}, {}
    src.labels = np.array([0, 1, -1, 2, 0, -1, 1, 1, 2, 0])
    codes, names = categories(src, "label")
    assert names[-1] == "unlabelled" and list(codes[[2, 5]]) == [3, 3]
    assert colour_options(src) == ["label"]


def test_clean_analogy_has_one_clear_answer():
    src = factor_source(600)
    rng = np.random.default_rng(1)
    for _ in range(10):
        a, b, c = clean_analogy(src, rng)
        f = src.factors
        assert f["shape"][a] == f["shape"][b] and f["colour"][a] != f["colour"][b]
        assert f["colour"][c] == f["colour"][b] and f["shape"][c] != f["shape"][a]
        assert f["size"][a] == f["size"][b] == f["size"][c]
        expected = expected_factors(src, a, b, c)
        # shape from c, colour from a, size shared; position left open
        assert expected == {"shape": int(f["shape"][c]), "colour": int(f["colour"][a]),
                            "size": int(f["size"][a]), "x": None}


def test_clean_analogy_none_without_two_factors():
    src = factor_source(50)
    src.factors = {"shape": src.factors["shape"]}
    assert clean_analogy(src, np.random.default_rng(0)) is None


def test_sequence_snapshots_show_sparklines_and_signal_factors(tmp_path):
    from workbench.explore import SPARKLINE_SIZE

    run_dir = create_run_dir(new_run_config("cpc_sequence", "signals", epochs=1), path=tmp_path / "seq")
    idx = np.array([0, 5, 9])
    source = load_snapshot(run_dir, write_snapshot(run_dir, 1, np.ones((3, 4), np.float32), idx))
    assert source.images.shape == (3, *SPARKLINE_SIZE, 3) and source.images.dtype == np.uint8
    assert len({source.images[i].tobytes() for i in range(3)}) == 3  # each its own curve
    assert colour_options(source) == ["label", "waveform", "frequency", "amplitude", "noise"]
    assert source.describe(0).startswith("#0 · ")
