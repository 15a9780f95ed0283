"""Shared by the language models on a corpus (text datasets): the held-out documents and the unigram floor."""
from __future__ import annotations

import numpy as np

HELD_OUT_EVERY = 10  # every 10th document is the test text: never read in training


def held_out_positions(corpus: np.ndarray, every: int = HELD_OUT_EVERY) -> np.ndarray:
    """bool per corpus position: True inside every `every`-th document (documents 9, 19, …)."""
    doc = np.cumsum(corpus < 0)  # the −1 between documents starts the next one
    return (doc % every) == every - 1


def held_out_documents(corpus: np.ndarray, every: int = HELD_OUT_EVERY) -> list[np.ndarray]:
    """The word ids of every `every`-th document (the test text), in corpus order."""
    docs = np.split(corpus, np.flatnonzero(corpus < 0))  # document i, its leading −1 still on
    return [d[d >= 0] for i, d in enumerate(docs) if i % every == every - 1]


def training_text(corpus: np.ndarray, separator: int, every: int = HELD_OUT_EVERY) -> np.ndarray:
    """The corpus with document breaks and held-out documents as `separator`: what training may read."""
    return np.where((corpus < 0) | held_out_positions(corpus, every), separator, corpus)


def training_counts(corpus: np.ndarray, vocab_size: int, every: int = HELD_OUT_EVERY) -> np.ndarray:
    """How often each word occurs in the training text (the held-out documents left out)."""
    return np.bincount(corpus[(corpus >= 0) & ~held_out_positions(corpus, every)], minlength=vocab_size)


def unigram_perplexity(train_counts: np.ndarray, test_ids: np.ndarray) -> float:
    """Perplexity of the add-one smoothed unigram model of the training counts on test words."""
    p = (np.asarray(train_counts, np.float64) + 1.0) / (np.sum(train_counts) + len(train_counts))
    return float(np.exp(-np.log(p[np.asarray(test_ids)]).mean()))
