"""Analogy tests with known answers: a − b + c over ground-truth factors, scored with 3CosAdd and 3CosMul."""
from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .embeddings import ANALOGY_METHODS, Cancelled, analogy_batch

# Factors that say where or how an object lies, not what it is. An analogy leaves them free:
# (red circle) − (blue circle) + (blue square) is a red square wherever it is drawn.
NUISANCE = frozenset({"x", "y", "rotation"})
TOPS = (1, 5)
DEFAULT_PER_FACTOR = 300
METHOD_TITLES = {"3cosadd": "3CosAdd", "3cosmul": "3CosMul"}
# Report keys of the embeddings compared, in the order they are shown.
FLOORS = ("floor_raw_pixels", "floor_random_init")
ROW_TITLES = {"model": "model", "floor_raw_pixels": "raw pixels", "floor_random_init": "random init"}

Factors = Mapping[str, np.ndarray]


def semantic_factors(factors: Mapping[str, Any]) -> list[str]:
    """The factors an answer is judged on, in the data's order: every factor but the nuisances."""
    return [name for name in factors if name not in NUISANCE]


def expected_factors(factors: Factors, a: int, b: int, c: int) -> dict[str, int | None]:
    """For a − b + c, the value each factor of the answer should have (None: left open).

    Per semantic factor: if a and b agree, the answer takes c's value; if b and c agree, a's
    value; otherwise the query says nothing clear about it. Nuisance factors are always open.
    """
    out: dict[str, int | None] = {}
    for name, codes in factors.items():
        if name in NUISANCE:
            out[name] = None
            continue
        fa, fb, fc = int(codes[a]), int(codes[b]), int(codes[c])
        out[name] = fc if fa == fb else fa if fb == fc else None
    return out


def matches_expected(factors: Factors, answer: int, expected: Mapping[str, int | None]) -> dict[str, bool]:
    """Factor by factor, whether `answer` has the expected value (open factors omitted)."""
    return {k: int(factors[k][answer]) == v for k, v in expected.items() if v is not None}


def expected_rank(emb: np.ndarray, factors: Factors, a: int, b: int, c: int,
                  method: str = "3cosadd") -> tuple[int, int, int] | None:
    """Where the expected answer of a − b + c ranks: (rank from 1, that item, items with the expected values).

    The best-scored item having every judged expected value counts; None when the query judges
    no factor or no item other than a, b, c has the expected values.
    """
    emb = _check(emb, factors)
    judged = {k: v for k, v in expected_factors(factors, a, b, c).items() if v is not None}
    if not judged:
        return None
    ok = np.ones(len(emb), bool)
    for k, v in judged.items():
        ok &= np.asarray(factors[k]) == v
    ok[[a, b, c]] = False
    if not ok.any():
        return None
    idx, _ = analogy_batch(emb, np.array([[a, b, c]]), k=len(emb), method=method)
    pos = int(np.argmax(ok[idx[0]]))
    return pos + 1, int(idx[0][pos]), int(ok.sum())


@dataclass(frozen=True)
class AnalogySet:
    """Queries that swap one factor: a and b differ only in `factor` (and nuisances) ...

    ... c has b's value of `factor` and another value of a second semantic factor (its
    partner), every other semantic factor is shared by a, b and c. The answer has a's
    `factor`, c's partner and the shared rest: e.g. for "colour swap",
    (red circle) − (blue circle) + (blue square) = red square, all of one size.
    """

    factor: str  # the factor that differs between a and b
    semantic: tuple[str, ...]  # factors the answer is judged on, columns of `expected`
    abc: np.ndarray  # int64 (Q, 3)
    expected: np.ndarray  # int64 (Q, len(semantic)): the answer's codes

    @property
    def title(self) -> str:
        return f"{self.factor} swap"

    def __len__(self) -> int:
        return len(self.abc)


class _Combos:
    """Items grouped by their semantic factor values, so a query is drawn with a few dict look-ups."""

    def __init__(self, factors: Factors, semantic: list[str]):
        self.semantic = semantic
        self.codes = np.stack([np.asarray(factors[f], np.int64) for f in semantic], axis=1)
        self.values = [np.unique(self.codes[:, j]) for j in range(len(semantic))]
        combos, inverse = np.unique(self.codes, axis=0, return_inverse=True)
        order = np.argsort(inverse.ravel(), kind="stable")
        bounds = np.cumsum(np.bincount(inverse.ravel(), minlength=len(combos)))[:-1]
        self.members = {tuple(int(v) for v in combo): items
                        for combo, items in zip(combos, np.split(order, bounds))}

    def sample(self, rng: np.random.Generator, f: int, g: int) -> tuple[int, int, int, tuple] | None:
        """One query swapping column f with partner column g, or None when item a has none."""
        a = int(rng.integers(len(self.codes)))
        ca = tuple(int(v) for v in self.codes[a])
        # b: a's values except f
        fbs = [v for v in self.values[f] if v != ca[f] and _with(ca, f, v) in self.members]
        if not fbs:
            return None
        fb = int(rng.choice(fbs))
        cb = _with(ca, f, fb)
        # c: b's values except g; the answer (a's f, c's g) must exist among the items too
        gcs = [w for w in self.values[g] if w != ca[g] and _with(cb, g, w) in self.members
               and _with(ca, g, w) in self.members]
        if not gcs:
            return None
        gc = int(rng.choice(gcs))
        b = int(rng.choice(self.members[cb]))
        c = int(rng.choice(self.members[_with(cb, g, gc)]))
        return a, b, c, _with(ca, g, gc)


def _with(combo: tuple, j: int, value: int) -> tuple:
    return combo[:j] + (int(value),) + combo[j + 1:]


def _rng(seed: int, factor: str) -> np.random.Generator:
    # one stream per factor, so adding or dropping a factor leaves the others' queries alone
    return np.random.default_rng([int(seed), zlib.crc32(factor.encode())])


def _draw(combos: _Combos, rng: np.random.Generator, factor: str, n: int,
          partners: list[str] | None = None) -> AnalogySet:
    semantic = combos.semantic
    f = semantic.index(factor)
    choices = [semantic.index(p) for p in (partners or semantic) if p != factor and p in semantic]
    abc, expected, seen = [], [], set()
    for _ in range(50 * n if choices else 0):  # enough tries unless the data has no such queries
        if len(abc) == n:
            break
        drawn = combos.sample(rng, f, int(rng.choice(choices)))
        if drawn is None or drawn[:3] in seen:
            continue
        seen.add(drawn[:3])
        abc.append(drawn[:3])
        expected.append(drawn[3])
    return AnalogySet(factor, tuple(semantic), np.array(abc, np.int64).reshape(-1, 3),
                      np.array(expected, np.int64).reshape(-1, len(semantic)))


def analogy_sets(factors: Factors, n: int = DEFAULT_PER_FACTOR, seed: int = 0,
                 swaps: list[str] | None = None) -> list[AnalogySet]:
    """Up to n distinct queries per semantic factor (one set each, in the data's factor order).

    The same factor codes and seed always give the same sets. Each query's expected answer
    exists among the items and is none of a, b, c. Factors without such queries (e.g. data
    with a single semantic factor) get no set.
    """
    semantic = semantic_factors(factors)
    if len(semantic) < 2 or n < 1:
        return []
    combos = _Combos(factors, semantic)
    sets = [_draw(combos, _rng(seed, f), f, n) for f in (swaps or semantic) if f in semantic]
    return [s for s in sets if len(s)]


def random_quadruple(factors: Factors, rng: np.random.Generator, swap: str | None = None,
                     partner: str | None = None) -> tuple[int, int, int] | None:
    """One query of the kind analogy_sets draws (a random swap factor unless given), or None."""
    semantic = semantic_factors(factors)
    if len(semantic) < 2:
        return None
    combos = _Combos(factors, semantic)
    swap = swap if swap in semantic else semantic[int(rng.integers(len(semantic)))]
    got = _draw(combos, rng, swap, 1, [partner] if partner in semantic else None)
    return tuple(int(i) for i in got.abc[0]) if len(got) else None


def _combo_ids(factors: Factors, semantic: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each item's semantic values as one integer, and the radices that encode them."""
    codes = np.stack([np.asarray(factors[f], np.int64) for f in semantic], axis=1)
    radix = codes.max(axis=0) + 1
    return codes @ _weights(radix), radix


def _weights(radix: np.ndarray) -> np.ndarray:
    return np.concatenate([np.cumprod(radix[::-1])[::-1][1:], [1]]).astype(np.int64)


def _check(emb: np.ndarray, factors: Factors) -> np.ndarray:
    emb = np.asarray(emb, np.float32)
    n = {len(v) for v in factors.values()}
    if emb.ndim != 2 or n != {len(emb)}:
        raise ValueError(f"embeddings {emb.shape} and factor codes (lengths {sorted(n)}) must describe "
                         "the same items")
    return emb


def score_sets(emb: np.ndarray, factors: Factors, sets: list[AnalogySet], methods=ANALOGY_METHODS,
               tops: tuple[int, ...] = TOPS, cancel: Callable[[], bool] | None = None) -> dict:
    """Top-k accuracy per method, per set and overall (all queries pooled).

    {"3cosadd": {"colour": {"top1": 0.52, "top5": 0.8}, ..., "overall": {...}}, "3cosmul": ...}.
    An answer is correct when it has every expected semantic value; a, b and c are never answers.
    """
    emb = _check(emb, factors)
    out: dict = {}
    for method in methods:
        per: dict = {}
        pooled = []
        for s in sets:
            if cancel is not None and cancel():
                raise Cancelled()
            ids, radix = _combo_ids(factors, s.semantic)
            idx, _ = analogy_batch(emb, s.abc, k=max(tops), method=method)
            hit = ids[idx] == (s.expected @ _weights(radix))[:, None]  # (Q, k)
            first = np.where(hit.any(axis=1), hit.argmax(axis=1), np.iinfo(np.int64).max)
            pooled.append(first)
            per[s.factor] = _accuracy(first, tops)
        per["overall"] = _accuracy(np.concatenate(pooled) if pooled else np.zeros(0, np.int64), tops)
        out[method] = per
    return out


def _accuracy(first: np.ndarray, tops) -> dict[str, float]:
    """first: position of each query's first correct answer (huge when none in the top k)."""
    return {f"top{k}": round(float((first < k).mean()), 4) if len(first) else float("nan") for k in tops}


def chance(factors: Factors, sets: list[AnalogySet], tops: tuple[int, ...] = TOPS) -> dict[str, float]:
    """Accuracy of answers drawn at random from the items other than a, b, c, over all queries."""
    rates = {k: [] for k in tops}
    for s in sets:
        ids, radix = _combo_ids(factors, s.semantic)
        counts = np.bincount(ids, minlength=int(np.prod(radix)))
        m = counts[s.expected @ _weights(radix)].astype(float)  # items with the expected values
        pool = len(ids) - 3
        for k in tops:
            # 1 − P(k draws without replacement all miss) = 1 − Π_{i<k} (pool − m − i) / (pool − i)
            miss = np.ones_like(m)
            for i in range(k):
                miss *= np.clip(pool - m - i, 0, None) / max(pool - i, 1)
            rates[k].append(1 - miss)
    return {f"top{k}": round(float(np.concatenate(v).mean()), 4) if v else float("nan")
            for k, v in rates.items()}


def raw_pixels(images) -> np.ndarray:
    """Images (uint8 any layout, or a tensor) as flat float32 rows in [0, 1]: the raw-pixel floor's embedding."""
    arr = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    flat = arr.reshape(len(arr), -1)
    return flat.astype(np.float32) / 255 if arr.dtype == np.uint8 else flat.astype(np.float32)


def raw_inputs(run_dir, indices) -> np.ndarray:
    """Test-split rows of a run's data as a method sees them (model_input, flattened): `eval`'s raw floor.

    For images these are the pixels in [0, 1]; for sequences the standardised signal. Raises
    ValueError (ConfigError, DataError) when the run's config or data cannot be loaded.
    """
    import torch

    from .config import load_run_config
    from .data import load_dataset
    from .data.base import model_input
    from .runs import CONFIG_FILE
    run = load_run_config(Path(run_dir) / CONFIG_FILE)
    d = load_dataset(run.dataset, root=run.data_root, image_size=run.image_size)
    rows = torch.as_tensor(np.asarray(indices, np.int64))
    return model_input(d.x_test[rows]).flatten(1).numpy()


def analogy_report(embeddings: Mapping[str, np.ndarray], factors: Factors, n: int = DEFAULT_PER_FACTOR,
                   seed: int = 0, progress: Callable[[float], Any] | None = None,
                   cancel: Callable[[], bool] | None = None) -> dict:
    """Score the same query sets on several embeddings of the same items.

    embeddings: {"model": ..., "floor_raw_pixels": ..., ...}. Returns {"queries": {factor: Q},
    "chance": {"top1", "top5"}, <each key of embeddings>: score_sets(...)}, or {} when the
    factors allow no analogy sets.
    """
    sets = analogy_sets(factors, n=n, seed=seed)
    if not sets:
        return {}
    report: dict = {"queries": {s.factor: len(s) for s in sets}, "chance": chance(factors, sets)}
    for i, (name, emb) in enumerate(embeddings.items()):
        report[name] = score_sets(emb, factors, sets, cancel=cancel)
        if progress is not None:
            progress((i + 1) / len(embeddings))
    return report


def event_scores(emb: np.ndarray, factors: Factors, sets: list[AnalogySet]) -> dict[str, float]:
    """3CosAdd top-1 overall and per factor, labelled for the dashboard: {"analogy top-1 · colour": 0.52, ...}."""
    if not sets:
        return {}
    scores = score_sets(emb, factors, sets, methods=("3cosadd",), tops=(1,))["3cosadd"]
    out = {"analogy top-1": scores["overall"]["top1"]}
    out.update({f"analogy top-1 · {s.factor}": scores[s.factor]["top1"] for s in sets})
    return out


def flat_attrs(report: Mapping) -> dict[str, float | int]:
    """The model's accuracies as flat names for HDF5 attributes: analogy_3cosadd_top1[_<factor>], ..."""
    out: dict[str, float | int] = {}
    if not report:
        return out
    out["analogy_queries"] = int(sum(report["queries"].values()))
    for method in ANALOGY_METHODS:
        for part, accs in report["model"][method].items():
            for top, value in accs.items():
                out[f"analogy_{method}_{top}" + ("" if part == "overall" else f"_{part}")] = value
    return out


def _pct(value: float) -> str:
    return "  –  " if value != value else f"{100 * value:5.1f}"


def format_report(report: Mapping) -> str:
    """A table a person can read: factor × embedding, top-1 / top-5 in %, for 3CosAdd and 3CosMul."""
    if not report:
        return ""
    rows = [k for k in ("model", *FLOORS) if k in report]
    parts = [*report["queries"], "overall"]
    n = sorted(set(report["queries"].values()))
    ch = report["chance"]
    lines = [f"analogies a − b + c (top-1 / top-5 %, {'/'.join(map(str, n))} queries per factor; "
             f"chance {_pct(ch['top1']).strip()} / {_pct(ch['top5']).strip()})"]
    cell = 13
    for method in ANALOGY_METHODS:
        lines.append(f"  {METHOD_TITLES[method]:<10}" + "".join(f"{ROW_TITLES[r]:>{cell + 2}}" for r in rows))
        for part in parts:
            cells = [f"{_pct(report[r][method][part]['top1'])} / {_pct(report[r][method][part]['top5'])}"
                     for r in rows]
            lines.append(f"    {part:<8}" + "".join(f"{c:>{cell + 2}}" for c in cells))
    return "\n".join(lines)
