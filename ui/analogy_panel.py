"""Analogy queries a − b + c = ? on the explorer's embeddings, judged against ground-truth factors when known,
and the per-factor analogy test (workbench.analogies) next to its raw-pixel floor."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QFrame, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QRadioButton, QSpinBox, QStackedWidget, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ui import theme
from ui.analogy_cards import ExpectedCard, OperandCard
from ui.gallery import Gallery
from ui.tasks import TaskSlot
from workbench.analogies import METHOD_TITLES, TOPS, expected_rank, random_quadruple
from workbench.analysis import analogy_test, can_test_analogies
from workbench.embeddings import ANALOGY_METHODS, analogy
from workbench.explore import EmbeddingSource, expected_factors, matches_expected

EMPTY_TEXT = "Open a run and compute a map in the Explorer first."
ROLES = (("A", "start from"), ("B", "take away"), ("C", "add"))
EXPECTED_BADGE = "✓ expected"
NO_FACTORS_TEXT = "The analogy test needs data with known factors (e.g. shapes)."
# Above this many embedding values (N × D) a query takes > ~50 ms here, so it runs off the GUI thread.
OFF_THREAD_VALUES = 4_000_000


def _pct(value: float) -> str:
    return "–" if value != value else f"{100 * value:.1f} %"


class AnalogyPanel(QWidget):
    """"a − b + c = ?": three operands, 3CosAdd or 3CosMul, the k best answers as a gallery, and the analogy test."""

    query_made = Signal(int, int, int, object)  # a, b, c, answers (np.ndarray of indices, best first)
    test_done = Signal(object)  # the analogy test's report (workbench.analogies.analogy_report)
    pick_prompt = Signal(str)  # which slot the next click on the map fills ("" when not picking)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._source: EmbeddingSource | None = None
        self._next = 0
        self._find = TaskSlot(self, "analogy")
        self._test = TaskSlot(self, "analogy test")
        self._results: tuple[np.ndarray, np.ndarray] | None = None
        self._shown_for: tuple[int, int, int] | None = None  # the query the shown answers belong to
        self._rank: tuple[tuple[int, int, int], str] | None = None  # (expected_rank(...), method)
        self._test_report: dict | None = None
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
        self.slots = [OperandCard(letter, role) for letter, role in ROLES]
        self.expected_slot = ExpectedCard()
        slots_row = QHBoxLayout()
        for slot in self.slots:
            slot.changed.connect(self._on_slot_changed)
            slot.word_unknown.connect(self._on_word_unknown)
            slots_row.addWidget(slot, 1)
        slots_row.addWidget(self.expected_slot, 1)

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
        self.find_button = QPushButton(theme.icon("find"), "Find")
        self.find_button.setDefault(True)
        self.find_button.clicked.connect(self.find)
        self.random_button = QPushButton("Random example")
        self.random_button.setToolTip("On data with known factors: a clean analogy that swaps one factor "
                                      "(red circle − blue circle + blue square = red square); "
                                      "otherwise three random items")
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
                                          "Random example), then Find.", caption_lines=5, cell_width=136)

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
        layout.addWidget(self._build_test())

        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)
        self._stack = QStackedWidget()
        self._stack.addWidget(self.empty)
        self._stack.addWidget(content)
        outer = QVBoxLayout(self)
        outer.addWidget(self._stack)

    def _build_test(self) -> QWidget:
        """The "Analogy test" section: a button, a status line and a factor × (top-1, top-5) table."""
        box = QFrame()
        box.setObjectName("analogyTest")
        heading = QLabel("<b>Analogy test</b>")
        self.test_button = QPushButton("Run analogy test")
        self.test_button.setToolTip("Hundreds of queries with known answers per factor (colour swap, shape swap, "
                                    "…), scored top-1 / top-5 with 3CosAdd and 3CosMul, next to the same "
                                    "queries on the raw input (pixels, or a sequence's values)")
        self.test_button.clicked.connect(self.run_analogy_test)
        self.test_status = QLabel()
        self.test_status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(heading)
        row.addWidget(self.test_button)
        row.addWidget(self.test_status, 1)
        self.test_table = QTableWidget(0, len(ANALOGY_METHODS) * len(TOPS))
        self.test_table.setHorizontalHeaderLabels([f"{METHOD_TITLES[m]} top-{k}" for m in ANALOGY_METHODS
                                                   for k in TOPS])
        self.test_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.test_table.setSelectionMode(QAbstractItemView.NoSelection)
        self.test_table.setFocusPolicy(Qt.NoFocus)
        self.test_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.test_table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.test_table.hide()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.test_table)
        return box

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
        self._find.forget()
        for slot in self.slots:
            slot.set_source(source, keep=keep)
        self._stack.setCurrentIndex(1 if source is not None else 0)
        rerun = keep and self._results is not None
        if not keep:
            self._next = 0
            self._clear_results()
            self._clear_test()
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
        src, abc, k, method = self._source, self.query(), self.k_spin.value(), self.method()

        def answer(progress=None, cancel=None):
            result = analogy(src.embeddings, *abc, k=k, method=method)
            rank = expected_rank(src.embeddings, src.factors, *abc, method=method) if src.factors else None
            return result, None if rank is None else (rank, method)

        if src.embeddings.size < OFF_THREAD_VALUES:
            try:
                result = answer()
            except ValueError as exc:
                self.status.setText(str(exc))
                return
            self._show_results(abc, result)
            return
        self.status.setText(f"searching {len(src):,} items…")
        self._find.start(answer, done=lambda result: self._show_results(abc, result), failed=self.status.setText)

    def random_example(self) -> None:
        """A clean analogy swapping one factor on sources with factors (else three random items), then its answers."""
        src = self._source
        if src is None or len(src) < 4:
            return
        triple = random_quadruple(src.factors, self._rng) if src.factors else None
        if triple is None:
            triple = tuple(int(i) for i in self._rng.choice(len(src), 3, replace=False))
        self.set_query(*triple)
        self._next = 0
        self._mark_next()
        self.find()

    def run_analogy_test(self) -> None:
        """Score the per-factor analogy sets on the current source and on its raw input, off the GUI thread.

        Pressed while a test runs, the button cancels it.
        """
        if self._test.is_running():
            self._test.cancel()
            return
        src = self._source
        if not can_test_analogies(src):
            self.test_status.setText(NO_FACTORS_TEXT)
            return
        label = src.label
        self.test_status.setText(f"scoring analogies on {len(src):,} items…")
        self.test_button.setText("Cancel")
        self._test.start(lambda progress, cancel: analogy_test(src, progress, cancel),
                         progress=lambda f, stage: self.test_status.setText(f"{stage} {100 * max(f, 0):.0f} %…"),
                         done=lambda report: self._test_ended(lambda: self._show_test(report, label)),
                         failed=lambda msg: self._test_ended(lambda: self.test_status.setText(msg)),
                         cancelled=lambda: self._test_ended(lambda: self.test_status.setText("test cancelled")))

    def test_report(self) -> dict | None:
        """The last analogy test's report on this source's items, or None."""
        return self._test_report

    def is_busy(self) -> bool:
        """Whether a query or an analogy test (also a superseded one) still runs in the background."""
        return self._find.is_busy() or self._test.is_busy()

    def results_indices(self) -> np.ndarray:
        return np.zeros(0, np.int64) if self._results is None else self._results[0]

    def apply_theme(self) -> None:
        theme.set_look(self.empty, empty=True)
        theme.set_look(self.status, tone="muted")
        theme.set_look(self.test_status, tone="muted")
        self._mark_next()
        self._update_verdict()
        self.expected_slot.apply_theme()

    # --- internals ---------------------------------------------------------------------------
    def _ready(self) -> bool:
        q = self.query()
        return self._source is not None and min(q) >= 0 and len(set(q)) == 3

    def _on_slot_changed(self, _value: int) -> None:
        self._rank = None
        if self._results is not None and self._shown_for != self.query():
            self._mark_stale("the query changed: press Find for its answers")
        self._update_expected()
        self._update_buttons()

    def _on_pick_toggled(self, on: bool) -> None:
        if on:
            self._next = 0  # a fresh pick starts at A
        self._mark_next()

    def _on_word_unknown(self, message: str) -> None:
        self._mark_stale(message)
        self.status.setText(f"⚠ {message}")

    def _mark_stale(self, reason: str) -> None:
        """Grey out answers that no longer belong to the query shown above them, and say why."""
        if self._results is None:
            return
        self.results.setEnabled(False)
        self.results.set_title(f"Stale — answers to the previous query ({reason})")
        self.verdict_label.hide()
        self.status.setText(reason)

    def is_stale(self) -> bool:
        return self._results is not None and not self.results.isEnabled()

    def _mark_next(self) -> None:
        picking = self.pick_button.isChecked()
        for i, slot in enumerate(self.slots):
            slot.set_next(picking and i == self._next)
        letter, role = ROLES[self._next]
        self.pick_prompt.emit(f"Click a point to fill {letter} ({role})" if picking and self._source is not None
                              else "")

    def _update_buttons(self) -> None:
        has = self._source is not None
        self.find_button.setEnabled(has and self._ready())
        self.random_button.setEnabled(has)
        testable = can_test_analogies(self._source)
        self.test_button.setEnabled(testable or self._test.is_running())
        if has and not testable:
            self.test_status.setText(NO_FACTORS_TEXT)

    def _expected(self) -> dict[str, int | None]:
        src = self._source
        if src is None or not src.factors or not self._ready():
            return {}
        return expected_factors(src, *self.query())

    def _expected_items(self) -> np.ndarray:
        """Items other than A, B, C with every judged expected value (empty when nothing is judged)."""
        judged = {k: v for k, v in self._expected().items() if v is not None}
        if not judged:
            return np.zeros(0, np.int64)
        ok = np.ones(len(self._source), bool)
        for k, v in judged.items():
            ok &= np.asarray(self._source.factors[k]) == v
        ok[list(self.query())] = False
        return np.flatnonzero(ok)

    def _update_expected(self) -> None:
        expected = {k: v for k, v in self._expected().items() if v is not None}
        has_factors = self._source is not None and bool(self._source.factors)
        if not expected:
            self.expected_label.setText("expected: no single answer (the factors disagree)"
                                        if has_factors and self._ready() else "")
        else:
            values = [self._source.factor_values[k][v] for k, v in expected.items()]
            self.expected_label.setText("expected: " + " · ".join(values))
        self.expected_label.setVisible(bool(self.expected_label.text()))
        self.expected_slot.setVisible(has_factors)
        self._update_expected_slot()

    def _update_expected_slot(self) -> None:
        src = self._source
        if src is None or not src.factors:
            return
        judged = {k: v for k, v in self._expected().items() if v is not None}
        if not judged:
            self.expected_slot.show_item(None, "no single answer" if self._ready() else "—")
            return
        values = " · ".join(src.factor_values[k][v] for k, v in judged.items())
        items = self._expected_items()
        if not len(items):
            self.expected_slot.show_item(None, f"{values}\nno other item has these values")
            return
        count = f"{len(items):,} item{'s' if len(items) != 1 else ''} like this"
        if self._rank is None:
            self.expected_slot.show_item(src.images[int(items[0])], f"{values}\n{count}")
            return
        (rank, item, _), method = self._rank
        self.expected_slot.show_item(src.images[item], f"{values}\n{count}\nbest of them: rank {rank:,} "
                                     f"({METHOD_TITLES[method]})")

    def _clear_results(self) -> None:
        self._results = None
        self._shown_for = None
        self._rank = None
        self.results.setEnabled(True)
        self.results.clear()
        self.results.set_title("")
        self.verdict_label.clear()
        self.verdict_label.hide()
        self.status.clear()

    def _show_results(self, abc: tuple[int, int, int], answered) -> None:
        src = self._source
        if src is None or abc != self.query():
            return  # the query changed while it was being answered
        (idx, scores), self._rank = answered
        self._results = (idx, scores)
        self._shown_for = abc
        self.results.setEnabled(True)
        expected = self._expected()
        judged = {k: v for k, v in expected.items() if v is not None}
        items = []
        for j, s in zip(idx, scores):
            j = int(j)
            tip, caption, frame = src.describe(j), f"score {s:.3f}\n{src.describe(j)}", None
            if judged:
                match_colour, mismatch_colour = theme.agreement()
                match = matches_expected(src, j, expected)
                ok = all(match.values())
                frame = match_colour if ok else mismatch_colour
                tip += "\n" + "  ".join(f"{k} {'✓' if good else '✗'}" for k, good in match.items())
                if ok:
                    caption = f"{EXPECTED_BADGE}\n{caption}"
            items.append((src.images[j], caption, tip, frame))
        title = (f"{len(idx)} best answers ({METHOD_TITLES[self.method()]}; A, B and C excluded)"
                 + (" · green frame: has the expected factors" if judged else ""))
        self.results.set_title(title)
        self.results.set_items(items)
        self.status.clear()
        self._update_expected_slot()
        self._update_verdict()
        self.query_made.emit(*abc, idx)

    def _update_verdict(self) -> None:
        expected = self._expected()
        if self._results is None or not len(self._results[0]) or not any(v is not None for v in expected.values()):
            self.verdict_label.hide()
            return
        ok = all(matches_expected(self._source, int(self._results[0][0]), expected).values())
        c = theme.colors()["ok_text" if ok else "bad_text"]
        text = f"top-1 matches the expected factors: <b style='color:{c}'>{'yes' if ok else 'no'}</b>"
        if self._rank is not None:
            text += f" · the first expected answer ranks {self._rank[0][0]:,}"
        self.verdict_label.setText(text)
        self.verdict_label.show()

    # --- analogy test ------------------------------------------------------------------------
    def _test_ended(self, show) -> None:
        show()
        self.test_button.setText("Run analogy test")
        self._update_buttons()

    def _clear_test(self) -> None:
        self._test.forget()
        self._test_report = None
        self.test_table.setRowCount(0)
        self.test_table.hide()
        self.test_button.setText("Run analogy test")
        self.test_status.clear()

    def _show_test(self, report: dict, label: str) -> None:
        self._test_report = report
        if not report:
            self.test_status.setText("No analogy has a single answer on these items.")
            self.test_table.hide()
            return
        parts = [*report["queries"], "overall"]
        table = self.test_table
        table.setRowCount(len(parts))
        table.setVerticalHeaderLabels([p if p == "overall" else f"{p} swap" for p in parts])
        for r, part in enumerate(parts):
            for m, method in enumerate(ANALOGY_METHODS):
                for t, top in enumerate(TOPS):
                    model = report["model"][method][part][f"top{top}"]
                    raw = report["floor_raw_pixels"][method][part][f"top{top}"]
                    item = QTableWidgetItem(f"{_pct(model)}   (raw {_pct(raw)})")
                    item.setTextAlignment(Qt.AlignCenter)
                    item.setForeground(QBrush(QColor(theme.colors()["ok_text" if model > raw else "bad_text"])))
                    item.setToolTip(f"{part}, {METHOD_TITLES[method]} top-{top}: model {_pct(model)}, "
                                    f"raw input {_pct(raw)}, chance {_pct(report['chance'][f'top{top}'])}")
                    table.setItem(r, m * len(TOPS) + t, item)
        table.resizeRowsToContents()
        height = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(len(parts)))
        table.setFixedHeight(height + 2 * table.frameWidth())
        table.show()
        n = sorted(set(report["queries"].values()))
        self.test_status.setText(
            f"{label} · {'/'.join(map(str, n))} queries per factor on {len(self._source):,} items · model (raw "
            f"input); green: above the raw input · chance {_pct(report['chance']['top1'])} top-1, "
            f"{_pct(report['chance']['top5'])} top-5")
        self.test_done.emit(report)

