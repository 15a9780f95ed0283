"""Text datasets: the Lee corpus and user text files as a vocabulary, a corpus buffer and word rows."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from workbench.data import DataError, list_datasets, load_dataset
from workbench.data.text import MIN_COUNT, build_text_dataset, load_textfile, text_documents, tokenize

SENTENCE = "The quick brown fox jumps over the lazy dog while the cat sleeps."


def _text(paragraphs: int = 12) -> str:
    # every word of SENTENCE occurs >= MIN_COUNT times; "rare" occurs once
    body = "\n\n".join(f"{SENTENCE}\n{SENTENCE}" for _ in range(paragraphs))
    return body + "\n\nrare"


def _check_layout(ds) -> None:
    spec = ds.spec
    assert spec.modality == "text" and spec.input_shape == (2,)
    v = len(spec.vocab)
    assert spec.test_size == v and len(spec.word_counts) == v
    assert list(spec.word_counts) == sorted(spec.word_counts, reverse=True)  # most frequent first
    assert ds.x_train.dtype == torch.int64 and ds.x_test.dtype == torch.int64
    words, pos = ds.x_train[:, 0].numpy(), ds.x_train[:, 1].numpy()
    assert (spec.corpus[pos] == words).all()  # train rows point at their word in the corpus
    assert len(ds.x_train) == int((spec.corpus >= 0).sum())  # one row per running word
    assert (ds.x_test[:, 0] == torch.arange(v)).all() and (ds.x_test[:, 1] == -1).all()
    assert (ds.y_train == -1).all() and (ds.y_test == -1).all()
    assert spec.num_classes == 0
    assert np.bincount(words, minlength=v).tolist() == list(spec.word_counts)


def test_lee_is_listed_and_embedded():
    infos = {i.name: i for i in list_datasets()}
    assert infos["lee"].modality == "text" and infos["lee"].embedded and not infos["lee"].needs_root
    assert infos["textfile"].modality == "text" and infos["textfile"].needs_root


def test_lee_layout():
    ds = load_dataset("lee", image_size=32)  # image_size means nothing to text and is ignored
    _check_layout(ds)
    assert len(ds.spec.vocab) > 1000 and ds.spec.vocab[0] == "the"
    assert min(ds.spec.word_counts) >= MIN_COUNT
    assert (ds.spec.corpus == -1).sum() == 299  # 300 stories, kept apart


def test_tokenize_matches_gensim_simple_preprocess():
    from gensim.utils import simple_preprocess

    text = "Hello, World! It's 2024: e-mail a_b _x I Ünïcode façade x2 supercalifragilisticexpialidocious"
    assert tokenize(text) == simple_preprocess(text)


def test_textfile_paragraphs_vocabulary_and_rare_words(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text(_text(), encoding="utf-8")
    ds = load_dataset("textfile", root=str(path))
    _check_layout(ds)
    assert ds.spec.name == "textfile"
    assert "rare" not in ds.spec.vocab and "the" == ds.spec.vocab[0]
    # 12 paragraphs (the wrapped second line joins its paragraph); "rare" alone leaves no document
    assert (ds.spec.corpus == -1).sum() == 11
    assert list(text_documents("ab cd\nef gh\n \n\nij kl")) == [["ab", "cd", "ef", "gh"], ["ij", "kl"]]


def test_textfile_reloads_when_the_file_changes(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(_text(), encoding="utf-8")
    first = load_textfile(path)
    assert load_textfile(path).x_train.data_ptr() == first.x_train.data_ptr()  # cached
    path.write_text(_text(20), encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse-clock file systems
    assert len(load_textfile(path).x_train) > len(first.x_train)


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("caf\u00e9 ".encode("latin-1") * 50, "not UTF-8"),
    (b"12345 67890 !!!", "no words"),
    (b"only a handful of words here", "too short"),
])
def test_textfile_bad_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "input.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_dataset("textfile", root=str(path))


def test_textfile_needs_a_file_not_a_folder(tmp_path):
    with pytest.raises(DataError, match="needs a file"):
        load_dataset("textfile")
    with pytest.raises(DataError, match="is a folder"):
        load_dataset("textfile", root=str(tmp_path))


def test_build_caps_the_vocabulary_by_frequency():
    docs = [["w%d" % i] * (10 + i) for i in range(30)]
    ds = build_text_dataset("toy", docs, min_count=1, max_vocab=12)
    assert ds.spec.vocab == ["w%d" % i for i in range(29, 17, -1)]
    assert len(ds.x_train) == sum(10 + i for i in range(18, 30))
