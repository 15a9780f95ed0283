"""Helpers that make a 2-D map readable: which factor it clusters by, which word or item a search means, near spellings."""
from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import numpy as np

AGREEMENT_K = 10  # map neighbours each point is compared with
AGREEMENT_SAMPLE = 5_000  # points whose neighbourhoods are read (a sample keeps 1M-point maps fast)
AGREEMENT_POOL = 20_000  # points the neighbours are found among: a uniform sample thins every grouping alike


def map_agreement(xy: np.ndarray, codes: np.ndarray, k: int = AGREEMENT_K, sample: int = AGREEMENT_SAMPLE,
                  seed: int = 0) -> float:
    """How strongly the map groups points by `codes`: kNN agreement on the 2-D map above chance, scaled to [-, 1].

    Agreement is the share of each point's k nearest map neighbours with the same code; chance is
    what a map that ignores the codes would give (the sum of squared code shares). The score is
    (agreement − chance) / (1 − chance), like Cohen's kappa: 0 for no grouping, 1 for pure clusters,
    so factors with two values and with twenty compare fairly. Negative codes (unlabelled) are left out.
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    keep = np.flatnonzero(codes >= 0)
    if len(keep) <= k or len(np.unique(codes[keep])) < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    if len(keep) > AGREEMENT_POOL:
        keep = np.sort(rng.choice(keep, AGREEMENT_POOL, replace=False))
    xy, codes = xy[keep], codes[keep]
    probe = rng.choice(len(xy), sample, replace=False) if len(xy) > sample else np.arange(len(xy))
    from scipy.spatial import cKDTree  # ~1 s to import: not before the window paints
    _, nbrs = cKDTree(xy).query(xy[probe], k=k + 1)
    agree = (codes[nbrs[:, 1:]] == codes[probe, None]).mean()
    shares = np.bincount(codes) / len(codes)
    chance = float((shares ** 2).sum())
    return float((agree - chance) / (1 - chance)) if chance < 1 else float("nan")


def best_grouping(xy: np.ndarray, options: Mapping[str, np.ndarray], progress=None, cancel=None) -> str | None:
    """The name in `options` (name → codes per point) that the map groups its points by best, or None.

    progress(fraction, stage) after each option; cancel() returning True raises embeddings.Cancelled
    (the explorer runs this as a background task)."""
    scores = {}
    for i, (name, codes) in enumerate(options.items()):
        if cancel is not None and cancel():
            from .embeddings import Cancelled
            raise Cancelled()
        scores[name] = map_agreement(xy, codes)
        if progress is not None:
            progress((i + 1) / len(options), f"grouping by {name}")
    scores = {name: s for name, s in scores.items() if s == s}
    return max(scores, key=scores.get) if scores else None


def near_spellings(word: str, vocabulary: Sequence[str], n: int = 5) -> list[str]:
    """Up to n words of the vocabulary spelled most like `word` (difflib's ratio ≥ 0.75), best first."""
    key = str(word).strip().lower()
    return difflib.get_close_matches(key, list(vocabulary), n=n, cutoff=0.75)


def unknown_word_message(word: str, vocabulary: Sequence[str]) -> str:
    """One line for a word the map does not show: that it is unknown, and the near spellings it may have meant."""
    near = near_spellings(word, vocabulary)
    text = f"unknown word: {str(word).strip()!r} is not among the {len(vocabulary):,} words of this map"
    return text + (f"; did you mean {', '.join(near)}?" if near else
                   "; a checkpoint as the source covers the whole vocabulary")


def find_item(text: str, words: Sequence[str], dataset_indices: np.ndarray) -> int:
    """The map row a search means: a word of the map, "#N" (the dataset index shown in captions) or a row number.

    ValueError with one clear line (and near spellings for a word) when nothing matches.
    """
    query = str(text).strip()
    if not query:
        raise ValueError("type a word, a row number or #index")
    n = len(dataset_indices)
    if query.startswith("#") and query[1:].isdigit():
        hits = np.flatnonzero(np.asarray(dataset_indices) == int(query[1:]))
        if not len(hits):
            raise ValueError(f"item {query} is not among the {n:,} items of this map")
        return int(hits[0])
    if query.isdigit() and not words:
        row = int(query)
        if row >= n:
            raise ValueError(f"row {row} is past the end of this map (rows 0–{n - 1:,})")
        return row
    if words:
        try:
            return list(words).index(query.lower())
        except ValueError:
            if query.isdigit() and int(query) < n:
                return int(query)
            raise ValueError(unknown_word_message(query, words)) from None
    raise ValueError(f"{query!r} is neither a row number nor #index; this map shows no words")
