"""Words drawn as tiles, and the explorer's view of a text run: words, word tiles, typed-word lookup."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.config import new_run_config
from workbench.data import load_dataset
from workbench.explore import load_snapshot
from workbench.runs import EMBEDDINGS, create_run_dir
from workbench.wordtiles import BACKGROUND, WordTiles, word_tile


def test_word_tile_draws_the_word_and_fits_long_ones():
    tile = word_tile("government")
    assert tile.dtype == np.uint8 and tile.shape == (32, 96, 3)
    assert (tile != BACKGROUND).any(axis=2).sum() > 50  # ink
    blank = word_tile("")
    assert (blank == BACKGROUND).all()
    long = word_tile("supercalifragilisticexpialidocious" * 2, 20, 60)
    assert long.shape == (20, 60, 3)
    assert (long[:, :2] == BACKGROUND).all() and (long[:, -2:] == BACKGROUND).all()  # cut, not clipped


def test_word_tiles_are_lazy_and_indexable_like_an_image_array():
    tiles = WordTiles(["alpha", "beta", "gamma"])
    assert len(tiles) == 3 and tiles.shape == (3, 32, 96, 3)
    assert not tiles._cache
    first = tiles[np.int64(0)]
    assert tiles[0] is first and np.array_equal(tiles[-3], first)
    assert len(tiles[1:]) == 2
    with pytest.raises(IndexError):
        tiles[3]


def test_a_text_run_snapshot_shows_words(tmp_path):
    vocab = load_dataset("lee").spec.vocab
    run_dir = create_run_dir(new_run_config("word2vec", "lee", device="cpu"), path=tmp_path / "run")
    idx = np.arange(50)
    np.savez(run_dir / EMBEDDINGS / "00000007.npz", embeddings=np.random.default_rng(0).normal(size=(50, 8)),
             indices=idx, labels=np.full(50, -1))
    src = load_snapshot(run_dir, run_dir / EMBEDDINGS / "00000007.npz")
    assert src.words == vocab[:50] and src.describe(2) == vocab[2]
    assert isinstance(src.images, WordTiles) and src.images[2].shape == (32, 96, 3)
    assert src.find_word(f"  {vocab[10].upper()} ") == 10
    with pytest.raises(ValueError, match="'zebrafish' is not among the 50 words of this map"):
        src.find_word("zebrafish")
