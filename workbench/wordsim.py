"""Word-vector benchmarks bundled with gensim: Spearman ρ on WordSim-353 and SimLex-999, analogy accuracy, nearest words."""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .data.text import gensim_datapath
from .embeddings import analogy_batch

# Benchmark key -> gensim's bundled file; the label is the key used in eval events' `scores`.
PAIR_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
LABELS = {"wordsim353": "wordsim353 ρ", "simlex999": "simlex999 ρ"}
ANALOGY_FILE = "questions-words.txt"
MIN_PAIRS = 3  # a rank correlation of fewer pairs means nothing


@functools.lru_cache(maxsize=None)
def load_pairs(name: str) -> tuple[tuple[str, str, float], ...]:
    """(word 1, word 2, human score) of a benchmark, lowercased; '#' lines are comments."""
    if name not in PAIR_FILES:
        raise ValueError(f"unknown word-similarity benchmark {name!r}; choose one of {', '.join(PAIR_FILES)}")
    out = []
    with open(gensim_datapath(PAIR_FILES[name]), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            a, b, score = line.rstrip("\n").split("\t")[:3]
            out.append((a.lower(), b.lower(), float(score)))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def load_questions() -> tuple[tuple[str, str, str, str, str], ...]:
    """(section, a, b, c, d) of Mikolov's analogy questions: a is to b as c is to d."""
    out, section = [], ""
    with open(gensim_datapath(ANALOGY_FILE), encoding="utf-8") as f:
        for line in f:
            if line.startswith(":"):
                section = line[1:].strip()
            elif line.strip():
                a, b, c, d = line.lower().split()[:4]
                out.append((section, a, b, c, d))
    return tuple(out)


@dataclass
class PairScore:
    """Spearman ρ between cosine similarity and human judgement over the pairs in the vocabulary."""

    rho: float  # nan when fewer than MIN_PAIRS pairs are covered
    found: int  # pairs with both words in the vocabulary
    total: int


def _unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _index(vocab: Sequence[str]) -> dict[str, int]:
    return {w: i for i, w in enumerate(vocab)}


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when either side is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def pair_correlation(vectors: np.ndarray, vocab: Sequence[str], pairs: Sequence[tuple[str, str, float]]) -> PairScore:
    """ρ of cosine similarity against the human scores, on the pairs whose words are both known."""
    index = _index(vocab)
    kept = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    if len(kept) < MIN_PAIRS:
        return PairScore(float("nan"), len(kept), len(pairs))
    unit = _unit(vectors)
    ia, ib, human = (np.array(col) for col in zip(*kept))
    cosine = (unit[ia] * unit[ib]).sum(1)
    return PairScore(spearman(cosine, human), len(kept), len(pairs))


def similarity_scores(vectors: np.ndarray, vocab: Sequence[str]) -> dict[str, PairScore]:
    """Every bundled word-similarity benchmark, by key (wordsim353, simlex999)."""
    return {name: pair_correlation(vectors, vocab, load_pairs(name)) for name in PAIR_FILES}


def score_fields(results: dict[str, PairScore]) -> tuple[dict[str, float], dict[str, list[int]]]:
    """The eval event's `scores` ({"wordsim353 ρ": 0.31, ...}; uncovered benchmarks left out)
    and `coverage` ({"wordsim353": [found, total], ...})."""
    scores = {LABELS[k]: round(r.rho, 4) for k, r in results.items() if math.isfinite(r.rho)}
    return scores, {k: [r.found, r.total] for k, r in results.items()}


def selection_score(results: dict[str, PairScore]) -> float | None:
    """The number best.pt follows on text runs: WordSim-353 ρ, else SimLex-999 ρ, else None."""
    for key in PAIR_FILES:
        if key in results and math.isfinite(results[key].rho):
            return results[key].rho
    return None


@dataclass
class AnalogyScore:
    """Top-1 accuracy of b − a + c = d (3CosAdd, a, b, c excluded) on the in-vocabulary questions."""

    accuracy: float  # nan when no question is covered
    found: int
    total: int
    by_section: dict[str, tuple[int, int]]  # section -> (correct, found)


def analogy_accuracy(vectors: np.ndarray, vocab: Sequence[str], method: str = "3cosadd",
                     limit: int | None = None) -> AnalogyScore:
    """Mikolov's questions restricted to quadruples whose four words are all in the vocabulary,
    searched over the whole vocabulary (gensim's evaluate_word_analogies restricts the same way)."""
    index = _index(vocab)
    questions = load_questions()
    kept = [(s, index[a], index[b], index[c], index[d]) for s, a, b, c, d in questions
            if a in index and b in index and c in index and d in index]
    if limit is not None:
        kept = kept[:limit]
    if not kept:
        return AnalogyScore(float("nan"), 0, len(questions), {})
    sections = [k[0] for k in kept]
    q = np.array([k[1:] for k in kept], dtype=np.int64)
    # workbench's analogy is x − y + z; "a : b :: c : ?" is b − a + c
    top, _ = analogy_batch(vectors, q[:, [1, 0, 2]], k=1, method=method)
    right = top[:, 0] == q[:, 3]
    by_section: dict[str, tuple[int, int]] = {}
    for s, ok in zip(sections, right):
        hit, n = by_section.get(s, (0, 0))
        by_section[s] = (hit + int(ok), n + 1)
    return AnalogyScore(float(right.mean()), len(kept), len(questions), by_section)


def find_word(vocab: Sequence[str], word: str) -> int:
    """The id of a word (case-insensitive); a ValueError with a clear message when it is unknown."""
    key = str(word).strip().lower()
    try:
        return list(vocab).index(key)
    except ValueError:
        raise ValueError(f"{word.strip()!r} is not in the vocabulary ({len(vocab):,} words)") from None


def nearest_words(vectors: np.ndarray, vocab: Sequence[str], word: str, k: int = 10) -> list[tuple[str, float]]:
    """The k words most cosine-similar to `word` (itself excluded), best first."""
    i = find_word(vocab, word)
    unit = _unit(vectors)
    sims = unit @ unit[i]
    sims[i] = -np.inf
    k = min(k, len(vocab) - 1)
    top = np.argpartition(-sims, k - 1)[:k] if k > 0 else np.zeros(0, np.int64)
    top = top[np.argsort(-sims[top], kind="stable")]
    return [(vocab[j], float(sims[j])) for j in top]


def _finite(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None  # JSON has no NaN


def benchmark_report(vectors: np.ndarray, vocab: Sequence[str]) -> dict:
    """Every benchmark as JSON-ready numbers (None where nothing is covered), for `ssl-workbench eval`:
    {"wordsim353_rho", "wordsim353_pairs": [found, total], "simlex999_rho", ..., "analogy_top1",
    "analogy_questions": [found, total]}."""
    out: dict = {}
    for name, r in similarity_scores(vectors, vocab).items():
        out[f"{name}_rho"] = _finite(r.rho)
        out[f"{name}_pairs"] = [r.found, r.total]
    a = analogy_accuracy(vectors, vocab)
    out["analogy_top1"] = _finite(a.accuracy)
    out["analogy_questions"] = [a.found, a.total]
    return out
