"""How honest a 2-D map is and how neighbourhoods change: trustworthiness, continuity, kNN sets, kNN correctness.

Everything works in bounded memory up to 100k+ points: neighbours in the embedding space come
from a chunked brute-force search (a BLAS matmul and a partial sort over a block of rows at a
time), and neighbours in a 2-D map from a KD-tree; an N×N matrix is never formed.

Plain numpy rather than torch on purpose: the GUI runs these in daemon threads, and a torch op
still running when the interpreter exits aborts the process (its GIL re-acquisition unwinds
through C++ that may not unwind); numpy's C loops end quietly.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .embeddings import Cancel, Cancelled, Progress

if TYPE_CHECKING:
    from .explore import EmbeddingSource

METRICS = ("cosine", "euclidean")
SAMPLE = 5_000  # past this many points, trustworthiness and continuity are estimated on a sample
SAMPLE_SEED = 0
# Bound on the biggest temporary of one chunk of rows (distances, comparisons), in bytes.
_BLOCK_BYTES = 32 * 2**20


def _report(progress: Progress, fraction: float) -> None:
    if progress is not None:
        progress(float(min(max(fraction, 0.0), 1.0)))


def _check_cancel(cancel: Cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled()


def _points(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def _check_k(k, n: int, rank_based: bool) -> int:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive whole number, got {k!r}")
    if rank_based and k >= n / 2:
        # the normalisation of trustworthiness and continuity (Venna & Kaski) needs k < N/2
        raise ValueError(f"k = {k} needs more than {2 * k} points, got {n}")
    if k >= n:
        raise ValueError(f"k = {k} needs more than {k} points, got {n}")
    return int(k)


def _rows_per_chunk(n: int, bytes_per_cell: int) -> int:
    return int(max(1, min(4096, _BLOCK_BYTES // max(1, n * bytes_per_cell))))


class _Space:
    """Distances from some rows to all points of one embedding space, a block of rows at a time."""

    def __init__(self, x: np.ndarray, metric: str):
        _check_metric(metric)
        self.metric = metric
        x = np.ascontiguousarray(x, dtype=np.float32)
        if metric == "cosine":
            # zero vectors stay zero: cosine 0 (distance 1) to everything, as scikit-learn has it
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        else:
            self.sq = (x * x).sum(axis=1)
        self.x = x
        self.n = len(x)

    def distances(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), N) float32 distances, with each row's own point at +inf."""
        r = np.asarray(rows, dtype=np.int64)
        d = self.x[r] @ self.x.T
        if self.metric == "cosine":
            np.subtract(1.0, d, out=d)
        else:  # squared euclidean: same order as euclidean, no square root needed
            d *= -2.0
            d += self.sq[r][:, None]
            d += self.sq[None, :]
            np.maximum(d, 0.0, out=d)
        d[np.arange(len(r)), r] = np.inf
        return d


def _nearest_in(d: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest entries of each row, nearest first (equal distances: lower index first)."""
    part = np.argpartition(d, k - 1, axis=1)[:, :k]
    order = np.lexsort((part, np.take_along_axis(d, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _map_neighbours(tree, low: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """k nearest other points of rows in a low-D map (KD-tree), nearest first.

    Asks for k + 1 and drops the row itself; when duplicates hide it, the first answer goes
    instead (what scikit-learn's NearestNeighbors.kneighbors() does).
    """
    _, idx = tree.query(low[rows], k + 1)
    idx = np.asarray(idx, dtype=np.int64).reshape(len(rows), k + 1)
    keep = idx != rows[:, None]
    missing = keep.all(axis=1)
    keep[missing, 0] = False
    return idx[keep].reshape(len(rows), k)


def _rank_penalty(d: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
    """Per row, sum of (rank − k) over candidates ranked beyond k, ranks 1-based in the rows of d.

    A candidate's rank is one more than the number of points strictly nearer; comparing with
    its distance instead of sorting whole rows costs one pass over (rows, k, N) booleans
    (numpy's count_nonzero, faster than summing booleans: docs/BENCHMARKS.md).
    """
    c, n = d.shape
    out = np.zeros(c, dtype=np.float64)
    step = _rows_per_chunk(n, cand.shape[1])  # bytes per (row, point) of the comparison block
    for s in range(0, c, step):
        block = d[s:s + step]
        thr = np.take_along_axis(block, cand[s:s + step], axis=1)
        nearer = np.count_nonzero(block[:, None, :] < thr[:, :, None], axis=2)  # (rows, k)
        out[s:s + step] = np.maximum(nearer + 1 - k, 0).sum(axis=1)
    return out


def _low_distances(low64: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared euclidean distances in the map, in float64 from coordinate differences as scikit-learn
    ranks them (float32 would let near-ties between map distances swap ranks)."""
    q = low64[rows]
    d = np.zeros((len(rows), len(low64)))
    diff = np.empty_like(d)
    for j in range(low64.shape[1]):
        np.subtract(q[:, j, None], low64[None, :, j], out=diff)
        np.multiply(diff, diff, out=diff)
        d += diff
    d[np.arange(len(rows)), rows] = np.inf
    return d


def _normaliser(n: int, k: int) -> float:
    return 2.0 / (k * (2.0 * n - 3.0 * k - 1.0))


@dataclass
class MapQuality:
    """How faithful a 2-D map of N points is, for neighbourhoods of k points."""

    k: int
    trustworthiness: float  # 1: every map neighbour is a true neighbour (no false neighbours)
    continuity: float  # 1: every true neighbour is a map neighbour (nothing torn apart)
    preservation: np.ndarray  # (N,) share of each point's k map neighbours among its k true ones; NaN = not checked
    n: int
    sampled: int  # points the two summaries were computed from (n unless sampled)
    seed: int = SAMPLE_SEED

    @property
    def is_sampled(self) -> bool:
        return self.sampled < self.n

    def false_neighbours(self, below: float) -> np.ndarray:
        """Indices of points whose preservation is below `below` (unchecked points never count)."""
        with np.errstate(invalid="ignore"):
            return np.flatnonzero(self.preservation < below)

    def checked(self) -> int:
        """How many points have a preservation value."""
        return int(np.isfinite(self.preservation).sum())

    def summary(self) -> str:
        """'trustworthiness 0.943 · continuity 0.921 (k = 10)', plus how it was sampled."""
        text = f"trustworthiness {self.trustworthiness:.3f} · continuity {self.continuity:.3f} (k = {self.k})"
        if self.is_sampled:
            text += f", estimated on {self.sampled:,} of {self.n:,} points (random sample, seed {self.seed})"
        return text


def map_quality(high, low, k: int = 10, metric: str = "cosine", sample: int | None = SAMPLE,
                seed: int = SAMPLE_SEED, per_point: bool = True, progress: Progress = None,
                cancel: Cancel = None) -> MapQuality:
    """Trustworthiness and continuity of the map `low` (N, 2) of `high` (N, D), and per-point preservation.

    Neighbours in `high` use `metric` (cosine as everywhere in the workbench, or euclidean);
    in `low`, euclidean. With more than `sample` points the two summaries are estimated from a
    fixed random sample of points (each with its full neighbourhood among all N), which keeps
    the rank computations at sample × N. per_point=True gives every point's preservation (one
    more chunked kNN search over the points outside the sample); per_point=False gives it for
    the sampled points only, NaN elsewhere.
    """
    _check_metric(metric)
    high, low = _points(high, "high"), _points(low, "low")
    n = len(high)
    if len(low) != n:
        raise ValueError(f"high and low must have the same number of points, got {n} and {len(low)}")
    k = _check_k(k, n, rank_based=True)
    if sample is not None and n > sample:
        ranked = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    else:
        ranked = np.arange(n)
    rest = np.setdiff1d(np.arange(n), ranked, assume_unique=True) if per_point else np.zeros(0, np.int64)
    space = _Space(high, metric)
    from scipy.spatial import cKDTree  # scipy.spatial costs ~1 s to import: not before the window paints
    tree = cKDTree(low)
    low64 = low.astype(np.float64)
    preservation = np.full(n, np.nan)
    trust = cont = 0.0
    total, done = len(ranked) + len(rest), 0
    # rows with ranks carry two (rows, N) distance blocks and a (rows, k, N) comparison
    for rows, with_ranks, step in ((ranked, True, _rows_per_chunk(n, 8 + k)),
                                   (rest, False, _rows_per_chunk(n, 4))):
        for s in range(0, len(rows), step):
            _check_cancel(cancel)
            r = rows[s:s + step]
            d_high = space.distances(r)
            nn_high = _nearest_in(d_high, k)
            nn_low = _map_neighbours(tree, low, r, k)
            shared = (nn_low[:, :, None] == nn_high[:, None, :]).any(axis=2)
            preservation[r] = shared.mean(axis=1)
            if with_ranks:
                trust += _rank_penalty(d_high, nn_low, k).sum()  # map neighbours that are far in truth
                cont += _rank_penalty(_low_distances(low64, r), nn_high, k).sum()  # true ones torn apart
            done += len(r)
            _report(progress, done / total)
    m = len(ranked)
    scale = _normaliser(n, k) / m  # the sum over m sampled points stands for n/m times as much
    return MapQuality(k=k, trustworthiness=float(1.0 - trust * scale), continuity=float(1.0 - cont * scale),
                      preservation=preservation, n=n, sampled=m, seed=seed)


def trustworthiness(high, low, k: int = 10, metric: str = "cosine", sample: int | None = SAMPLE,
                    seed: int = SAMPLE_SEED) -> float:
    """Trustworthiness (Venna & Kaski 2001) as sklearn.manifold.trustworthiness computes it.

    1 − 2/(N k (2N − 3k − 1)) Σ_i Σ_{j ∈ U_k(i)} (r(i, j) − k): U_k(i) are i's k map neighbours that
    are not among its k true ones and r their rank in the true space. Above `sample` points it is
    estimated from a fixed random sample of points.
    """
    return map_quality(high, low, k, metric, sample, seed, per_point=False).trustworthiness


def continuity(high, low, k: int = 10, metric: str = "cosine", sample: int | None = SAMPLE,
               seed: int = SAMPLE_SEED) -> float:
    """Continuity: trustworthiness with the spaces' roles swapped (true neighbours missing from the map,
    ranked by map distance); equals sklearn's trustworthiness(low, high)."""
    return map_quality(high, low, k, metric, sample, seed, per_point=False).continuity


def neighbourhood_preservation(high, low, k: int = 10, metric: str = "cosine") -> np.ndarray:
    """Per point, the fraction of its k map neighbours that are among its k true neighbours (N,)."""
    return map_quality(high, low, k, metric, sample=min(len(high), SAMPLE), per_point=True).preservation


def nearest(x, k: int = 10, metric: str = "cosine", progress: Progress = None, cancel: Cancel = None) -> np.ndarray:
    """The k nearest other points of every point, nearest first: int64 (N, k).

    Chunked brute force (memory per chunk bounded, never N×N); 2-D and 3-D euclidean data use
    a KD-tree instead.
    """
    _check_metric(metric)
    x = _points(x, "embeddings")
    n = len(x)
    k = _check_k(k, n, rank_based=False)
    if metric == "euclidean" and x.shape[1] <= 3:
        from scipy.spatial import cKDTree
        return _map_neighbours(cKDTree(x), x, np.arange(n), k)
    space = _Space(x, metric)
    out = np.zeros((n, k), dtype=np.int64)
    step = _rows_per_chunk(n, 4)
    for s in range(0, n, step):
        _check_cancel(cancel)
        r = np.arange(s, min(n, s + step))
        out[r] = _nearest_in(space.distances(r), k)
        _report(progress, r[-1] / n)
    _report(progress, 1.0)
    return out


def neighbour_change(emb_a, emb_b, k: int = 10, metric: str = "cosine", progress: Progress = None,
                     cancel: Cancel = None) -> tuple[np.ndarray, float]:
    """How much each item's neighbourhood differs between two embeddings of the same items.

    Per item, 1 − Jaccard(kNN in a, kNN in b), each kNN found in its own space: 0 when the k
    neighbours are the same set, 1 when none is shared. Returns (per item (N,), mean).
    """
    a, b = _points(emb_a, "emb_a"), _points(emb_b, "emb_b")
    if len(a) != len(b):
        raise ValueError(f"the two embeddings must hold the same items, got {len(a)} and {len(b)} rows")
    half = (lambda f: progress(f / 2)) if progress is not None else None
    nn_a = nearest(a, k, metric, progress=half, cancel=cancel)
    nn_b = nearest(b, k, metric, progress=(lambda f: progress(0.5 + f / 2)) if progress is not None else None,
                   cancel=cancel)
    shared = np.zeros(len(a), dtype=np.int64)
    step = _rows_per_chunk(k * k, 1)
    for s in range(0, len(a), step):
        shared[s:s + step] = (nn_a[s:s + step, :, None] == nn_b[s:s + step, None, :]).any(axis=2).sum(axis=1)
    change = 1.0 - shared / (2.0 * k - shared)
    return change, float(change.mean()) if len(change) else 0.0


def knn_correct(emb, labels, k: int = 20, temperature: float = 0.1, progress: Progress = None,
                cancel: Cancel = None) -> np.ma.MaskedArray:
    """Per item, whether the weighted cosine kNN vote of the other labelled items gets its label right.

    Leave-one-out over the given items, with the vote of the trainer's kNN monitor (Wu et al.
    2018: weights exp(cos / T)). Unlabelled items (label < 0) neither vote nor are judged: they
    are masked. Returns a boolean masked array (N,).
    """
    emb = _points(emb, "embeddings")
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(emb):
        raise ValueError(f"need one label per item, got {len(labels)} labels for {len(emb)} items")
    labelled = np.flatnonzero(labels >= 0)
    correct = np.zeros(len(emb), dtype=bool)
    mask = labels < 0
    m = len(labelled)
    if m < 2:
        return np.ma.masked_array(correct, mask=np.ones(len(emb), dtype=bool))
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive whole number, got {k!r}")
    k = min(int(k), m - 1)
    space = _Space(emb[labelled], "cosine")
    bank_labels = labels[labelled].astype(np.int64)
    classes = int(bank_labels.max()) + 1
    step = _rows_per_chunk(m, 4)
    for s in range(0, m, step):
        _check_cancel(cancel)
        r = np.arange(s, min(m, s + step))
        d = space.distances(r)  # 1 − cos, own item at +inf
        top = np.argpartition(d, k - 1, axis=1)[:, :k]
        # exp((cos − 1) / T) orders votes like exp(cos / T) without overflowing for small T
        weights = np.exp(-np.take_along_axis(d, top, axis=1).astype(np.float64) / temperature)
        cells = (np.arange(len(r))[:, None] * classes + bank_labels[top]).ravel()
        votes = np.bincount(cells, weights=weights.ravel(), minlength=len(r) * classes).reshape(len(r), classes)
        correct[labelled[r]] = votes.argmax(axis=1) == bank_labels[r]
        _report(progress, r[-1] / m)
    _report(progress, 1.0)
    return np.ma.masked_array(correct, mask=mask)


def common_items(a: EmbeddingSource, b: EmbeddingSource, min_items: int = 3
                 ) -> tuple[EmbeddingSource, EmbeddingSource]:
    """The items two sources both embed (matched by test-split index), in the same order in both.

    Snapshots of one run embed the same probe items; two runs on the same data share the probe
    items their probe sizes have in common; a checkpoint embeds the first items of the split.
    """
    if a.dataset and b.dataset and a.dataset != b.dataset:
        raise ValueError(f"A embeds {a.dataset} and B embeds {b.dataset}: compare two embeddings of the same data")
    if np.array_equal(a.indices, b.indices):
        return a, b
    _, rows_a, rows_b = np.intersect1d(a.indices, b.indices, assume_unique=True, return_indices=True)
    if len(rows_a) < min_items:
        raise ValueError(f"A and B share only {len(rows_a)} items (need {min_items}); "
                         f"pick snapshots or checkpoints of the same data")
    return _subset(a, rows_a), _subset(b, rows_b)


def _subset(src: EmbeddingSource, rows: np.ndarray) -> EmbeddingSource:
    extra = {}
    if getattr(src, "words", None):  # text items: their words, and lazily drawn word tiles
        extra["words"] = [src.words[int(r)] for r in rows]
    images = src.images
    if isinstance(images, np.ndarray):
        images = images[rows]
    elif hasattr(images, "words"):
        images = type(images)([images.words[int(r)] for r in rows])
    else:
        images = [images[int(r)] for r in rows]
    return replace(src, embeddings=src.embeddings[rows], labels=src.labels[rows], indices=src.indices[rows],
                   images=images, factors={k: np.asarray(v)[rows] for k, v in src.factors.items()}, **extra)
