"""Export a run: load its checkpoint, embed a split, project it, write HDF5 (format_version 1)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .build import load_from_run
from .config import to_dict
from .embeddings import PROJECTIONS, Cancelled, compute_embeddings, project
from .export import ExportError, sha256_file, write_export

SPLITS = ("test", "train", "all")
# Share of the progress bar each stage gets: embedding, projections, writing.
_EMBED, _PROJECT, _WRITE = 0.3, 0.6, 0.1


def export_run(run_dir: Path, out: Path, split: str = "test", projections: list[str] | tuple = ("pca",),
               checkpoint: str = "best", device: str = "auto",
               progress: Callable[[float, str], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> Path:
    """Write RUN_DIR's embeddings of `split` to `out`; returns the path written.

    progress(fraction, stage) is called as work advances; cancel() returning True raises
    Cancelled and leaves any existing file at `out` untouched.
    """
    if split not in SPLITS:
        raise ExportError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    bad = [p for p in projections if p not in PROJECTIONS]
    if bad:
        raise ExportError(f"unknown projection {', '.join(bad)}; choose from {', '.join(PROJECTIONS)}")
    report = progress or (lambda fraction, stage: None)
    out = Path(out)
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name such as {out / 'embeddings.h5'}")
    if not out.parent.exists():
        raise ExportError(f"folder {out.parent} does not exist")
    report(0.0, "loading checkpoint")
    loaded = load_from_run(run_dir, checkpoint, device)
    d = loaded.dataset
    parts = {"train": [("train", d.x_train, d.y_train, d.factors_train)],
             "test": [("test", d.x_test, d.y_test, d.factors_test)]}
    chosen = parts["train"] + parts["test"] if split == "all" else parts[split]
    total = sum(len(x) for _, x, _, _ in chosen)
    embs, labels, indices, factors, done = [], [], [], {}, 0
    for _, x, y, f in chosen:
        base = done
        embs.append(compute_embeddings(
            loaded.method.embed, x, device=loaded.device, cancel=cancel,
            progress=lambda fr, base=base, n=len(x): report(_EMBED * (base + fr * n) / total, "embedding")))
        done += len(x)
        labels.append(y.numpy())
        indices.append(np.arange(len(x)))
        for name, codes in f.items():
            factors.setdefault(name, []).append(codes)
    emb = np.concatenate(embs)
    projected = {}
    for i, name in enumerate(projections):
        start = _EMBED + _PROJECT * i / max(1, len(projections))
        span = _PROJECT / max(1, len(projections))
        report(start, f"{name} projection")
        projected[name] = project(emb, name, seed=loaded.run.seed, cancel=cancel,
                                  progress=lambda fr, s=start, w=span, n=name: report(s + w * fr, f"{n} projection"))
    report(_EMBED + _PROJECT, "writing")
    attrs = {"method": loaded.run.method, "dataset": loaded.run.dataset, "split": split,
             "config": to_dict(loaded.run), "checkpoint": str(loaded.checkpoint),
             "checkpoint_sha256": sha256_file(loaded.checkpoint), "step": loaded.step,
             "epoch": loaded.epoch, "seed": loaded.run.seed}
    path = write_export(out, emb, np.concatenate(labels), np.concatenate(indices), projected,
                        {k: np.concatenate(v) for k, v in factors.items()},
                        dict(d.spec.factors), attrs, cancel=cancel,
                        progress=lambda fr: report(_EMBED + _PROJECT + _WRITE * fr, "writing"))
    report(1.0, "done")
    return path


__all__ = ["export_run", "SPLITS", "Cancelled"]
