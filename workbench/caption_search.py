"""Caption search over a trained image–text run: the test images nearest a typed caption, and the captions nearest an image."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .captions import all_captions, caption

Progress = Callable[[float], object] | None
Cancel = Callable[[], bool] | None


@dataclass
class Match:
    """One result: a test-set row (images) or a caption (texts), with its cosine similarity."""

    score: float
    row: int = -1
    text: str = ""
    true: bool | None = None  # for an image: whether the caption describes it (from its factors)


@dataclass
class CaptionIndex:
    """A run's image–text model with its test images and every full caption already embedded."""

    run_dir: Path
    method: object  # the loaded Method; has encode_text / unknown_words
    images: np.ndarray  # uint8 (N, H, W, 3) test images, for thumbnails
    image_codes: np.ndarray  # float32 (N, D) unit embeddings
    captions: list[str]
    caption_codes: np.ndarray  # float32 (M, D)
    factors: dict[str, list[str]] = field(default_factory=dict)
    factor_codes: dict[str, np.ndarray] = field(default_factory=dict)

    def true_caption(self, row: int) -> str:
        """The full caption of test image `row`, from its factors ("" without factors)."""
        if not self.factor_codes:
            return ""
        return caption(self.factors, {n: int(c[row]) for n, c in self.factor_codes.items()})

    def unknown_words(self, text: str) -> list[str]:
        return list(self.method.unknown_words(text))

    def images_for(self, text: str, k: int = 24) -> list[Match]:
        """The k test images closest to `text` (a caption a person typed), best first."""
        if not text.strip():
            raise ValueError("type a caption first, e.g. 'a small red triangle at the top left'")
        import torch
        with torch.no_grad():
            query = self.method.encode_text([text]).float().cpu().numpy()[0]
        scores = self.image_codes @ query
        return [Match(float(scores[r]), row=int(r)) for r in _top(scores, k)]

    def captions_for(self, row: int, k: int = 10) -> list[Match]:
        """The k captions closest to test image `row`, best first; each marked true or not."""
        if not 0 <= row < len(self.image_codes):
            raise ValueError(f"no test image {row}; there are {len(self.image_codes)}")
        scores = self.caption_codes @ self.image_codes[row]
        truth = self.true_caption(row)
        return [Match(float(scores[i]), text=self.captions[i], true=(self.captions[i] == truth) if truth else None)
                for i in _top(scores, k)]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    k = max(1, min(int(k), len(scores)))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def open_index(run_dir: Path | str, checkpoint: str = "best", device: str = "cpu",
               progress: Progress = None, cancel: Cancel = None) -> CaptionIndex:
    """Load a run and embed its test images and every full caption (slow part: off the GUI thread).

    A run whose method has no text tower is refused with a ValueError that says so.
    """
    import torch

    from .build import load_from_run
    from .config import load_run_config
    from .embeddings import compute_embeddings
    from .registry import get_method
    from .rundir import RunDir

    method_name = load_run_config(RunDir(Path(run_dir)).config).method
    cls = get_method(method_name)
    if not (hasattr(cls, "encode_text") and hasattr(cls, "encode_image")):  # refuse before loading weights
        raise ValueError(f"{Path(run_dir).name} trained {method_name}, which has no text encoder; "
                         f"caption search needs an image–text run (clip)")
    loaded = load_from_run(Path(run_dir), checkpoint, device)
    method, data = loaded.method, loaded.dataset
    image_codes = compute_embeddings(method.encode_image, data.x_test, 512, loaded.device,
                                     progress=(lambda f: progress(0.9 * f)) if progress else None,
                                     cancel=cancel)
    texts = all_captions(data.spec.factors)
    with torch.no_grad():
        caption_codes = np.concatenate([method.encode_text(texts[i:i + 1024]).float().cpu().numpy()
                                        for i in range(0, len(texts), 1024)])
    stored = data.x_test[:]  # a tensor, or the rows of an on-disk set read into one
    images = stored.numpy() if torch.is_tensor(stored) else np.asarray(stored)
    images = np.ascontiguousarray(np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images)
    if progress:
        progress(1.0)
    return CaptionIndex(Path(run_dir), method, images.transpose(0, 2, 3, 1), image_codes, texts, caption_codes,
                        dict(data.spec.factors), dict(data.factors_test))
