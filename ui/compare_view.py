"""Two embeddings of the same items side by side (two snapshots or checkpoints of a run, or two runs on
the same data), coloured by how much each item's neighbourhood changed, with linked hover and selection."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ui import theme
from ui.gallery import thumbnail
from ui.map_colours import change_categories, option_colours
from ui.marked_scatter import MarkedScatter
from ui.tasks import TaskSlot
from workbench.analysis import CHANGE_K, PROJECTION_NAMES, Comparison, compare, list_sources
from workbench.explore import EmbeddingSource, categories, colour_options

NEIGHBOURS_K = CHANGE_K
CHANGE = "neighbour change"


class CompareView(QWidget):
    """Pick A and B, press Compare; hover, click or drag a rectangle in either map to find the same items
    in the other."""

    back_requested = Signal()
    compared = Signal(object)  # Comparison

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._run: Path | None = None
        self._other: Path | None = None  # B's run when it is not A's
        self._task = TaskSlot(self, "compare")
        self._result: Comparison | None = None
        self._pinned = -1
        self._build()
        self.apply_theme()
        self._update_controls()

    # --- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.back_button = QPushButton("← Map")
        self.back_button.setToolTip("Back to the map of one embedding")
        self.back_button.clicked.connect(self.back_requested)
        self.combo_a, self.combo_b = QComboBox(), QComboBox()
        for combo in (self.combo_a, self.combo_b):
            # 12 characters: the row fits the explorer's page of a 1280-px window (16 pushed "Compare" off it);
            # the open list shows whole names
            combo.setMinimumContentsLength(12)
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.combo_a.setToolTip("The first embedding: a probe snapshot or a checkpoint of this run")
        self.combo_b.setToolTip("The second embedding: of this run, or of another run on the same data")
        self.other_button = QPushButton("Other run…")
        self.other_button.setToolTip("Take B from another run trained on the same data")
        self.other_button.clicked.connect(self._choose_other_run)
        self.projection_combo = QComboBox()
        for key, name in PROJECTION_NAMES.items():
            self.projection_combo.addItem(name, key)
        self.same_layout = QCheckBox("B in A's map")
        self.same_layout.setToolTip("Place B into A's layout (so moved items show as moved points) instead of "
                                    "giving B a map of its own")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 100)
        self.k_spin.setValue(NEIGHBOURS_K)
        self.k_spin.setPrefix("k = ")
        self.k_spin.setToolTip("Neighbourhood size for the neighbour change")
        self.compare_button = QPushButton(theme.icon("compare"), "Compare")
        self.compare_button.clicked.connect(self.compare)
        self.progress_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(120)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)

        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addSpacing(8)
        top.addWidget(QLabel("A"))
        top.addWidget(self.combo_a)
        top.addWidget(QLabel("B"))
        top.addWidget(self.combo_b)
        top.addWidget(self.other_button)
        top.addSpacing(8)
        top.addWidget(self.projection_combo)
        top.addWidget(self.same_layout)
        top.addWidget(self.k_spin)
        top.addWidget(self.compare_button)
        top.addStretch(1)

        self.summary = QLabel("Pick two embeddings of the same items and press Compare.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        # progress sits beside the summary it will replace, not in the (already full) top row
        status = QHBoxLayout()
        status.addWidget(self.progress_label)
        status.addWidget(self.progress)
        status.addWidget(self.cancel_button)
        status.addWidget(self.summary, 1)

        self.title_a, self.title_b = QLabel(), QLabel()
        self.scatter_a, self.scatter_b = MarkedScatter(), MarkedScatter()
        maps = QGridLayout()
        maps.addWidget(self.title_a, 0, 0)
        maps.addWidget(self.title_b, 0, 1)
        maps.addWidget(self.scatter_a, 1, 0)
        maps.addWidget(self.scatter_b, 1, 1)
        maps.setRowStretch(1, 1)
        for mine, other in ((self.scatter_a, self.scatter_b), (self.scatter_b, self.scatter_a)):
            mine.set_empty_text("No comparison yet.")
            mine.hovered.connect(lambda i, m=mine, o=other: self._on_hover(i, m, o))
            mine.clicked.connect(self._on_click)
            mine.selected.connect(lambda idx, o=other: self._on_selected(idx, o))

        self.item_image = QLabel()
        self.item_image.setFixedSize(72, 72)
        self.item_image.setAlignment(Qt.AlignCenter)
        self.item_text = QLabel("Hover over a point to find the same item in the other map; click to pin it; "
                                "Shift+drag to select a region in either map.")
        self.item_text.setWordWrap(True)
        self.item_text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.colour_combo = QComboBox()
        self.colour_combo.setMinimumContentsLength(16)
        self.colour_combo.currentIndexChanged.connect(lambda _: self._draw(reset_view=False))
        bottom = QHBoxLayout()
        bottom.addWidget(self.item_image)
        bottom.addWidget(self.item_text, 1)
        bottom.addWidget(QLabel("Colour by"))
        bottom.addWidget(self.colour_combo)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(status)
        layout.addLayout(maps, 1)
        layout.addLayout(bottom)

    # --- public API --------------------------------------------------------------------------
    @property
    def result(self) -> Comparison | None:
        return self._result

    def run_dir(self) -> Path | None:
        return self._run

    def set_run(self, run_dir: Path | str | None) -> None:
        """Compare within this run (B from the same run) unless another run is chosen for B later."""
        run = Path(run_dir) if run_dir is not None else None
        if run != self._run:
            self.cancel()
            self._run, self._other, self._result = run, None, None
            self._clear_maps()
            self._fill(self.combo_a, self._run, keep=False, default="first")
            self._fill(self.combo_b, self._run, keep=False, default="last")
        else:
            self.refresh()
        self._update_controls()

    def set_other_run(self, run_dir: Path | str | None) -> None:
        """Take B from another run (None: from A's run again)."""
        self._other = Path(run_dir) if run_dir is not None and Path(run_dir) != self._run else None
        self._fill(self.combo_b, self._other or self._run, keep=False, default="last")
        self._update_controls()

    def refresh(self) -> None:
        """Re-list the runs' snapshots and checkpoints (a run still training has gained some)."""
        self._fill(self.combo_a, self._run, keep=True, default="first")
        self._fill(self.combo_b, self._other or self._run, keep=True, default="last")
        self._update_controls()

    def choose(self, a: str | None = None, b: str | None = None) -> None:
        """Pick A and B by their texts ("snapshot step 93", "checkpoint: best"); ValueError if absent."""
        for combo, text in ((self.combo_a, a), (self.combo_b, b)):
            if text is None:
                continue
            i = combo.findText(text)
            if i < 0:
                i = next((j for j in range(combo.count()) if combo.itemText(j).endswith(text)), -1)
            if i < 0:
                options = ", ".join(combo.itemText(j) for j in range(combo.count()))
                raise ValueError(f"no {text!r} to compare; choose one of {options}")
            combo.setCurrentIndex(i)

    def is_computing(self) -> bool:
        """Whether the comparison asked for last is still being computed."""
        return self._task.is_running()

    def is_busy(self) -> bool:
        """Whether any comparison (also a superseded or cancelled one) still owns its thread."""
        return self._task.is_busy()

    def compare(self) -> None:
        """Load A and B, find each item's neighbour change and map both, off the GUI thread (workbench.analysis)."""
        ref_a, ref_b = self.combo_a.currentData(), self.combo_b.currentData()
        if ref_a is None or ref_b is None:
            return
        method = self.projection_combo.currentData()
        same, k = self.same_layout.isChecked(), self.k_spin.value()
        titles = self._title(self.combo_a), self._title(self.combo_b)
        self._task.start(lambda progress, cancel: compare(ref_a, ref_b, k, method, same, titles, progress, cancel),
                         name=f"compare-{method}", progress=self._on_progress, done=self._on_done,
                         failed=self._on_failed, cancelled=self._on_cancelled)
        self._on_progress(-1, "starting")
        self._update_controls()

    def cancel(self) -> None:
        if self._task.is_running():
            self._task.cancel()
            self.progress_label.setText("cancelling…")

    def apply_theme(self) -> None:
        self.scatter_a.apply_theme()
        self.scatter_b.apply_theme()
        theme.set_look(self.progress_label, tone="muted")
        for label in (self.title_a, self.title_b):
            theme.set_look(label, tone="strong")
        if self._result is not None:
            self._draw(reset_view=False)

    # --- sources -----------------------------------------------------------------------------
    def _fill(self, combo: QComboBox, run: Path | None, keep: bool, default: str) -> None:
        current = combo.currentData() if keep else None
        combo.blockSignals(True)
        combo.clear()
        prefix = f"{run.name} · " if run is not None and run == self._other else ""
        for ref in list_sources(run) if run is not None else []:
            combo.addItem(prefix + ref.title, ref)
        # findData cannot compare Python tuples: look for the entry by hand
        index = next((i for i in range(combo.count()) if combo.itemData(i) == current), -1) if current else -1
        if index < 0 and combo.count():
            snapshots = [i for i in range(combo.count()) if combo.itemData(i).kind == "snapshot"]
            if default == "first":
                # the first trained snapshot: the untrained one (step 0) tells little about training
                index = snapshots[1] if len(snapshots) > 2 else snapshots[0] if snapshots else 0
            else:
                index = snapshots[-1] if snapshots else combo.count() - 1
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)

    def _title(self, combo: QComboBox) -> str:
        return combo.currentText()

    def _choose_other_run(self) -> None:
        start = str(self._run.parent) if self._run is not None else ""
        folder = QFileDialog.getExistingDirectory(self, "B from which run?", start)
        if folder:
            self.set_other_run(Path(folder))

    # --- task results --------------------------------------------------------------------------
    def _on_progress(self, fraction: float, stage: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * fraction))
        self.progress_label.setText(stage)

    def _on_done(self, result: Comparison) -> None:
        self._update_controls()
        old = self._result
        self._result, self._pinned = result, -1
        if old is None or old.a.factors.keys() != result.a.factors.keys():
            self._fill_colour_options(result.a)
        self.scatter_a.set_highlight([])
        self.scatter_b.set_highlight([])
        self._draw(reset_view=True)
        self.title_a.setText(f"A: {result.title_a} · {PROJECTION_NAMES[result.projection]}")
        layout = "placed into A's map" if result.same_layout else PROJECTION_NAMES[result.projection]
        self.title_b.setText(f"B: {result.title_b} · {layout}")
        self.summary.setText(self._summary_text(result))
        self.compared.emit(result)

    def _summary_text(self, r: Comparison) -> str:
        moved = r.changed_share
        return (f"<b>Neighbour change A → B: mean {r.mean_change:.3f}</b> (k = {r.k}, cosine, {len(r.change):,} "
                f"shared items; {moved:.0%} of items changed at least one neighbour). Per item 1 − Jaccard of its "
                f"{r.k} nearest neighbours in A and in B: 0 keeps them all, 1 keeps none.")

    def _on_failed(self, message: str) -> None:
        self._update_controls()
        self.summary.setText(f"⚠ {message}")

    def _on_cancelled(self) -> None:
        self._update_controls()
        self.summary.setText("Cancelled." + (" Showing the previous comparison." if self._result else ""))

    def _update_controls(self) -> None:
        busy = self._task.is_running()
        for w in (self.progress, self.progress_label, self.cancel_button):
            w.setVisible(busy)
        self.compare_button.setEnabled(self.combo_a.count() > 0 and self.combo_b.count() > 0)
        self.other_button.setEnabled(self._run is not None)

    # --- drawing -------------------------------------------------------------------------------
    def _fill_colour_options(self, src: EmbeddingSource) -> None:
        current = self.colour_combo.currentText()
        self.colour_combo.blockSignals(True)
        self.colour_combo.clear()
        self.colour_combo.addItems([CHANGE, *colour_options(src)])
        self.colour_combo.setCurrentIndex(max(0, self.colour_combo.findText(current)))
        self.colour_combo.blockSignals(False)

    def _draw(self, reset_view: bool = True) -> None:
        r = self._result
        if r is None:
            return
        by = self.colour_combo.currentText() or CHANGE
        if by == CHANGE:
            codes, names, colours = change_categories(r.change)
        else:
            codes, names = categories(r.a, by)
            colours = option_colours(by, names)
        for view, xy in ((self.scatter_a, r.xy_a), (self.scatter_b, r.xy_b)):
            view.set_points(xy, codes, names, colours, reset_view=reset_view)

    def _clear_maps(self) -> None:
        for view in (self.scatter_a, self.scatter_b):
            view.set_points(np.zeros((0, 2)))
            view.set_highlight([])
        self.title_a.setText("")
        self.title_b.setText("")
        self.item_image.clear()
        self.summary.setText("Pick two embeddings of the same items and press Compare.")

    # --- linked hover, click and selection -------------------------------------------------------
    def _show_item(self, i: int) -> None:
        r = self._result
        if r is None or not 0 <= i < len(r.change):
            return
        self.item_image.setPixmap(thumbnail(r.a.images[i], 72))
        self.item_text.setText(f"<b>{r.a.describe(i)}</b>: keeps {r.kept(i)} of its {r.k} nearest neighbours "
                               f"from A to B (change {r.change[i]:.2f})")

    def _on_hover(self, i: int, mine: MarkedScatter, other: MarkedScatter) -> None:
        accent = theme.colors()["accent"]
        if i >= 0:
            other.set_highlight([i], accent)
            self._show_item(i)
        elif self._pinned >= 0:
            self._pin(self._pinned)
        else:
            other.set_highlight([])

    def _pin(self, i: int) -> None:
        colour = theme.colors()["text"]
        self.scatter_a.set_highlight([i], colour)
        self.scatter_b.set_highlight([i], colour)
        self._show_item(i)

    def _on_click(self, i: int) -> None:
        if self._result is None:
            return
        self._pinned = i
        self.scatter_a.clear_selection()
        self.scatter_b.clear_selection()
        self._pin(i)

    def _on_selected(self, indices: np.ndarray, other: MarkedScatter) -> None:
        r = self._result
        if r is None:
            return
        other.show_selection(indices)
        if len(indices):
            self.item_text.setText(f"<b>{len(indices):,} selected</b>: mean neighbour change "
                                   f"{float(r.change[indices].mean()):.3f} (all items: {r.mean_change:.3f})")
        else:
            self.item_text.setText("No points inside the rectangle.")


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    view = CompareView()
    if len(sys.argv) > 1:
        view.set_run(Path(sys.argv[1]))
        if len(sys.argv) > 2:
            view.set_other_run(Path(sys.argv[2]))
        view.compare()
    view.resize(1300, 750)
    view.show()
    sys.exit(app.exec())
