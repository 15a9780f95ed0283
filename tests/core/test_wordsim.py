"""Word benchmarks: WordSim-353 / SimLex-999 Spearman ρ with coverage, analogy accuracy, nearest words."""
from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.wordsim import (LABELS, analogy_accuracy, benchmark_report, find_word, load_pairs,
                               load_questions, nearest_words, pair_correlation, score_fields,
                               selection_score, similarity_scores, spearman)


def test_bundled_benchmarks_load():
    assert len(load_pairs("wordsim353")) == 353
    assert len(load_pairs("simlex999")) == 999
    assert ("tiger", "cat", 7.35) in load_pairs("wordsim353")
    questions = load_questions()
    assert len(questions) > 19000
    assert questions[0] == ("capital-common-countries", "athens", "greece", "baghdad", "iraq")
    with pytest.raises(ValueError, match="unknown word-similarity benchmark"):
        load_pairs("nope")


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 40).astype(float), rng.normal(size=40)
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert math.isnan(spearman(np.ones(5), y[:5]))


def _vectors_for(pairs, vocab):
    """2-D vectors whose cosine for each pair rises with its human score (one pair per word)."""
    index = {w: i for i, w in enumerate(vocab)}
    vectors = np.zeros((len(vocab), 2))
    top = max(s for _, _, s in pairs)
    for a, b, s in pairs:
        angle = (1 - s / top) * np.pi / 2 + 0.01
        vectors[index[a]] = [1, 0]
        vectors[index[b]] = [np.cos(angle), np.sin(angle)]
    return vectors


def test_pair_correlation_coverage_and_perfect_order():
    pairs = [("a", "b", 9.0), ("c", "d", 5.0), ("e", "f", 1.0), ("g", "h", 3.0), ("x", "unknown", 4.0)]
    vocab = list("abcdefgh")
    r = pair_correlation(_vectors_for(pairs[:4], vocab), vocab, pairs)
    assert r.rho == pytest.approx(1.0) and (r.found, r.total) == (4, 5)
    reverse = [(a, b, -s) for a, b, s in pairs[:4]]  # the opposite human order
    assert pair_correlation(_vectors_for(pairs[:4], vocab), vocab, reverse).rho == pytest.approx(-1.0)
    few = pair_correlation(np.eye(8), vocab, pairs[:2])
    assert math.isnan(few.rho) and few.found == 2  # fewer than 3 pairs: no correlation


def test_scores_fields_and_selection():
    rng = np.random.default_rng(1)
    vocab = sorted({w for a, b, _ in load_pairs("wordsim353") for w in (a, b)})
    results = similarity_scores(rng.normal(size=(len(vocab), 16)), vocab)
    assert results["wordsim353"].found == 353 and results["simlex999"].found < 999
    scores, coverage = score_fields(results)
    assert set(scores) <= set(LABELS.values()) and LABELS["wordsim353"] in scores
    assert all(-1 <= v <= 1 for v in scores.values())
    assert abs(scores[LABELS["wordsim353"]]) < 0.2  # random vectors: no correlation
    assert coverage["wordsim353"] == [353, 353]
    assert selection_score(results) == results["wordsim353"].rho
    empty = similarity_scores(rng.normal(size=(3, 4)), ["zzz", "yyy", "xxx"])
    assert score_fields(empty)[0] == {} and selection_score(empty) is None


def test_analogy_accuracy_on_planted_offsets():
    # capitals = countries + one shared offset: every in-vocabulary capital question is exact
    quads = [q for q in load_questions() if q[0] == "capital-common-countries"][:40]
    pairs = sorted({(q[1], q[2]) for q in quads} | {(q[3], q[4]) for q in quads})
    vocab = [w for pair in pairs for w in pair] + ["banana"]
    rng = np.random.default_rng(0)
    offset = rng.normal(size=32) * 3
    vectors = np.zeros((len(vocab), 32))
    for i, (capital, country) in enumerate(pairs):
        base = rng.normal(size=32)
        vectors[2 * i], vectors[2 * i + 1] = base, base + offset
    vectors[-1] = rng.normal(size=32)
    result = analogy_accuracy(vectors, vocab)
    assert result.found >= 40 and result.accuracy == 1.0
    assert result.by_section["capital-common-countries"][0] == result.by_section["capital-common-countries"][1]
    noise = analogy_accuracy(rng.normal(size=(len(vocab), 32)), vocab)
    assert noise.accuracy < 0.5
    assert math.isnan(analogy_accuracy(np.eye(3), ["x", "y", "z"]).accuracy)


def test_nearest_words_and_unknown_word_message():
    vocab = ["king", "queen", "apple", "pear"]
    vectors = np.array([[1, 0.1], [1, 0.2], [0, 1], [0.1, 1]])
    assert [w for w, _ in nearest_words(vectors, vocab, "King", k=2)] == ["queen", "pear"]
    assert find_word(vocab, " APPLE ") == 2
    with pytest.raises(ValueError, match="'banana' is not in the vocabulary"):
        nearest_words(vectors, vocab, "banana")


def test_benchmark_report_is_json_ready():
    import json

    report = benchmark_report(np.eye(3), ["zzz", "yyy", "xxx"])
    assert report["wordsim353_rho"] is None and report["analogy_top1"] is None
    assert report["wordsim353_pairs"] == [0, 353]
    json.dumps(report, allow_nan=False)
