"""Embeddings: compute them, project them to 2-D (PCA, t-SNE, UMAP), and query neighbours and analogies."""
from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

PROJECTIONS = ("pca", "tsne", "umap")
ANALOGY_METHODS = ("3cosadd", "3cosmul")
NEIGHBOUR_METRICS = ("cosine", "euclidean")

# t-SNE's perplexity and UMAP's neighbourhood need a few points to mean anything.
MIN_POINTS = 5
# 3CosMul's denominator guard, as in Levy & Goldberg (2014).
_COSMUL_EPS = 1e-3
# Bound on one (queries x N) block of similarities in analogy_batch.
_BLOCK_BYTES = 64 * 2**20
# Rows PCA turns into float64 at a time (fitting and projecting).
_PCA_BLOCK = 16_384

Progress = Callable[[float], Any] | None
Cancel = Callable[[], bool] | None


class Cancelled(Exception):
    """Raised when a cancel callback returns True during long work."""


def configure_numba_cache() -> Path:
    """Point numba's on-disk cache at <user cache>/ssl-workbench/numba unless NUMBA_CACHE_DIR is set.

    UMAP's first call compiles for tens of seconds. pynndescent marks its kernels cache=True,
    and numba's default cache sits beside the installed package, often read-only; a per-user
    directory lets later processes reuse them. umap-learn's own kernels are not cacheable and
    compile once per process, which is what warm_up_umap is for.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        path = Path(os.environ["NUMBA_CACHE_DIR"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "ssl-workbench" / "numba"
        os.environ["NUMBA_CACHE_DIR"] = str(path)
    # numba reads the variable once, at import; if something imported it already, tell it directly.
    if "numba" in sys.modules:
        from numba.core import config

        config.CACHE_DIR = str(path)
    return path


# Must run before umap (and with it numba) is imported anywhere; umap is imported lazily below.
configure_numba_cache()


def _check_cancel(cancel: Cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled()


def _report(progress: Progress, fraction: float) -> None:
    if progress is not None:
        progress(float(min(max(fraction, 0.0), 1.0)))


def _n_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def compute_embeddings(
    embed_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor | np.ndarray,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    progress: Progress = None,
    cancel: Cancel = None,
) -> np.ndarray:
    """Run embed_fn over x in batches under no_grad and return float32 (N, D) on the CPU.

    x is stored data (uint8 images, float sequences, integer tokens; a tensor, an array or an
    on-disk ImageRows split), read and made into model input one batch at a time (so a whole image set never exists as float). embed_fn's mode (train/eval) is the caller's choice.
    progress(fraction) is called after each batch; cancel() returning True raises Cancelled.
    """
    import torch

    from .data.base import model_input

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if isinstance(x, np.ndarray):
        x = torch.as_tensor(x)
    n = len(x)  # a tensor, or rows kept on disk (ImageRows) read a block at a time
    out: list[np.ndarray] = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            _check_cancel(cancel)
            xb = x[start : start + batch_size].to(device, non_blocking=True)
            xb = model_input(xb)
            zb = embed_fn(xb)
            out.append(zb.reshape(len(zb), -1).float().cpu().numpy())
            _report(progress, min(start + batch_size, n) / n)
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def _check_points(emb: np.ndarray, method: str) -> np.ndarray:
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(PROJECTIONS)}")
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (N, D), got shape {emb.shape}")
    if len(emb) < MIN_POINTS:
        raise ValueError(f"{method} needs at least {MIN_POINTS} points to project, got {len(emb)}")
    return emb


class _PCA:
    """Two principal axes in numpy: instant, and no heavy import on the caller's thread
    (importing scikit-learn in a background thread holds the GIL and stalls a GUI).

    With more points than dimensions the axes are the top eigenvectors of the D×D scatter
    matrix, summed in float64 over row blocks: far faster than an SVD of the whole centred
    matrix (docs/BENCHMARKS.md), and no float64 copy of it is ever made.
    """

    def __init__(self, emb: np.ndarray, n_components: int = 2):
        x = np.asarray(emb)
        n, d = x.shape
        self.mean = x.mean(axis=0, dtype=np.float64)
        if n >= d:
            scatter = np.zeros((d, d))
            for start in range(0, n, _PCA_BLOCK):
                block = x[start : start + _PCA_BLOCK].astype(np.float64) - self.mean
                scatter += block.T @ block
            vt = np.linalg.eigh(scatter)[1][:, ::-1].T  # rows by decreasing variance
        else:  # few points in many dimensions: the thin SVD is the small problem
            _, _, vt = np.linalg.svd(x.astype(np.float64) - self.mean, full_matrices=False)
        # fix each axis' sign (largest loading positive) so equal data gives an equal map
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
        self.components = (vt * np.where(signs == 0, 1, signs)[:, None])[:n_components]

    def transform(self, emb: np.ndarray) -> np.ndarray:
        x = np.asarray(emb)
        out = np.empty((len(x), len(self.components)))
        for start in range(0, len(x), _PCA_BLOCK):
            out[start : start + _PCA_BLOCK] = (x[start : start + _PCA_BLOCK].astype(np.float64) - self.mean) @ self.components.T
        return out


def _pca(emb: np.ndarray, seed: int) -> _PCA:
    # PCA is deterministic; the seed is accepted for a uniform signature.
    return _PCA(emb)


def _pad2(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.shape[1] < 2:
        y = np.hstack([y, np.zeros((len(y), 2 - y.shape[1]), dtype=np.float32)])
    return np.ascontiguousarray(y)


# t-SNE's neighbour search runs on at most this many PCA dimensions (FIt-SNE / openTSNE advice).
TSNE_PCA_DIMS = 50
# Below this many points Barnes-Hut beats the FFT-interpolated gradient and an exact neighbour
# search beats building Annoy trees; above it the FFT method and Annoy win (openTSNE's docs).
TSNE_BH_BELOW = 10_000
# Small sets: (early exaggeration, normal) iterations, Barnes-Hut's theta, threads. With PCA
# init and openTSNE's learning rate (N / 12) 5,000 points settle by 100 + 200 iterations
# (trustworthiness 0.9911 against 0.9919 at 250 + 500 and 0.9907 at 125 + 250, which left the
# CPU ratio to scikit-learn at 2.6-3.1x), theta 0.8 cuts the gradient's CPU by a third at the
# same trustworthiness, and one thread: an iteration is ~20 ms of work, and a
# second OpenMP thread waiting at each of its barriers on a busy 2-core machine spent 2.9x the
# CPU of one thread (docs/BENCHMARKS.md, Projections).
TSNE_SMALL = dict(early_exaggeration_iter=100, n_iter=200, theta=0.8, n_jobs=1)
# Large sets: 250 + 250 iterations on every core. At 50,000 points the last 250 of openTSNE's
# default 250 + 500 cost 40 % of the CPU (the layout has spread, so the FFT grid is largest)
# and moved trustworthiness by 0.0001; a second thread costs ~10 % more CPU there for half
# the wait.
TSNE_LARGE_ITERS = dict(early_exaggeration_iter=250, n_iter=250)


class _CosineReducer:
    """Rows scaled to unit length, then their top TSNE_PCA_DIMS principal axes: Euclidean
    distance there ranks neighbours as cosine does on the input (|a-b|² = 2 - 2cos for unit
    vectors), in far fewer dimensions for the neighbour search."""

    def __init__(self, emb: np.ndarray):
        self.pca = _PCA(_normalise(emb), n_components=TSNE_PCA_DIMS)

    def __call__(self, emb: np.ndarray) -> np.ndarray:
        return self.pca.transform(_normalise(emb)).astype(np.float32)


def tsne_settings(n: int, dim: int) -> dict[str, Any]:
    """openTSNE's parameters for n points of dim dimensions (after any reduction): cosine on
    the raw input, or Euclidean on its unit-length PCA; small sets (< TSNE_BH_BELOW): Barnes-Hut,
    exact neighbours and TSNE_SMALL; large sets: FFT, Annoy, TSNE_LARGE_ITERS, every core."""
    small = n < TSNE_BH_BELOW
    return dict(
        n_components=2,
        # openTSNE needs perplexity well below N; 30 is the usual choice for larger sets.
        perplexity=min(30.0, (n - 1) / 3.0),
        metric="cosine" if dim <= TSNE_PCA_DIMS else "euclidean",
        negative_gradient_method="bh" if small else "fft",
        neighbors="exact" if small else "annoy",
        # every core for large sets: t-SNE belongs outside the GUI process (the projection
        # process, the CLI)
        **(TSNE_SMALL if small else dict(TSNE_LARGE_ITERS, n_jobs=_n_cores())),
    )


def _tsne(emb: np.ndarray, seed: int, progress: Progress, cancel: Cancel, **kwargs):
    from openTSNE import TSNE

    every = int(kwargs.pop("callbacks_every_iters", 25))
    params = dict(tsne_settings(len(emb), emb.shape[1]), random_state=seed)
    params.update(kwargs)
    total = params.get("early_exaggeration_iter", 250) + params.get("n_iter", 500)
    state = {"iters": 0, "cancelled": False}

    def callback(iteration, error, embedding):
        # openTSNE restarts the iteration count for each phase, so count calls instead.
        state["iters"] += every
        _report(progress, state["iters"] / total)
        if cancel is not None and cancel():
            state["cancelled"] = True
            return True  # tells openTSNE to stop
        return False

    tsne = TSNE(callbacks=callback, callbacks_every_iters=every, **params)
    _check_cancel(cancel)
    result = tsne.fit(emb)
    # openTSNE swallows the stop request and returns the partial layout; we want an error.
    if state["cancelled"]:
        raise Cancelled()
    _report(progress, 1.0)
    return result


UMAP_EXACT_BELOW = 4096  # umap-learn computes all pairwise distances below this many points (NNDescent above)


def _cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 − cosine similarity between the rows of a and b (a zero row is at distance 1 from everything),
    as umap-learn's own cosine metric measures it."""
    a, b = _normalise(a).astype(np.float64), _normalise(b).astype(np.float64)
    return np.clip(1.0 - a @ b.T, 0.0, 2.0)


def _umap(emb: np.ndarray, seed: int, **kwargs):
    import umap

    params = dict(
        n_components=2,
        n_neighbors=min(15, len(emb) - 1),
        metric="cosine",
        random_state=seed,
        # a fixed random_state forces one thread anyway; saying so avoids umap's warning.
        n_jobs=1,
    )
    params.update(kwargs)
    return umap.UMAP(**params)


def project(
    emb: np.ndarray,
    method: str,
    seed: int = 0,
    progress: Progress = None,
    cancel: Cancel = None,
    **kwargs: Any,
) -> np.ndarray:
    """Project (N, D) embeddings to float32 (N, 2) with "pca", "tsne" or "umap".

    kwargs go to the underlying estimator (openTSNE.TSNE or umap.UMAP). t-SNE reports progress
    and checks cancel every few iterations; PCA and UMAP only before and after.
    """
    return ReferenceMap(method, seed, **kwargs).fit(emb, progress=progress, cancel=cancel)


class ReferenceMap:
    """A 2-D layout that later embeddings are placed into, so a live map does not jump."""

    def __init__(self, method: str, seed: int = 0, **kwargs: Any):
        if method not in PROJECTIONS:
            raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(PROJECTIONS)}")
        self.method = method
        self.seed = seed
        self.kwargs = kwargs
        self.layout: np.ndarray | None = None
        self._model: Any = None
        self._reduce: Callable[[np.ndarray], np.ndarray] | None = None  # t-SNE of wide input
        self._train: np.ndarray | None = None  # UMAP on precomputed cosine distances: the points they are to

    def _exact_umap(self, emb: np.ndarray) -> bool:
        """UMAP with its default cosine metric on few enough points for umap-learn's exact neighbours."""
        return self.kwargs.get("metric", "cosine") == "cosine" and len(emb) < UMAP_EXACT_BELOW

    def fit(self, emb: np.ndarray, progress: Progress = None, cancel: Cancel = None) -> np.ndarray:
        """Fit the layout to (N, D) embeddings and return it as float32 (N, 2)."""
        emb = _check_points(emb, self.method)
        _check_cancel(cancel)
        if self.method == "pca":
            self._model = _pca(emb, self.seed)
            layout = self._model.transform(emb)
        elif self.method == "tsne":
            if emb.shape[1] > TSNE_PCA_DIMS and len(emb) > TSNE_PCA_DIMS:
                self._reduce = _CosineReducer(emb)
                emb = self._reduce(emb)
            model = _tsne(emb, self.seed, progress, cancel, **self.kwargs)
            # TSNEEmbedding.transform re-centres the reference in place; centring it now
            # keeps the returned layout and later placements in the same coordinates.
            model -= (model.max(axis=0) + model.min(axis=0)) / 2
            self._model = model
            layout = np.asarray(model)
        elif self._exact_umap(emb):
            # umap-learn's own exact path calls its numba cosine once per pair from Python (4 M calls, ~3 s
            # at 2,000 points): the same distances from one matrix product, then UMAP on them.
            self._train = emb
            distances = _cosine_distances(emb, emb)
            np.fill_diagonal(distances, 0.0)
            self._model = _umap(emb, self.seed, **{**self.kwargs, "metric": "precomputed"})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "using precomputed metric; inverse_transform will be unavailable"
                layout = self._model.fit_transform(distances)
            # The model kept the N × N matrix as its data, of which placing reads only the row count: without it
            # the map travels between the projection process and the window as kilobytes, not N² floats.
            self._model._raw_data = np.zeros((len(emb), 0), np.float32)
            _check_cancel(cancel)
        else:
            self._model = _umap(emb, self.seed, **self.kwargs)
            layout = self._model.fit_transform(emb)
            _check_cancel(cancel)
        _report(progress, 1.0)
        self.layout = _pad2(layout)
        return self.layout

    def place(self, emb: np.ndarray) -> np.ndarray:
        """Place new (M, D) embeddings into the fitted layout without moving it; float32 (M, 2)."""
        if self._model is None:
            raise RuntimeError("ReferenceMap.place called before fit")
        emb = np.asarray(emb, dtype=np.float32)
        if emb.ndim != 2:
            raise ValueError(f"embeddings must be a 2-D array (M, D), got shape {emb.shape}")
        if len(emb) == 0:
            return np.zeros((0, 2), dtype=np.float32)
        if self._reduce is not None:
            emb = self._reduce(emb)
        if self._train is not None:  # UMAP fitted on distances: place by the new points' distances to those
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Transforming new data with precomputed metric…"
                return _pad2(self._model.transform(_cosine_distances(emb, self._train)))
        # PCA: the fitted projection; t-SNE: openTSNE optimises only the new points against the
        # fixed reference; UMAP: the fitted model's transform.
        return _pad2(self._model.transform(emb))


# One warm-up per process: the projection process warms up at launch and an explorer asks again
# when first shown; the second caller waits for the first instead of compiling side by side.
_warm_lock = threading.Lock()
_warmed = False


def warm_up_umap() -> float:
    """Run UMAP once on a tiny random array so numba compiles (and caches); return seconds taken."""
    global _warmed
    t0 = time.perf_counter()
    with _warm_lock:
        if _warmed:
            return time.perf_counter() - t0
        # four clusters far apart, like the classes of a trained embedding: the neighbour graph falls into
        # pieces, which takes UMAP's multi-component spectral layout (compiled on first use, ~1 s)
        rng = np.random.default_rng(0)
        x = (rng.standard_normal((4, 8))[rng.integers(0, 4, 160)] * 6 + rng.standard_normal((160, 8)))
        x = x.astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = ReferenceMap("umap")
            reference.fit(x)
            reference.place(x[:4])  # transform has its own compiled functions
        _warmed = True
    return time.perf_counter() - t0


def _normalise(emb: np.ndarray) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (N, D), got shape {emb.shape}")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    # zero vectors stay zero (cosine 0 to everything) instead of becoming NaN
    return emb / np.maximum(norms, 1e-12)


def _check_index(i: Any, n: int, name: str) -> int:
    if not (isinstance(i, (int, np.integer)) and -n <= int(i) < n):
        raise ValueError(f"{name} must be an index in [0, {n}), got {i!r}")
    return int(i) % n


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k per row, highest first; rows of (Q, N) scores."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def nearest_neighbours(
    emb: np.ndarray,
    query: int | np.ndarray,
    k: int = 10,
    metric: str = "cosine",
    exclude: Iterable[int] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """The k items of emb nearest to query, best first: (indices (k,), scores (k,)).

    query is an index into emb (then excluded from its own results) or a vector (D,).
    Scores are cosine similarities (higher is nearer) for metric="cosine" and euclidean
    distances (lower is nearer) for metric="euclidean". k shrinks if fewer items remain.
    """
    if metric not in NEIGHBOUR_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(NEIGHBOUR_METRICS)}")
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (N, D), got shape {emb.shape}")
    n = len(emb)
    excluded = {_check_index(i, n, "exclude") for i in exclude}
    if isinstance(query, (int, np.integer)):
        q_index = _check_index(query, n, "query")
        excluded.add(q_index)
        vector = emb[q_index]
    else:
        vector = np.asarray(query, dtype=np.float32)
        if vector.shape != (emb.shape[1],):
            raise ValueError(f"query vector must have shape ({emb.shape[1]},), got {vector.shape}")
    if metric == "cosine":
        scores = _normalise(emb) @ _normalise(vector[None])[0]
    else:
        # negated so that "higher is better" for the shared top-k; flipped back below
        scores = -np.linalg.norm(emb - vector, axis=1)
    if excluded:
        scores[list(excluded)] = -np.inf
    k = min(k, n - len(excluded))
    if k < 1:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx, vals = _top_k(scores[None], k)
    vals = vals[0] if metric == "cosine" else -vals[0]
    return idx[0].astype(np.int64), vals.astype(np.float32)


def analogy(
    emb: np.ndarray,
    a: int,
    b: int,
    c: int,
    k: int = 5,
    method: str = "3cosadd",
    exclude: Iterable[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Answer "a − b + c" (start from a, remove b, add c): (indices (k,), scores (k,)) best first.

    3CosAdd maximises cos(d,a) − cos(d,b) + cos(d,c); 3CosMul (Levy & Goldberg 2014) maximises
    cos'(d,a)·cos'(d,c) / (cos'(d,b) + 1e-3) with cos' = (cos + 1) / 2. Vectors are L2-normalised;
    a, b, c and anything in exclude are never answers.
    """
    idx, vals = analogy_batch(emb, np.array([[a, b, c]]), k=k, method=method, exclude=exclude)
    return idx[0], vals[0]


def analogy_batch(
    emb: np.ndarray,
    abc: np.ndarray,
    k: int = 5,
    method: str = "3cosadd",
    exclude: Iterable[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """analogy() for many (a, b, c) rows at once: abc int (Q, 3) -> (indices (Q, k), scores (Q, k)).

    Works through the queries in chunks so one block of similarities stays near 64 MB.
    """
    method = method.lower()
    if method not in ANALOGY_METHODS:
        raise ValueError(f"unknown analogy method {method!r}; choose one of {', '.join(ANALOGY_METHODS)}")
    unit = _normalise(emb)
    n = len(unit)
    abc = np.asarray(abc)
    if abc.ndim != 2 or abc.shape[1] != 3 or not np.issubdtype(abc.dtype, np.integer):
        raise ValueError(f"abc must be an integer array of shape (Q, 3), got {abc.dtype} {abc.shape}")
    if abc.size and (abc.min() < 0 or abc.max() >= n):
        raise ValueError(f"analogy indices must be in [0, {n}), got values {abc.min()}..{abc.max()}")
    excluded = sorted({_check_index(i, n, "exclude") for i in (exclude or ())})
    k = min(k, n - 3 - len(excluded))
    if k < 1:
        raise ValueError(f"too few items ({n}) for an analogy once the inputs are excluded")
    q = len(abc)
    out_idx = np.zeros((q, k), dtype=np.int64)
    out_val = np.zeros((q, k), dtype=np.float32)
    # three (chunk, N) float32 blocks live at once
    chunk = max(1, _BLOCK_BYTES // (3 * 4 * max(n, 1)))
    rows = np.arange(chunk)[:, None]
    for start in range(0, q, chunk):
        part = abc[start : start + chunk]
        m = len(part)
        sim_a, sim_b, sim_c = (unit[part[:, j]] @ unit.T for j in range(3))
        if method == "3cosadd":
            scores = sim_a - sim_b + sim_c
        else:
            shift = lambda s: (s + 1.0) / 2.0  # noqa: E731 - cosines to [0, 1] so the product is monotone
            scores = shift(sim_a) * shift(sim_c) / (shift(sim_b) + _COSMUL_EPS)
        scores[rows[:m], part] = -np.inf
        if excluded:
            scores[:, excluded] = -np.inf
        idx, vals = _top_k(scores, k)
        out_idx[start : start + m] = idx
        out_val[start : start + m] = vals
    return out_idx, out_val
