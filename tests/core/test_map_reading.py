"""Reading a map without Qt: which factor it groups by, near spellings of an unknown word, what a search means."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.map_reading import best_grouping, find_item, map_agreement, near_spellings, unknown_word_message


def test_the_factor_the_map_clusters_by_wins():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 6, 3000)
    shape = rng.integers(0, 3, 3000)
    xy = rng.normal(0, 8, (6, 2))[colour] + rng.normal(0, 1, (3000, 2))  # clusters by colour only
    scores = {"label": map_agreement(xy, shape), "colour": map_agreement(xy, colour)}
    assert scores["colour"] > 0.8 and abs(scores["label"]) < 0.1
    assert best_grouping(xy, {"label": shape, "colour": colour}) == "colour"
    # unlabelled points (-1) are left out, and a single class says nothing
    assert np.isnan(map_agreement(xy, np.zeros(3000, np.int64)))


def test_near_spellings_of_a_typo():
    vocab = ["the", "government", "governor", "movement", "people"]
    assert near_spellings("goverment", vocab)[0] == "government"
    message = unknown_word_message("goverment", vocab)
    assert "unknown word: 'goverment'" in message and "government" in message
    assert "not among the 5 words" in unknown_word_message("zzz", vocab)


def test_find_item_reads_words_rows_and_dataset_indices():
    indices = np.array([40, 41, 42, 7])
    assert find_item("#7", [], indices) == 3
    assert find_item("2", [], indices) == 2
    assert find_item("People", ["the", "people"], indices[:2]) == 1
    with pytest.raises(ValueError, match="#9 is not among the 4 items"):
        find_item("#9", [], indices)
    with pytest.raises(ValueError, match="past the end"):
        find_item("12", [], indices)
    with pytest.raises(ValueError, match="did you mean people"):
        find_item("peeple", ["the", "people"], indices[:2])
