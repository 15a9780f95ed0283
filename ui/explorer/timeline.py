"""The explorer's timeline: place snapshots into the fixed reference map one by one (slider, playback, live runs)."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer

from ui import theme
from workbench.analysis import SourceRef, load_source
from workbench.embeddings import ReferenceMap

FRAME_MS = 500  # timeline playback: two snapshots a second (slower when placing takes longer)


class TimelineMixin:
    """Placing, playback and the slider (part of Explorer: uses its `_place` TaskSlot, `_reference` and `_source`)."""

    def toggle_play(self) -> None:
        if self._playing:
            self.stop()
            return
        if len(self._snapshots) < 2 or self._reference is None:
            return
        self._playing = True
        self.play_button.setText("Pause")
        self.play_button.setIcon(theme.icon("pause"))
        if self.timeline.value() >= self.timeline.maximum():
            self.timeline.setValue(0)  # from the start; placing it continues the playback
        else:
            self._advance()

    def stop(self) -> None:
        """Stop timeline playback."""
        self._playing = False
        self.play_button.setText("Play")
        self.play_button.setIcon(theme.icon("play"))

    def is_playing(self) -> bool:
        return self._playing

    def _request_place(self, path: Path) -> None:
        if self._reference is None or self._source is None:
            return
        if self._place.is_running():
            self._pending_place = Path(path)  # newest request wins; placed when the current one ends
            return
        base, ref, path = self._source, self._reference, Path(path)
        step = int(path.stem) if path.stem.isdigit() else 0

        def work(progress, cancel):
            src = load_source(SourceRef.snapshot(base.run_dir, step, path), like=base)
            progress(-1, "placing")
            return src, ref.place(src.embeddings)

        self._placed_at = time.monotonic()
        self._place.start(work, done=lambda result: self._on_placed(ref, result), failed=self._on_place_failed,
                          cancelled=self._on_place_ended)

    def _on_placed(self, ref: ReferenceMap, result) -> None:
        if ref is self._reference:  # a map computed meanwhile makes this placement stale
            src, xy = result
            self._set_source(src, xy)
            self.scatter.keep_in_view()
        self._on_place_ended()

    def _on_place_failed(self, message: str) -> None:
        self.stop()
        self.status.setText(f"⚠ {message}")

    def _on_place_ended(self) -> None:
        if self._pending_place is not None:
            path, self._pending_place = self._pending_place, None
            self._request_place(path)
        elif self._playing:
            wait = max(0, int(FRAME_MS - 1000 * (time.monotonic() - self._placed_at)))
            QTimer.singleShot(wait, self._advance)

    def _on_timeline(self, value: int) -> None:
        if 0 <= value < len(self._snapshots):
            step, path = self._snapshots[value]
            self.timeline_label.setText(f"step {step} ({value + 1}/{len(self._snapshots)})")
            self._request_place(path)

    def _advance(self) -> None:
        if not self._playing:
            return
        if self.timeline.value() >= self.timeline.maximum():
            self.stop()
            return
        self.timeline.setValue(self.timeline.value() + 1)

    def _sync_timeline(self) -> None:
        src = self._source
        steps = [s for s, _ in self._snapshots]
        if src is not None and src.label.startswith("snapshot") and src.step in steps:
            self.timeline.blockSignals(True)
            self.timeline.setValue(steps.index(src.step))
            self.timeline.blockSignals(False)
        if steps:
            i = self.timeline.value()
            self.timeline_label.setText(f"step {steps[i]} ({i + 1}/{len(steps)})")
        else:
            self.timeline_label.setText("no snapshots")
