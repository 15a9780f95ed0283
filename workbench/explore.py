"""What the explorer looks at: embeddings of a run (probe snapshots or a checkpoint) with their images, labels and factors."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .config import load_run_config
from .data import Dataset, load_dataset
from .runs import CONFIG_FILE, EMBEDDINGS


@dataclass
class EmbeddingSource:
    """Embeddings of test-split items plus everything needed to show and judge them."""

    run_dir: Path
    label: str  # "snapshot at step 93" / "checkpoint best.pt (step 93)"
    step: int
    embeddings: np.ndarray  # float32 (N, D)
    labels: np.ndarray  # int64 (N,), -1 unlabelled
    indices: np.ndarray  # int64 (N,), rows of the dataset's test split
    images: np.ndarray  # uint8 (N, H, W, 3) thumbnails
    class_names: list[str] = field(default_factory=list)
    factors: dict[str, np.ndarray] = field(default_factory=dict)  # name -> codes (N,)
    factor_values: dict[str, list[str]] = field(default_factory=dict)
    dataset: str = ""
    method: str = ""

    def __len__(self) -> int:
        return len(self.embeddings)

    def describe(self, i: int) -> str:
        """'#12 · 7' or '#12 · circle, red, small, …' for hover text and captions."""
        parts = [f"#{int(self.indices[i])}"]
        if self.factors:
            parts.append(", ".join(self.factor_values[k][int(v[i])] for k, v in self.factors.items()))
        elif self.labels[i] >= 0 and self.class_names:
            parts.append(self.class_names[int(self.labels[i])])
        return " · ".join(parts)


def images_hwc(x) -> np.ndarray:
    """uint8 (N, C, H, W) tensor or array to (N, H, W, 3)."""
    arr = x.numpy() if hasattr(x, "numpy") else np.asarray(x)
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
    return EmbeddingSource(
        run_dir=Path(run_dir), label=label, step=step, embeddings=np.asarray(emb, np.float32),
        labels=data.y_test.numpy()[idx], indices=idx, images=images_hwc(data.x_test[idx]),
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
    """For a − b + c, the factor values the answer should have (None where it is ambiguous).

    Per factor: if a and b agree, the answer takes c's value; if b and c agree, a's value;
    otherwise the query says nothing clear about that factor.
    """
    out: dict[str, int | None] = {}
    for name, codes in source.factors.items():
        fa, fb, fc = int(codes[a]), int(codes[b]), int(codes[c])
        out[name] = fc if fa == fb else fa if fb == fc else None
    return out


def matches_expected(source: EmbeddingSource, answer: int, expected: dict[str, int | None]) -> dict[str, bool]:
    """Factor by factor, whether `answer` has the expected value (ambiguous factors omitted)."""
    return {k: int(source.factors[k][answer]) == v for k, v in expected.items() if v is not None}


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
    """What a map of this source can be coloured by: "label", then each ground-truth factor."""
    return ["label", *source.factors]


def categories(source: EmbeddingSource, by: str = "label") -> tuple[np.ndarray, list[str]]:
    """Category codes (N,) and their names for colouring by "label" or a factor name.

    Unlabelled items (label -1) get their own last category, "unlabelled".
    """
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
                  vary: tuple[str, str] = ("shape", "colour"), same: tuple[str, ...] = ("size",)
                  ) -> tuple[int, int, int] | None:
    """Pick a, b, c for a − b + c with one clear answer, or None when the source has no such triple.

    With vary = (f1, f2): a and b share f1 but differ in f2; c has b's f2 and a different f1;
    all three agree on the `same` factors (e.g. red square − blue square + blue circle = red
    circle, all small). Every other factor (position, rotation) differs between a and b and
    between b and c, so expected_factors leaves it open instead of demanding a coincidence.
    Factors missing from the source are skipped; with fewer than two factors there is none.
    """
    names = [f for f in vary if f in source.factors]
    if len(names) < 2:
        names = list(source.factors)[:2]
    if len(names) < 2:
        return None
    f1, f2 = (np.asarray(source.factors[f]) for f in names)
    keep = [np.asarray(source.factors[f]) for f in same if f in source.factors and f not in names]
    loose = [np.asarray(v) for f, v in source.factors.items() if f not in names and f not in same]
    n = len(source)
    for a in rng.permutation(n)[:200]:  # a few hundred tries find one unless the data is tiny
        ok = np.ones(n, bool)
        for f in keep:
            ok &= f == f[a]
        ok_b = ok & (f1 == f1[a]) & (f2 != f2[a])
        for f in loose:
            ok_b &= f != f[a]
        bs = np.flatnonzero(ok_b)
        if not len(bs):
            continue
        b = int(rng.choice(bs))
        ok_c = ok & (f1 != f1[a]) & (f2 == f2[b])
        for f in loose:
            ok_c &= f != f[b]
        cs = np.flatnonzero(ok_c)
        if len(cs):
            return int(a), b, int(rng.choice(cs))
    return None
