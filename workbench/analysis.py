"""Analysis workflows without Qt: load a run's embeddings, project them, judge the map and the embeddings, compare two.

Every long call takes `progress(fraction, stage)` (a negative fraction: no estimate) and `cancel()`
callbacks, as the embeddings functions do; a cancelled call raises `workbench.embeddings.Cancelled`.
The explorer, the comparison view, the analogy panel and `ssl-workbench compare` / `health` call
these same functions, so the GUI and the CLI show the same numbers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import neighbourhoods
from .analogies import analogy_report, raw_inputs, raw_pixels, semantic_factors
from .embeddings import ReferenceMap
from .explore import EmbeddingSource, embed_checkpoint, list_snapshots, load_snapshot, snapshot_like
from .neighbourhoods import MapQuality, common_items, neighbour_change
from .rundir import RunDir

Progress = Callable[[float, str], None] | None
Cancel = Callable[[], bool] | None

PROJECTION_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
QUALITY_K = 10  # neighbourhood size for trustworthiness, continuity and false neighbours
FALSE_BELOW = 0.5  # a point is a false-neighbour point when fewer than half its map neighbours are true ones
PER_POINT_LIMIT = 20_000  # above this, false neighbours are checked on the summary's sample only
KNN_K = 20  # leave-one-out kNN vote, as the trainer's kNN monitor (k = 20, T = 0.1)
COLLAPSE_SAMPLE = 20_000  # rows the collapse metrics are computed from
CHANGE_K = 10  # neighbourhood size for the neighbour change between two embeddings


def _progress(progress: Progress) -> Callable[[float, str], None]:
    return progress if progress is not None else (lambda fraction, stage="": None)


# --- what to look at -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceRef:
    """Names a set of embeddings: a probe snapshot at a step, a checkpoint of run R, or embeddings given directly."""

    kind: str  # "snapshot" | "checkpoint" | "given"
    run_dir: Path | None = None
    step: int = -1  # snapshot: its training step
    path: Path | None = None  # snapshot: its .npz file
    checkpoint: str = ""  # checkpoint: "best", "last" or a file name
    given: EmbeddingSource | None = field(default=None, compare=False, repr=False)

    @classmethod
    def snapshot(cls, run_dir: Path | str, step: int, path: Path | str) -> SourceRef:
        return cls("snapshot", Path(run_dir), step=int(step), path=Path(path))

    @classmethod
    def of_checkpoint(cls, run_dir: Path | str, name: str = "best") -> SourceRef:
        return cls("checkpoint", Path(run_dir), checkpoint=str(name))

    @classmethod
    def of_source(cls, source: EmbeddingSource) -> SourceRef:
        return cls("given", source.run_dir, given=source)

    @property
    def title(self) -> str:
        """'snapshot step 93' / 'checkpoint: best' / the given source's label, for menus and reports."""
        if self.kind == "snapshot":
            return f"snapshot step {self.step}"
        if self.kind == "checkpoint":
            return f"checkpoint: {self.checkpoint}"
        return source_title(self.given) if self.given is not None else "given embeddings"


def source_title(src: EmbeddingSource) -> str:
    """'snapshot step 93' / 'checkpoint best.pt (step 93)' for status lines and menus."""
    return f"snapshot step {src.step}" if src.label.startswith("snapshot") else src.label


def list_sources(run_dir: Path | str) -> list[SourceRef]:
    """What a run offers to look at: its probe snapshots (oldest first), then its best and last checkpoints."""
    run_dir = Path(run_dir)
    out = [SourceRef.snapshot(run_dir, step, path) for step, path in list_snapshots(run_dir)]
    for which in ("best", "last"):
        if RunDir(run_dir).checkpoint(f"{which}.pt").is_file():
            out.append(SourceRef.of_checkpoint(run_dir, which))
    return out


def snapshot_ref(run_dir: Path | str, step: int | None = None) -> SourceRef:
    """The run's snapshot at `step` (None: the newest); ValueError naming the steps there are when absent."""
    snapshots = list_snapshots(Path(run_dir))
    if not snapshots:
        raise ValueError(f"{run_dir} has no probe snapshots yet (the first comes at the end of epoch 1)")
    if step is None:
        return SourceRef.snapshot(run_dir, *snapshots[-1])
    for s, path in snapshots:
        if s == step:
            return SourceRef.snapshot(run_dir, s, path)
    raise ValueError(f"{run_dir} has no snapshot at step {step}; it has steps "
                     f"{', '.join(str(s) for s, _ in snapshots)}")


def load_source(ref: SourceRef, like: EmbeddingSource | None = None, progress: Progress = None,
                cancel: Cancel = None, stage: str = "") -> EmbeddingSource:
    """The embeddings `ref` names, with their items' images, labels and factors.

    like: a source already loaded from the same run; a snapshot of the same items shares its
    images and labels instead of loading the dataset again (stepping through a timeline).
    Embedding with a checkpoint reports its progress; loading a snapshot is quick and says so once.
    """
    report = _progress(progress)
    if ref.kind == "snapshot":
        report(-1, stage or f"loading snapshot step {ref.step}")
        if like is not None and ref.run_dir is not None and Path(like.run_dir) == ref.run_dir:
            return snapshot_like(like, ref.path)
        return load_snapshot(ref.run_dir, ref.path)
    if ref.kind == "checkpoint":
        stage = stage or f"embedding with {ref.checkpoint}.pt"
        report(0.0, stage)
        return embed_checkpoint(ref.run_dir, ref.checkpoint, cancel=cancel, progress=lambda f: report(f, stage))
    if ref.given is None:
        raise ValueError("a 'given' source needs its embeddings")
    return ref.given


# --- maps ----------------------------------------------------------------------------------------
def project(embeddings: np.ndarray, method: str = "pca", seed: int = 0, progress: Progress = None,
            cancel: Cancel = None, stage: str = "") -> tuple[ReferenceMap, np.ndarray]:
    """A 2-D map of `embeddings` (PCA, t-SNE or UMAP) and the ReferenceMap that places later snapshots into it.

    Only t-SNE reports how far it is; the others report once with no estimate.
    """
    if method not in PROJECTION_NAMES:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(PROJECTION_NAMES)}")
    report = _progress(progress)
    stage = stage or PROJECTION_NAMES[method]
    report(0.0 if method == "tsne" else -1, stage)
    ref = ReferenceMap(method, seed=seed)
    xy = ref.fit(embeddings, cancel=cancel, progress=(lambda f: report(f, stage)) if method == "tsne" else None)
    return ref, xy


def quality_k(n: int, k: int = QUALITY_K) -> int:
    """The neighbourhood size map quality uses for n points (trustworthiness needs k < n / 2); < 1: too few."""
    return min(k, (n - 1) // 2)


def map_quality(embeddings: np.ndarray, xy: np.ndarray, k: int = QUALITY_K, progress: Progress = None,
                cancel: Cancel = None) -> MapQuality | None:
    """Trustworthiness, continuity and per-point false neighbours of a map (None: too few points to judge)."""
    n = len(embeddings)
    k = quality_k(n, k)
    if k < 1:
        return None
    report = _progress(progress)
    return neighbourhoods.map_quality(embeddings, xy, k, metric="cosine", per_point=n <= PER_POINT_LIMIT,
                                      progress=lambda f: report(f, "map quality"), cancel=cancel)


def false_neighbour_share(quality: MapQuality, below: float = FALSE_BELOW) -> float:
    """Share of the checked points whose map neighbours are mostly not true neighbours."""
    checked = quality.checked()
    return len(quality.false_neighbours(below)) / checked if checked else 0.0


# --- embedding health ----------------------------------------------------------------------------
@dataclass
class EmbeddingHealth:
    """What the embeddings themselves say, whatever the map: spread, effective rank, leave-one-out kNN."""

    dim: int
    std_ratio: float  # per-dimension std of unit vectors × sqrt(d): 1 ideal, 0 collapsed
    effective_rank: float
    knn_k: int
    knn_correct: np.ma.MaskedArray  # per item; unlabelled masked

    @property
    def knn_accuracy(self) -> float | None:
        judged = self.knn_correct.count()
        return float(self.knn_correct.sum()) / judged if judged else None

    @property
    def verdict(self) -> str:
        return collapse_verdict(self.std_ratio, self.effective_rank, self.dim)


def collapse_stats(embeddings: np.ndarray) -> dict[str, float]:
    """workbench.evaluate.collapse_metrics in numpy (float32 like it): std of unit vectors, its ratio, effective rank."""
    z = np.asarray(embeddings, np.float32)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), np.float32(1e-12))
    d = z.shape[1]
    std = float(z.std(axis=0, ddof=1).mean()) if len(z) > 1 else 0.0
    s = np.linalg.svd(z - z.mean(0, keepdims=True), compute_uv=False)
    p = s / max(float(s.sum()), 1e-12)
    entropy = -(p * np.log(p + 1e-12)).sum()
    return {"std": std, "std_ratio": std * d ** 0.5, "effective_rank": float(np.exp(entropy))}


VERDICTS = ("Collapsed", "Dimensional collapse", "Bunched", "Healthy")  # worst to best
BUNCHED_BELOW = 0.3   # std ratio below which the embeddings read bunched
VERDICT_MARGIN = 0.1  # a verdict changes only once a number is 10 % past the line it crossed (hysteresis)


def verdict_kind(std_ratio: float, effective_rank: float, dim: int, slack: float = 0.0) -> str:
    """The verdict's first word, each line moved by `slack` (a fraction: > 0 stricter, < 0 more lenient)."""
    at = 1.0 + slack
    if std_ratio < 0.05 * at or effective_rank < 1.5 * at:
        return "Collapsed"
    if dim > 4 and effective_rank < max(2.0, 0.1 * dim) * at:
        return "Dimensional collapse"
    if std_ratio < BUNCHED_BELOW * at:
        return "Bunched"
    return "Healthy"


def collapse_verdict(std_ratio: float, effective_rank: float, dim: int, previous: str | None = None) -> str:
    """One line reading the collapse metrics (Jing et al. 2022 call the middle case dimensional collapse),
    with the number and the band it falls in. Given the `previous` verdict (its first words), bands have
    hysteresis: a number within VERDICT_MARGIN of a line keeps the previous reading, so the verdict does
    not flip between epochs on noise (std ratio 0.31 → 0.28 stays "Healthy"; below 0.27 it turns)."""
    kind = verdict_kind(std_ratio, effective_rank, dim)
    strict, lenient = (verdict_kind(std_ratio, effective_rank, dim, s) for s in (VERDICT_MARGIN, -VERDICT_MARGIN))
    kept = (previous in VERDICTS and previous != kind
            and VERDICTS.index(strict) <= VERDICTS.index(previous) <= VERDICTS.index(lenient))
    if kept:
        kind = previous
    if kind in ("Healthy", "Bunched"):
        band = f"std ratio {std_ratio:.2f}; the line is {BUNCHED_BELOW:.2f} ± {BUNCHED_BELOW * VERDICT_MARGIN:.2f}"
    elif kind == "Dimensional collapse":
        band = f"effective rank {effective_rank:.1f}; the line is {max(2.0, 0.1 * dim):.1f}"
    else:
        band = f"std ratio {std_ratio:.2f}, effective rank {effective_rank:.1f}"
    if kept:
        band += ": within the margin, so the last reading stands"
    if kind == "Collapsed":
        text = "Collapsed: nearly every item gets the same embedding, so the map shows little but noise."
    elif kind == "Dimensional collapse":
        text = (f"Dimensional collapse: the embeddings use only about {effective_rank:.0f} of their {dim} "
                f"directions.")
    elif kind == "Bunched":
        text = ("Bunched: the embeddings point in similar directions (common early in training and for "
                "untrained encoders); neighbours still carry meaning.")
    else:
        text = "Healthy: the embeddings spread over many directions."
    return f"{text} ({band})"


def embedding_health(embeddings: np.ndarray, labels: np.ndarray, progress: Progress = None,
                     cancel: Cancel = None) -> EmbeddingHealth:
    """Collapse metrics (on a fixed sample of at most 20,000 rows) and each item's leave-one-out kNN vote."""
    emb = np.asarray(embeddings)
    # a fixed sample estimates both metrics closely and keeps the SVD short on 100k+ points
    rows = emb if len(emb) <= COLLAPSE_SAMPLE else emb[np.sort(
        np.random.default_rng(0).choice(len(emb), COLLAPSE_SAMPLE, replace=False))]
    metrics = collapse_stats(rows)
    report = _progress(progress)
    correct = neighbourhoods.knn_correct(emb, labels, k=KNN_K, progress=lambda f: report(f, "kNN"), cancel=cancel)
    return EmbeddingHealth(dim=emb.shape[1], std_ratio=metrics["std_ratio"],
                           effective_rank=metrics["effective_rank"], knn_k=KNN_K, knn_correct=correct)


def health_report(source: EmbeddingSource, projection: str = "pca", progress: Progress = None,
                  cancel: Cancel = None) -> dict:
    """Everything the explorer's Health panel says about a source mapped with `projection`, as plain data."""
    report = _progress(progress)
    _, xy = project(source.embeddings, projection, progress=lambda f, s: report(0.4 * max(f, 0), s), cancel=cancel)
    quality = map_quality(source.embeddings, xy, progress=lambda f, s: report(0.4 + 0.3 * f, s), cancel=cancel)
    health = embedding_health(source.embeddings, source.labels, progress=lambda f, s: report(0.7 + 0.3 * f, s),
                              cancel=cancel)
    out = {"source": source.label, "dataset": source.dataset, "method": source.method, "step": source.step,
           "n": len(source), "dim": health.dim, "projection": projection}
    if quality is not None:
        out.update(k=quality.k, trustworthiness=quality.trustworthiness, continuity=quality.continuity,
                   sampled=quality.sampled, false_neighbours=false_neighbour_share(quality))
    out.update(std_ratio=health.std_ratio, effective_rank=health.effective_rank, knn_k=health.knn_k,
               knn_correct=health.knn_accuracy, verdict=health.verdict)
    return out


# --- comparing two embeddings --------------------------------------------------------------------
@dataclass
class Comparison:
    """Two embeddings of the same items, their maps (empty when not projected), and each item's neighbour change."""

    a: EmbeddingSource
    b: EmbeddingSource
    xy_a: np.ndarray
    xy_b: np.ndarray
    change: np.ndarray  # (N,) 1 − Jaccard of the k nearest neighbours in A and in B
    mean_change: float
    k: int
    projection: str
    same_layout: bool
    title_a: str
    title_b: str

    def kept(self, i: int) -> int:
        """How many of item i's k neighbours in A are among its k in B (from 1 − |∩| / |∪|)."""
        c = float(self.change[i])
        return int(round(2 * self.k * (1 - c) / (2 - c)))

    @property
    def changed_share(self) -> float:
        """Share of items that changed at least one neighbour."""
        return float((self.change > 0).mean()) if len(self.change) else 0.0

    def summary(self) -> dict:
        return {"a": self.title_a, "b": self.title_b, "items": int(len(self.change)), "k": self.k,
                "metric": "cosine", "mean_change": self.mean_change, "changed_share": self.changed_share}


def compare(ref_a: SourceRef, ref_b: SourceRef, k: int = CHANGE_K, projection: str | None = "pca",
            same_layout: bool = False, titles: tuple[str, str] | None = None, progress: Progress = None,
            cancel: Cancel = None) -> Comparison:
    """Load A and B, keep the items both embed, find each item's neighbour change and (unless
    projection is None) map both — B placed into A's map when same_layout. titles default to the refs' titles."""
    report = _progress(progress)
    a = load_source(ref_a, progress=report, cancel=cancel, stage="loading A")
    b = load_source(ref_b, like=a, progress=report, cancel=cancel, stage="loading B")
    a, b = common_items(a, b, min_items=max(2 * k + 2, 5))
    mapped = projection is not None
    stage = f"neighbour change (k = {k})"
    change, mean = neighbour_change(a.embeddings, b.embeddings, k, cancel=cancel,
                                    progress=lambda f: report((0.5 if mapped else 1.0) * f, stage))
    xy_a = xy_b = np.zeros((0, 2), np.float32)
    if mapped:
        name = PROJECTION_NAMES.get(projection, projection)
        ref, xy_a = project(a.embeddings, projection, cancel=cancel, stage=f"{name} of A",
                            progress=lambda f, s: report(0.5 + 0.25 * f if f >= 0 else -1, s))
        if same_layout:
            if a.embeddings.shape[1] != b.embeddings.shape[1]:
                raise ValueError(f"B fits into A's map only with embeddings of the same size: A is "
                                 f"{a.embeddings.shape[1]}-d, B is {b.embeddings.shape[1]}-d")
            report(-1, f"placing B into A's {name}")
            xy_b = ref.place(b.embeddings)
        else:
            _, xy_b = project(b.embeddings, projection, cancel=cancel, stage=f"{name} of B",
                              progress=lambda f, s: report(0.75 + 0.25 * f if f >= 0 else -1, s))
    title_a, title_b = titles or (ref_a.title, ref_b.title)
    return Comparison(a, b, xy_a, xy_b, change, mean, k, projection or "", same_layout, title_a, title_b)


# --- analogies -----------------------------------------------------------------------------------
def can_test_analogies(source: EmbeddingSource | None) -> bool:
    """The analogy test needs at least two semantic factors with known values (e.g. shapes)."""
    return source is not None and len(semantic_factors(source.factors)) >= 2


def analogy_test(source: EmbeddingSource, progress: Progress = None, cancel: Cancel = None) -> dict:
    """The per-factor analogy test on a source next to the same queries on its raw input (`eval`'s floor)."""
    report = _progress(progress)
    report(0.0, "raw input")
    try:  # the data as the model sees it, like `ssl-workbench eval`'s floor
        floor = raw_inputs(source.run_dir, source.indices)
    except ValueError:  # no run behind this source: its thumbnails are the images
        floor = raw_pixels(source.images)
    return analogy_report({"model": source.embeddings, "floor_raw_pixels": floor}, source.factors,
                          progress=lambda f: report(f, "scoring"), cancel=cancel)
