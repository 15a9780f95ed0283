"""The explorer's Health measurements: how honest the shown map is and how healthy its embeddings, off the GUI thread."""
from __future__ import annotations

import numpy as np

from workbench import analysis
from workbench.analysis import FALSE_BELOW, PROJECTION_NAMES, EmbeddingHealth

KNN_CORRECT = "neighbour-label agreement"  # the colour-by entry (not the dashboard's train → test kNN)


class HealthMixin:
    """Starts workbench.analysis's map quality and embedding health in the `_map_slot` / `_emb_slot` TaskSlots
    and shows them in `self.health` (part of Explorer)."""

    def _clear_health(self) -> None:
        self._quality, self._quality_for, self._health, self._health_for = None, (None, None), None, None
        self._emb_measuring = None
        self.health.clear()
        self.scatter.set_marked([])

    def _measure(self) -> None:
        """Start (or restart) the Health computations for the shown map."""
        src, xy = self._source, self._xy
        if src is None or len(xy) != len(src):
            return
        projection = PROJECTION_NAMES[self._projection]
        if analysis.quality_k(len(src)) < 1:
            self._map_slot.forget()
            self._quality, self._quality_for = None, (src, xy)
            self.health.set_map_quality(projection, None, FALSE_BELOW)
        else:
            emb = src.embeddings
            # a newer map (the timeline moved on) makes a running measurement moot: the slot cancels it
            self._map_slot.start(lambda progress, cancel: analysis.map_quality(emb, xy, progress=progress,
                                                                                 cancel=cancel),
                                 done=lambda q: self._on_map_measured(src, xy, q), failed=self._on_measure_failed)
            if self._quality is None or not self._playing:  # during playback keep the last figures up
                self.health.set_map_busy(projection)
        if self.embedding_health is not None or (self._emb_slot.is_running()
                                                 and self._emb_measuring is src.embeddings):
            return
        emb, labels = src.embeddings, src.labels
        self._emb_measuring = emb  # the same embeddings are not measured twice
        self._emb_slot.start(lambda progress, cancel: analysis.embedding_health(emb, labels, progress, cancel),
                             done=lambda h: self._on_embeddings_measured(emb, h), failed=self._on_measure_failed)
        if self._health is None or not self._playing:
            self.health.set_embedding_busy()

    def _on_map_measured(self, src, xy, quality) -> None:
        if src is not self._source or xy is not self._xy:
            return  # the map moved on meanwhile; its own measurement follows
        self._quality, self._quality_for = quality, (src, xy)
        self.health.set_map_quality(PROJECTION_NAMES[self._projection], quality, FALSE_BELOW)
        self._show_marks()

    def _on_embeddings_measured(self, emb: np.ndarray, health: EmbeddingHealth) -> None:
        self._health, self._health_for = health, emb
        if self._source is not None and self._source.embeddings is emb:
            self.health.set_embedding_health(health)
            if self.colour_combo.currentText() == KNN_CORRECT:
                self._draw(reset_view=False)

    def _on_measure_failed(self, message: str) -> None:
        self.health.verdict.setText(f"⚠ {message}")

    def _show_marks(self) -> None:
        quality = self.map_quality
        if self.marks_check.isChecked() and quality is not None:
            self.scatter.set_marked(quality.false_neighbours(FALSE_BELOW))
        elif not self.marks_check.isChecked():
            self.scatter.set_marked([])

    def is_measuring(self) -> bool:
        """Whether the Health panel's numbers are still being computed."""
        return self._map_slot.is_running() or self._emb_slot.is_running()

    @property
    def map_quality(self):
        """MapQuality of the shown map, once computed (None before)."""
        src, xy = self._quality_for
        return self._quality if src is self._source and xy is self._xy else None

    @property
    def embedding_health(self) -> EmbeddingHealth | None:
        src = self._source
        return self._health if src is not None and self._health_for is src.embeddings else None
