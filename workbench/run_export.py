"""Export a run: load its checkpoint, embed a split, project it, write HDF5 (format_version 1)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .analogies import analogy_report, flat_attrs
from .build import load_from_run
from .config import to_dict
from .embeddings import PROJECTIONS, Cancelled, compute_embeddings
from .export import COMPRESSIONS, DEFAULT_COMPRESSION, SPLIT_CODES, SPLITS, ExportError, ExportWriter, \
    check_destination, sha256_file
from .projection_service import run_inline

# Share of the progress bar each stage gets: embedding, projections, writing.
_EMBED, _PROJECT, _WRITE = 0.3, 0.6, 0.1
# Rows embedded and written to the file at a time (16 of compute_embeddings' batches).
_ROW_BLOCK = 8192


def export_run(run_dir: Path, out: Path, split: str = "test", projections: list[str] | tuple = ("pca",),
               checkpoint: str = "best", device: str = "auto",
               progress: Callable[[float, str], None] | None = None,
               cancel: Callable[[], bool] | None = None, force: bool = False,
               compression: str = DEFAULT_COMPRESSION) -> Path:
    """Write RUN_DIR's embeddings of `split` to `out`; returns the path written.

    `out` is checked before anything is loaded (export.check_destination: never a run's own
    file, a link or a device; force replaces an existing file that is not an export of ours).
    progress(fraction, stage) is called as work advances; cancel() returning True raises
    Cancelled and leaves any existing file at `out` untouched. compression names one of
    export.COMPRESSIONS.
    """
    if split not in SPLITS:
        raise ExportError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    bad = [p for p in projections if p not in PROJECTIONS]
    if bad:
        raise ExportError(f"unknown projection {', '.join(bad)}; choose from {', '.join(PROJECTIONS)}")
    if compression not in COMPRESSIONS:
        raise ExportError(f"unknown compression {compression!r}; choose one of {', '.join(COMPRESSIONS)}")
    report = progress or (lambda fraction, stage: None)
    out = check_destination(out, force)
    report(0.0, "loading checkpoint")
    loaded = load_from_run(run_dir, checkpoint, device)
    if out.exists() and Path(loaded.checkpoint).exists() and out.samefile(loaded.checkpoint):
        raise ExportError(f"{out} is the checkpoint being exported; choose another file name")
    d = loaded.dataset
    parts = {"train": [("train", d.x_train, d.y_train, d.factors_train)],
             "test": [("test", d.x_test, d.y_test, d.factors_test)]}
    chosen = parts["train"] + parts["test"] if split == "all" else parts[split]
    total = sum(len(x) for _, x, _, _ in chosen)
    labels = [y.numpy() for _, _, y, _ in chosen]
    indices = [np.arange(len(x)) for _, x, _, _ in chosen]  # each row's index in its own split
    split_codes = np.concatenate([np.full(len(x), SPLIT_CODES.index(name), dtype=np.uint8)
                                  for name, x, _, _ in chosen])
    factors = {}
    for _, _, _, f in chosen:
        for name, codes in f.items():
            factors.setdefault(name, []).append(codes)
    words = None
    if d.spec.modality == "text":  # each row's word: a train row's centre word, a test row's word
        words = [d.spec.vocab[i] for _, x, _, _ in chosen for i in x[:, 0].tolist()]
    # Projections and analogy scores need every row at once; without them rows go from the
    # model to the file block by block and the whole matrix never exists in memory.
    keep = bool(projections) or bool(factors)
    embed_share = _EMBED if projections else _EMBED + _PROJECT
    # The writer streams to a temporary file; leaving this block without finish() (Cancelled,
    # an error) deletes it, so `out` is never half-written.
    with ExportWriter(out, total, force=force, compression=compression) as writer:
        emb = _embed_rows(loaded, [x for _, x, _, _ in chosen], writer, keep, cancel,
                          lambda fr: report(embed_share * fr, "embedding"))
        projected = {}
        for i, name in enumerate(projections):
            start = _EMBED + _PROJECT * i / max(1, len(projections))
            span = _PROJECT / max(1, len(projections))
            report(start, f"{name} projection")
            # the projection process's own code, run here: the file and the app's map agree
            projected[name] = run_inline("layout", emb, name, seed=loaded.run.seed, cancel=cancel,
                                      progress=lambda fr, s=start, w=span, n=name: report(s + w * fr, f"{n} projection"))
        factor_codes = {k: np.concatenate(v) for k, v in factors.items()}
        attrs = {"method": loaded.run.method, "dataset": loaded.run.dataset, "split": split,
                 "config": to_dict(loaded.run), "checkpoint": str(loaded.checkpoint),
                 "checkpoint_sha256": sha256_file(loaded.checkpoint), "step": loaded.step,
                 "epoch": loaded.epoch, "seed": loaded.run.seed}
        if factor_codes:  # known factors: analogy accuracy of these very rows (docs/HDF5.md)
            report(_EMBED + _PROJECT, "analogies")
            attrs.update(flat_attrs(analogy_report({"model": emb}, factor_codes, cancel=cancel)))
        report(_EMBED + _PROJECT, "writing")
        if cancel is not None and cancel():
            raise Cancelled()
        path = writer.finish(np.concatenate(labels), np.concatenate(indices), projected,
                             factor_codes, dict(d.spec.factors), attrs, words=words, split=split_codes)
    report(1.0, "done")
    return path


def _embed_rows(loaded, parts: list, writer: ExportWriter, keep: bool, cancel: Callable[[], bool] | None,
                progress: Callable[[float], None]) -> np.ndarray | None:
    """Embed the parts' rows in order, _ROW_BLOCK at a time, appending each block to writer.

    Returns every row as one float32 (N, D) matrix when keep, else None.
    """
    total = sum(len(x) for x in parts)
    emb, done = None, 0
    for x in parts:
        for start in range(0, len(x), _ROW_BLOCK):
            rows = x[start : start + _ROW_BLOCK]
            block = compute_embeddings(loaded.method.embed, rows, device=loaded.device, cancel=cancel,
                                       progress=lambda fr, base=done, m=len(rows): progress((base + fr * m) / total))
            writer.add_rows(block)
            if keep:
                if emb is None:  # filled in place: no list of blocks plus a concatenated copy
                    emb = np.empty((total, block.shape[1]), dtype=np.float32)
                emb[done : done + len(block)] = block
            done += len(block)
    return emb


__all__ = ["export_run", "SPLITS", "Cancelled"]
