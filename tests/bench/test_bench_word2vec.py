"""bench/word2vec.py hands gensim the text and vocabulary ours trains on (the held-out documents left out)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from workbench.data.text import build_text_dataset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_word2vec", ROOT / "bench" / "word2vec.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_gensim_reads_the_training_documents_and_keeps_the_whole_vocabulary(bench):
    # 20 documents; "only" appears in document 9 alone, which word2vec holds out
    docs = [[f"d{i}"] + [f"w{(i + j) % 15}" for j in range(12)] for i in range(20)]  # each document its own
    docs[9] = ["only"] * 6 + docs[9][:6]
    spec = build_text_dataset("toy", docs, min_count=1).spec
    sentences = bench.sentences(spec)
    assert len(sentences) == 18 and docs[9] not in sentences and docs[19] not in sentences
    assert sentences[0] == docs[0] and sentences[9] == docs[10]
    counts = bench.word_counts(spec)
    assert set(counts) == set(spec.vocab) and counts["only"] == 1  # in gensim's vocabulary all the same
    assert counts["w0"] == sum(s.count("w0") for s in sentences)
