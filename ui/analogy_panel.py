"""Analogy queries a − b + c = ? on the explorer's embeddings, judged against ground-truth factors when known."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QFrame, QHBoxLayout, QLabel, QPushButton, QRadioButton, QSpinBox,
                               QStackedWidget, QVBoxLayout, QWidget)

from ui import theme
from ui.gallery import Gallery, thumbnail
from ui.tasks import Task, run_task
from workbench.embeddings import analogy
from workbench.explore import EmbeddingSource, clean_analogy, expected_factors, matches_expected

EMPTY_TEXT = "Open a run and compute a map in the Explorer first."
ROLES = (("A", "start from"), ("B", "take away"), ("C", "add"))
MATCH, MISMATCH = "#2E9E4F", "#D0312D"
# Above this many embedding values (N × D) a query takes > ~50 ms here, so it runs off the GUI thread.
OFF_THREAD_VALUES = 4_000_000


class _Slot(QFrame):
    """One operand: its thumbnail, description and an index box (typing an index picks that item)."""

    changed = Signal(int)

    def __init__(self, letter: str, role: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("analogySlot")
        self.setFrameShape(QFrame.StyledPanel)
        self.source: EmbeddingSource | None = None
        self.heading = QLabel(f"<b>{letter}</b> · {role}")
        self.image = QLabel()
        self.image.setFixedSize(96, 96)
        self.image.setAlignment(Qt.AlignCenter)
        self.text = QLabel("—")
        self.text.setWordWrap(True)
        self.text.setMinimumWidth(150)
        self.text.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.spin = QSpinBox()
        self.spin.setRange(-1, 0)
        self.spin.setSpecialValueText("—")
        self.spin.setKeyboardTracking(False)  # act on Enter / focus out, not on every digit typed
        self.spin.setToolTip("Row of the item in the map; type one to pick it")
        self.spin.valueChanged.connect(self._on_spin)
        index_row = QHBoxLayout()
        index_row.addWidget(QLabel("index"))
        index_row.addWidget(self.spin, 1)
        right = QVBoxLayout()
        right.addWidget(self.heading)
        right.addWidget(self.text, 1)
        right.addLayout(index_row)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.image)
        layout.addLayout(right, 1)

    def index(self) -> int:
        return self.spin.value()

    def set_source(self, source: EmbeddingSource | None, keep: bool = False) -> None:
        self.source = source
        value = self.index() if keep else -1
        self.spin.blockSignals(True)
        self.spin.setRange(-1, len(source) - 1 if source is not None else 0)
        self.spin.setValue(value)
        self.spin.blockSignals(False)
        self._show(value)

    def set_index(self, i: int) -> None:
        self.spin.setValue(int(i))  # emits changed through _on_spin when it differs

    def _on_spin(self, value: int) -> None:
        self._show(value)
        self.changed.emit(value)

    def _show(self, i: int) -> None:
        if self.source is None or i < 0:
            self.image.clear()
            self.text.setText("—")
            return
        self.image.setPixmap(thumbnail(self.source.images[i], 96))
        self.text.setText(self.source.describe(i))

    def set_next(self, on: bool) -> None:
        """Mark the slot the next pick from the map will fill."""
        accent = theme.colors()["accent"] if on else theme.colors()["grid"]
        self.setStyleSheet(f"QFrame#analogySlot {{ border: {2 if on else 1}px solid {accent}; border-radius: 4px; }}")


class AnalogyPanel(QWidget):
    """"a − b + c = ?": three operands, 3CosAdd or 3CosMul, and the k best answers as a gallery."""

    query_made = Signal(int, int, int, object)  # a, b, c, answers (np.ndarray of indices, best first)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._source: EmbeddingSource | None = None
        self._next = 0
        self._task: Task | None = None
        self._results: tuple[np.ndarray, np.ndarray] | None = None
        self._rng = np.random.default_rng()
        self._build()
        self.set_source(None)
        self.apply_theme()

    # --- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.equation = QLabel("a − b + c = ?")
        font = self.equation.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.equation.setFont(font)
        self.slots = [_Slot(letter, role) for letter, role in ROLES]
        slots_row = QHBoxLayout()
        for slot in self.slots:
            slot.changed.connect(self._on_slot_changed)
            slots_row.addWidget(slot, 1)

        self.pick_button = QPushButton("Pick from map")
        self.pick_button.setCheckable(True)
        self.pick_button.setToolTip("While on, clicking points in the Explorer fills A, then B, then C")
        self.pick_button.toggled.connect(self._on_pick_toggled)
        self.cosadd = QRadioButton("3CosAdd")
        self.cosmul = QRadioButton("3CosMul")
        self.cosadd.setToolTip("cos(d, a) − cos(d, b) + cos(d, c)")
        self.cosmul.setToolTip("cos(d, a) · cos(d, c) / (cos(d, b) + ε), cosines shifted to [0, 1] (Levy & Goldberg)")
        self.cosadd.setChecked(True)
        self._methods = QButtonGroup(self)
        self._methods.addButton(self.cosadd)
        self._methods.addButton(self.cosmul)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 100)
        self.k_spin.setValue(8)
        self.find_button = QPushButton("Find")
        self.find_button.setDefault(True)
        self.find_button.clicked.connect(self.find)
        self.random_button = QPushButton("Random example")
        self.random_button.setToolTip("On data with known factors: a clean analogy "
                                      "(same shape, other colour − … + …); otherwise three random items")
        self.random_button.clicked.connect(self.random_example)
        controls = QHBoxLayout()
        controls.addWidget(self.pick_button)
        controls.addSpacing(12)
        controls.addWidget(self.cosadd)
        controls.addWidget(self.cosmul)
        controls.addSpacing(12)
        controls.addWidget(QLabel("k"))
        controls.addWidget(self.k_spin)
        controls.addWidget(self.find_button)
        controls.addStretch(1)
        controls.addWidget(self.random_button)

        self.expected_label = QLabel()
        self.verdict_label = QLabel()
        self.status = QLabel()
        self.results = Gallery(empty_text="Fill A, B and C (pick them on the map, type indices or press "
                                          "Random example), then Find.", caption_lines=4, cell_width=136)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.equation)
        layout.addLayout(slots_row)
        layout.addLayout(controls)
        layout.addWidget(self.expected_label)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.status)

        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)
        self._stack = QStackedWidget()
        self._stack.addWidget(self.empty)
        self._stack.addWidget(content)
        outer = QVBoxLayout(self)
        outer.addWidget(self._stack)

    # --- public API --------------------------------------------------------------------------
    @property
    def source(self) -> EmbeddingSource | None:
        return self._source

    def set_source(self, source: EmbeddingSource | None) -> None:
        """Query this source; the same items with new embeddings (a live map) keep A, B, C and re-run."""
        old = self._source
        keep = (source is not None and old is not None and old.indices.shape == source.indices.shape
                and np.array_equal(old.indices, source.indices))
        self._source = source
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for slot in self.slots:
            slot.set_source(source, keep=keep)
        self._stack.setCurrentIndex(1 if source is not None else 0)
        rerun = keep and self._results is not None
        if not keep:
            self._next = 0
            self._clear_results()
        self._update_expected()
        self._mark_next()
        self._update_buttons()
        if rerun:
            self.find()

    def pick(self, index: int) -> None:
        """A point clicked on the map: while "Pick from map" is on, it fills the next slot (A, B, C, A, …)."""
        if not self.pick_button.isChecked() or self._source is None or not 0 <= index < len(self._source):
            return
        slot = self._next
        self._next = (slot + 1) % 3
        self.slots[slot].set_index(index)
        self._mark_next()
        if slot == 2 and self._ready():
            self.find()

    def set_query(self, a: int, b: int, c: int) -> None:
        for slot, i in zip(self.slots, (a, b, c)):
            slot.set_index(i)

    def query(self) -> tuple[int, int, int]:
        a, b, c = (slot.index() for slot in self.slots)
        return a, b, c

    def method(self) -> str:
        return "3cosmul" if self.cosmul.isChecked() else "3cosadd"

    def find(self) -> None:
        """Answer the query now (vectorised; off the GUI thread only for large sources)."""
        if not self._ready():
            self.status.setText("Fill A, B and C with three different items first.")
            return
        src, (a, b, c), k, method = self._source, self.query(), self.k_spin.value(), self.method()
        if src.embeddings.size < OFF_THREAD_VALUES:
            try:
                result = analogy(src.embeddings, a, b, c, k=k, method=method)
            except ValueError as exc:
                self.status.setText(str(exc))
                return
            self._show_results((a, b, c), result)
            return
        if self._task is not None:
            self._task.cancel()
        self.status.setText(f"searching {len(src):,} items…")
        task = run_task(lambda progress, cancel: analogy(src.embeddings, a, b, c, k=k, method=method), self,
                        name="analogy")
        self._task = task
        task.done.connect(lambda result: self._task is task and self._show_results((a, b, c), result))
        task.failed.connect(lambda msg: self._task is task and self.status.setText(msg))
        task.ended.connect(lambda: setattr(self, "_task", None) if self._task is task else None)

    def random_example(self) -> None:
        """A clean analogy on sources with factors (else three random items), then its answers."""
        src = self._source
        if src is None or len(src) < 4:
            return
        triple = clean_analogy(src, self._rng) if src.factors else None
        if triple is None:
            triple = tuple(int(i) for i in self._rng.choice(len(src), 3, replace=False))
        self.set_query(*triple)
        self._next = 0
        self._mark_next()
        self.find()

    def results_indices(self) -> np.ndarray:
        return np.zeros(0, np.int64) if self._results is None else self._results[0]

    def apply_theme(self) -> None:
        c = theme.colors()
        self.empty.setStyleSheet(f"color: {c['muted']}; font-size: 13pt; padding: 24px;")
        self.status.setStyleSheet(f"color: {c['muted']};")
        self.results.apply_theme()
        self._mark_next()
        self._update_verdict()

    # --- internals ---------------------------------------------------------------------------
    def _ready(self) -> bool:
        q = self.query()
        return self._source is not None and min(q) >= 0 and len(set(q)) == 3

    def _on_slot_changed(self, _value: int) -> None:
        self._update_expected()
        self._update_buttons()

    def _on_pick_toggled(self, on: bool) -> None:
        if on:
            self._next = 0  # a fresh pick starts at A
        self._mark_next()

    def _mark_next(self) -> None:
        picking = self.pick_button.isChecked()
        for i, slot in enumerate(self.slots):
            slot.set_next(picking and i == self._next)

    def _update_buttons(self) -> None:
        has = self._source is not None
        self.find_button.setEnabled(has and self._ready())
        self.random_button.setEnabled(has)

    def _expected(self) -> dict[str, int | None]:
        src = self._source
        if src is None or not src.factors or not self._ready():
            return {}
        return expected_factors(src, *self.query())

    def _update_expected(self) -> None:
        expected = {k: v for k, v in self._expected().items() if v is not None}
        if not expected:
            self.expected_label.setText("expected: no single answer (the factors disagree)"
                                        if self._source is not None and self._source.factors and self._ready() else "")
        else:
            values = [self._source.factor_values[k][v] for k, v in expected.items()]
            self.expected_label.setText("expected: " + " · ".join(values))
        self.expected_label.setVisible(bool(self.expected_label.text()))

    def _clear_results(self) -> None:
        self._results = None
        self.results.clear()
        self.results.set_title("")
        self.verdict_label.clear()
        self.verdict_label.hide()
        self.status.clear()

    def _show_results(self, abc: tuple[int, int, int], result: tuple[np.ndarray, np.ndarray]) -> None:
        src = self._source
        if src is None or abc != self.query():
            return  # the query changed while it was being answered
        idx, scores = result
        self._results = (idx, scores)
        expected = self._expected()
        judged = {k: v for k, v in expected.items() if v is not None}
        items = []
        for j, s in zip(idx, scores):
            j = int(j)
            tip = src.describe(j)
            frame = None
            if judged:
                match = matches_expected(src, j, expected)
                frame = MATCH if all(match.values()) else MISMATCH
                tip += "\n" + "  ".join(f"{k} {'✓' if ok else '✗'}" for k, ok in match.items())
            items.append((src.images[j], f"score {s:.2f}\n{src.describe(j)}", tip, frame))
        self.results.set_title(f"{len(idx)} best answers ({'3CosMul' if self.method() == '3cosmul' else '3CosAdd'}; "
                               f"A, B and C excluded)")
        self.results.set_items(items)
        self.status.clear()
        self._update_verdict()
        self.query_made.emit(*abc, idx)

    def _update_verdict(self) -> None:
        expected = self._expected()
        if self._results is None or not len(self._results[0]) or not any(v is not None for v in expected.values()):
            self.verdict_label.hide()
            return
        ok = all(matches_expected(self._source, int(self._results[0][0]), expected).values())
        c = MATCH if ok else MISMATCH
        self.verdict_label.setText(f"top-1 matches the expected factors: <b style='color:{c}'>{'yes' if ok else 'no'}</b>")
        self.verdict_label.show()


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from workbench.explore import list_snapshots, load_snapshot

    app = QApplication(sys.argv)
    panel = AnalogyPanel()
    if len(sys.argv) > 1:
        snapshots = list_snapshots(Path(sys.argv[1]))
        if snapshots:
            panel.set_source(load_snapshot(Path(sys.argv[1]), snapshots[-1][1]))
            panel.random_example()
    panel.resize(1000, 700)
    panel.show()
    sys.exit(app.exec())
