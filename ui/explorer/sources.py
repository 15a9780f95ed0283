"""The explorer's source menu: a run's snapshots (newest first) and checkpoints, or a source handed over directly."""
from __future__ import annotations

from workbench.analysis import SourceRef, list_sources, source_title


class SourcesMixin:
    """Fills `source_combo` with SourceRefs and keeps it in step with the shown source (part of Explorer)."""

    def _fill_sources(self, keep: bool = False) -> None:
        current = self.source_combo.currentData() if keep else None
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        refs = list_sources(self._run_dir) if self._run_dir is not None else []
        snapshots = [r for r in refs if r.kind == "snapshot"]
        self._snapshots = [(r.step, r.path) for r in snapshots]
        for ref in [*reversed(snapshots), *(r for r in refs if r.kind == "checkpoint")]:  # newest snapshot first
            self.source_combo.addItem(ref.title, ref)
        if self._given is not None:
            self.source_combo.addItem(source_title(self._given), SourceRef.of_source(self._given))
        if current is not None:
            self._select_source(current)
        self.source_combo.blockSignals(False)
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, max(0, len(self._snapshots) - 1))
        self.timeline.blockSignals(False)
        self._sync_timeline()
        self._update_controls()

    def _select_source(self, ref: SourceRef) -> None:
        for i in range(self.source_combo.count()):
            data = self.source_combo.itemData(i)
            same = data.path == ref.path if ref.kind == "snapshot" else data.checkpoint == ref.checkpoint
            if data.kind == ref.kind and same:
                self.source_combo.blockSignals(True)
                self.source_combo.setCurrentIndex(i)
                self.source_combo.blockSignals(False)
                return

    def _on_source_chosen(self, _index: int) -> None:
        ref = self.source_combo.currentData()
        if ref is None:
            return
        if ref.kind == "snapshot" and self._reference is not None:
            self._request_place(ref.path)  # cheap, and keeps the map where it is
        else:
            self.compute()

    def _select_current_in_combo(self) -> None:
        src = self._source
        if src is None or self._given is not None:
            return
        if src.label.startswith("snapshot"):
            path = next((p for s, p in self._snapshots if s == src.step), None)
            if path is not None:
                self._select_source(SourceRef.snapshot(self._run_dir, src.step, path))
