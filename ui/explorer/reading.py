"""The explorer's reading aids: find a word or item, word labels and thumbnails on the map, the colour-by the map
follows best, and the cue of which analogy slot a click fills."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit

from workbench.explore import EmbeddingSource, categories, colour_options
from workbench.map_reading import best_grouping, find_item


class ReadingMixin:
    """Search box, labels, thumbnails, default colour-by and pick cue (part of Explorer: uses `_source`, `_xy`,
    `scatter`, `colour_combo`, `status` and the ItemsMixin views)."""

    def _build_reading(self) -> list:
        """The search box and the thumbnails toggle, for the explorer's second row; also the map's pick cue."""
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Find a word, row or #index")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(120)
        self.search_edit.setMaximumWidth(220)
        self.search_edit.setToolTip("A word of a word map, a row number, or #N (the dataset index in captions): "
                                    "centres the map on it and shows its neighbours")
        self.search_edit.returnPressed.connect(lambda: self.find(self.search_edit.text()))
        self.images_check = QCheckBox("Thumbnails")  # of images or signals alike: not "Images" on a signals map
        self.images_check.setToolTip("Draw the items in view as thumbnails instead of dots (as many as fit "
                                     "without overlapping; zoom in for more)")
        self.images_check.toggled.connect(lambda on: self.scatter.overlay.set_show_images(on))
        self.pick_cue = QLabel(self.scatter)
        self.pick_cue.setObjectName("mapPickCue")  # the style sheet draws it in the highlight colours
        self.pick_cue.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.pick_cue.hide()
        self.colour_combo.activated.connect(lambda _: setattr(self, "_colour_chosen", True))
        return [self.search_edit, self.images_check]

    def find(self, text: str) -> int:
        """Centre the map on the item `text` names (word, row, #index), highlight it and list its neighbours.

        Returns its row, or -1 with the reason (and near spellings of an unknown word) in the status line.
        """
        src = self._source
        if src is None or len(self._xy) != len(src):
            return -1
        try:
            i = find_item(text, src.words, src.indices)
        except ValueError as exc:
            self.status.setText(f"⚠ {exc}")
            return -1
        self.scatter.clear_selection()
        self.scatter.centre_on(i)
        self._clicked = i
        self._show_item(i)
        self._show_neighbours(i)
        self._set_status()
        return i

    def set_pick_prompt(self, text: str) -> None:
        """Show on the map which analogy slot the next click fills ("" hides it; crosshair cursor while shown)."""
        self.pick_cue.setText(text)
        self.pick_cue.setVisible(bool(text))
        self.pick_cue.adjustSize()
        self.pick_cue.move(10, 10)
        self.scatter.viewport().setCursor(Qt.CrossCursor if text else Qt.ArrowCursor)

    def _dress_map(self, src: EmbeddingSource) -> None:
        """Labels for a word map (commonest words first: word ids rank by frequency), thumbnails for images."""
        overlay = self.scatter.overlay
        overlay.set_hover_text(lambda i: src.describe(i) if i < len(src) else "")
        overlay.set_labels(src.words or None, np.asarray(src.indices) if src.words else None)
        self.images_check.setVisible(not src.words)
        overlay.set_images(None if src.words else src.images)

    def _pick_default_colour(self, src: EmbeddingSource, xy: np.ndarray) -> None:
        """Colour a fresh map by what it groups best (label or a factor), unless the user chose a colour-by.

        Scoring every grouping queries a KD-tree per option (a second or more on a large map), so it runs
        in the `_group_slot` background task; the map is drawn meanwhile and recoloured when the answer comes."""
        if getattr(self, "_colour_chosen", False):
            return
        options = {}
        for name in colour_options(src):
            codes, names = categories(src, name)
            codes = np.where(np.asarray(names, dtype=object)[codes] == "unlabelled", -1, codes) if len(codes) else codes
            options[name] = codes
        if len(options) < 2:
            self._group_slot.forget()
            return
        self._group_slot.start(lambda progress, cancel: best_grouping(xy, options, progress, cancel),
                               done=lambda best: self._on_best_grouping(src, best))

    def _on_best_grouping(self, src: EmbeddingSource, best: str | None) -> None:
        if src is not self._source or getattr(self, "_colour_chosen", False) or not best:
            return  # another map is shown now, or the person chose a colour-by meanwhile: theirs wins
        index = self.colour_combo.findText(best)
        if index >= 0 and index != self.colour_combo.currentIndex():
            self.colour_combo.blockSignals(True)
            self.colour_combo.setCurrentIndex(index)
            self.colour_combo.blockSignals(False)
            self._draw(reset_view=False)
