"""What the explorer looks at: embeddings of a run (probe snapshots or a checkpoint) with their images, labels and factors."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import analogies
from .config import load_run_config
from .data import Dataset, load_dataset
from .runs import CONFIG_FILE, EMBEDDINGS
from .wordtiles import WordTiles

SPARKLINE_SIZE = (48, 96)  # thumbnail of a sequence, (height, width) in pixels
WORD_FREQUENCY = "word frequency"  # colour-by for words: how often each occurs in the corpus, in ordered bins
FREQUENCY_STEPS = (1, 2, 5)  # bin edges at 1, 2, 5 × 10^k occurrences: a log scale that reads in round numbers


@dataclass
class EmbeddingSource:
    """Embeddings of test-split items plus everything needed to show and judge them."""

    run_dir: Path
    label: str  # "snapshot at step 93" / "checkpoint best.pt (step 93)"
    step: int
    embeddings: np.ndarray  # float32 (N, D)
    labels: np.ndarray  # int64 (N,), -1 unlabelled
    indices: np.ndarray  # int64 (N,), rows of the dataset's test split
    images: np.ndarray  # uint8 (N, H, W, 3) thumbnails; a WordTiles (text) or DiskTiles (on-disk data), indexed the same way
    class_names: list[str] = field(default_factory=list)
    factors: dict[str, np.ndarray] = field(default_factory=dict)  # name -> codes (N,)
    factor_values: dict[str, list[str]] = field(default_factory=dict)
    dataset: str = ""
    method: str = ""
    words: list[str] = field(default_factory=list)  # text: the word of each item (images are word tiles)
    word_counts: np.ndarray | None = None  # text: how often each item's word occurs in the corpus (N,)

    def __len__(self) -> int:
        return len(self.embeddings)

    def describe(self, i: int) -> str:
        """'#12 · 7' or '#12 · circle, red, small, …' for hover text and captions; a text item's word."""
        if self.words:
            return self.words[i]
        parts = [f"#{int(self.indices[i])}"]
        if self.factors:
            parts.append(", ".join(self.factor_values[k][int(v[i])] for k, v in self.factors.items()))
        elif self.labels[i] >= 0 and self.class_names:
            parts.append(self.class_names[int(self.labels[i])])
        return " · ".join(parts)

    def find_word(self, word: str) -> int:
        """The item showing `word` (case-insensitive); ValueError with a clear message if none does."""
        key = str(word).strip().lower()
        try:
            return self.words.index(key)
        except ValueError:
            if not self.words:
                raise ValueError("this map shows no words; type an item's index instead") from None
            raise ValueError(f"{str(word).strip()!r} is not among the {len(self.words):,} words of this map; "
                             f"a checkpoint as the source covers the whole vocabulary") from None


def thumbnails(x, idx: np.ndarray):
    """Rows idx of a split as (N, H, W, 3) thumbnails: an array, or for a split kept on disk a
    lazy DiskTiles that reads each one when it is first shown."""
    from .data.store import DiskTiles, ImageRows  # imports torch: only once a map has data

    if isinstance(x, ImageRows):
        return DiskTiles(x, idx)
    return images_hwc(x[idx])


def images_hwc(x) -> np.ndarray:
    """uint8 (N, C, H, W) tensor or array to (N, H, W, 3); float sequences (N, C, T) become
    sparkline tiles on one shared y range, so amplitudes compare across thumbnails."""
    arr = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
    if arr.ndim == 3:
        from .render import sparklines

        return sparklines(arr, size=SPARKLINE_SIZE)
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 3, axis=1)
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1))


def _dataset_for(run_dir: Path) -> tuple[Dataset, str, str]:
    run = load_run_config(Path(run_dir) / CONFIG_FILE)
    return (load_dataset(run.dataset, root=run.data_root, image_size=run.image_size),
            run.dataset, run.method)


def list_snapshots(run_dir: Path) -> list[tuple[int, Path]]:
    """Probe snapshots saved during training, (step, path), oldest first."""
    folder = Path(run_dir) / EMBEDDINGS
    out = []
    for p in folder.glob("*.npz") if folder.is_dir() else []:
        try:
            out.append((int(p.stem), p))
        except ValueError:
            continue
    return sorted(out)


def _source(run_dir: Path, label: str, step: int, emb: np.ndarray, indices: np.ndarray) -> EmbeddingSource:
    data, dataset, method = _dataset_for(run_dir)
    idx = np.asarray(indices, dtype=np.int64)
    # Text: test rows are [word id, -1]; words are drawn as tiles on demand, not held as pixels.
    ids = [int(w) for w in data.x_test[idx, 0]] if data.spec.modality == "text" else []
    words = [data.spec.vocab[w] for w in ids]
    counts = data.spec.word_counts
    word_counts = np.asarray([counts[w] for w in ids], np.int64) if ids and len(counts) == len(data.spec.vocab) else None
    return EmbeddingSource(
        run_dir=Path(run_dir), label=label, step=step, embeddings=np.asarray(emb, np.float32),
        labels=data.y_test.numpy()[idx], indices=idx,
        images=WordTiles(words) if words else thumbnails(data.x_test, idx), words=words, word_counts=word_counts,
        class_names=list(data.spec.class_names),
        factors={k: np.asarray(v)[idx] for k, v in data.factors_test.items()},
        factor_values=dict(data.spec.factors), dataset=dataset, method=method)


def load_snapshot(run_dir: Path, path: Path) -> EmbeddingSource:
    """A probe snapshot written by the trainer (embeddings/<step>.npz)."""
    path = Path(path)
    if not path.is_absolute():
        path = Path(run_dir) / path
    with np.load(path) as z:
        emb, indices = z["embeddings"], z["indices"]
    step = int(path.stem) if path.stem.isdigit() else 0
    return _source(run_dir, f"snapshot at step {step}", step, emb, indices)


def embed_checkpoint(run_dir: Path, which: str = "best", limit: int | None = None,
                     progress: Callable[[float], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> EmbeddingSource:
    """Embed the whole test split (or its first `limit` items) with a checkpoint."""
    from .build import load_from_run
    from .embeddings import compute_embeddings
    loaded = load_from_run(run_dir, which, device="auto")
    x = loaded.dataset.x_test if limit is None else loaded.dataset.x_test[:limit]
    emb = compute_embeddings(loaded.method.embed, x, device=loaded.device, progress=progress, cancel=cancel)
    return _source(run_dir, f"checkpoint {loaded.checkpoint.name} (step {loaded.step})", loaded.step,
                   emb, np.arange(len(x)))


def expected_factors(source: EmbeddingSource, a: int, b: int, c: int) -> dict[str, int | None]:
    """For a − b + c, the factor values the answer should have (None: left open); see analogies.expected_factors."""
    return analogies.expected_factors(source.factors, a, b, c)


def matches_expected(source: EmbeddingSource, answer: int, expected: dict[str, int | None]) -> dict[str, bool]:
    """Factor by factor, whether `answer` has the expected value (open factors omitted)."""
    return analogies.matches_expected(source.factors, answer, expected)


def snapshot_like(source: EmbeddingSource, path: Path) -> EmbeddingSource:
    """The snapshot at `path`, sharing `source`'s images, labels and factors when it embeds the same items.

    Probe snapshots of one run embed the same test items at every step, so stepping through a
    timeline only needs each file's embeddings; anything else is loaded in full.
    """
    path = Path(path)
    if not path.is_absolute():
        path = Path(source.run_dir) / path
    with np.load(path) as z:
        emb, indices = z["embeddings"], z["indices"]
    if not np.array_equal(np.asarray(indices, np.int64), source.indices):
        return load_snapshot(source.run_dir, path)
    step = int(path.stem) if path.stem.isdigit() else 0
    return replace(source, label=f"snapshot at step {step}", step=step, embeddings=np.asarray(emb, np.float32))


def colour_options(source: EmbeddingSource) -> list[str]:
    """What a map of this source can be coloured by: "label" (only where some items have one, or nothing else
    is known: all "unlabelled" says nothing), each ground-truth factor, and a word's frequency in the corpus."""
    others = [*source.factors] + ([WORD_FREQUENCY] if source.word_counts is not None else [])
    labelled = bool((np.asarray(source.labels) >= 0).any())
    return ["label", *others] if labelled or not others else others


def ordered_option(by: str) -> bool:
    """Whether a colour-by's categories are ordered bins of a measure (an ordered colour scale), not classes."""
    return by == WORD_FREQUENCY


def frequency_bins(counts: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes (N,) and names ("1 time", "2–4 times", …, "1,000–1,999 times") of log-spaced bins of occurrence counts,
    from the bin of the rarest word to that of the most frequent (every bin between them named)."""
    counts = np.maximum(np.asarray(counts, np.int64), 1)
    top = int(counts.max()) if len(counts) else 1
    edges = [m * 10 ** k for k in range(len(str(top)) + 1) for m in FREQUENCY_STEPS]
    edges = [e for e in edges if e <= top] + [next(e for e in edges if e > top)]
    codes = np.searchsorted(edges, counts, side="right") - 1
    first = int(codes.min()) if len(codes) else 0
    names = [f"{a:,}–{b - 1:,} times" if b - 1 > a else "1 time" if a == 1 else f"{a:,} times"
             for a, b in zip(edges[first:-1], edges[first + 1:])]
    return (codes - first).astype(np.int64), names


def categories(source: EmbeddingSource, by: str = "label") -> tuple[np.ndarray, list[str]]:
    """Category codes (N,) and their names for colouring by "label", a factor name or word frequency.

    Unlabelled items (label -1) get their own last category, "unlabelled".
    """
    if by == WORD_FREQUENCY and source.word_counts is not None:
        return frequency_bins(source.word_counts)
    if by in source.factors:
        return np.asarray(source.factors[by], np.int64), list(source.factor_values[by])
    if by != "label":
        raise ValueError(f"cannot colour by {by!r}; choose one of {', '.join(colour_options(source))}")
    labels = np.asarray(source.labels, np.int64)
    k = max(len(source.class_names), int(labels.max()) + 1 if len(labels) else 0)
    names = list(source.class_names) + [str(i) for i in range(len(source.class_names), k)]
    if (labels < 0).any():
        labels = np.where(labels < 0, k, labels)
        names.append("unlabelled")
    return labels, names


def clean_analogy(source: EmbeddingSource, rng: np.random.Generator,
                  vary: tuple[str, str] = ("shape", "colour")) -> tuple[int, int, int] | None:
    """Pick a, b, c for a − b + c with one clear answer, or None when the source has no such triple.

    With vary = (f1, f2): a and b share f1 but differ in f2; c has b's f2 and a different f1;
    all three agree on the other semantic factors (e.g. red square − blue square + blue circle
    = red circle, all small); position and rotation are free. A query of the kind the analogy
    test scores (workbench.analogies); other factors are used when `vary` names missing ones.
    """
    names = [f for f in vary if f in analogies.semantic_factors(source.factors)]
    partner, swap = names if len(names) == 2 else (None, None)
    return analogies.random_quadruple(source.factors, rng, swap=swap, partner=partner)
