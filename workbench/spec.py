"""What a method may know about its data (DataSpec) and the names of families and modalities; torch-free, so the CLI and the GUI can import it without torch."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FAMILIES = ("reconstruction", "pretext", "joint-embedding", "language", "image-text", "autoregressive",
            "masked-modelling")
MODALITIES = ("image", "sequence", "text")


@dataclass
class DataSpec:
    """What a method may know about its data: shapes, classes and ground-truth factors."""

    name: str
    modality: str
    input_shape: tuple[int, ...]  # (C, H, W) for images, (C, T) for sequences
    num_classes: int
    class_names: list[str]
    train_size: int
    test_size: int
    # factor name -> names of its values; per-sample codes live on the Dataset
    factors: dict[str, list[str]] = field(default_factory=dict)
    # Text only (layout in workbench/data/text.py): the vocabulary, most frequent first (test
    # row i is word i), each word's count, and the text as int32 ids with -1 between documents
    # (train rows are [word id, position in corpus]).
    vocab: list[str] = field(default_factory=list, repr=False)
    word_counts: list[int] = field(default_factory=list, repr=False)
    corpus: np.ndarray | None = field(default=None, repr=False, compare=False)
    # The train split's factor codes (name -> int64 (N,), indices into `factors`), for methods
    # whose training signal is paired data made from them (CLIP's captions); batch.index rows.
    train_factors: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def channels(self) -> int:
        return self.input_shape[0]
