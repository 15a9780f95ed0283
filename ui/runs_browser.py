"""The runs browser: a sortable, filterable table of every run under a runs folder, with actions."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PySide6.QtCore import (QModelIndex, QObject, Qt, QThreadPool, QTimer, QUrl, Signal)
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMenu, QMessageBox, QStackedWidget, QTableView, QToolButton, QVBoxLayout, QWidget)

from ui import theme
from workbench.runs import RunSummary, default_runs_root, scan_runs, worker_alive

from .floors import service as floors_service
from .runs_table import COL, PATH_ROLE, STATUS_ROLE, RunsFilter, RunsModel, StatusBadge  # noqa: F401  (COL: for tests)

REFRESH_MS = 2000
NAME_CHARS = 30  # the run-name column's starting width, in average characters


class _ScanResult(QObject):
    done = Signal(int, object, object)  # generation, rows, cache


class RunsBrowser(QWidget):
    """Every run under a runs folder, refreshed every ~2 s while visible."""

    open_run = Signal(Path)
    compare_runs = Signal(list)   # [Path, ...]
    resume_run = Signal(Path)
    root_changed = Signal(Path)
    refreshed = Signal()          # the table shows the disk as of the latest refresh()

    def __init__(self, root: Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._root = Path(root) if root is not None else default_runs_root()
        self._cache: dict = {}
        self._generation = 0
        self._scanning = False
        self._rescan = False
        self._scan_result = _ScanResult(self)
        self._scan_result.done.connect(self._apply_scan)

        self.model = RunsModel(self)
        self.proxy = RunsFilter(self)
        self.proxy.setSourceModel(self.model)

        # Runs folder row
        self.root_label = QLabel()
        self.root_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.change_button = QToolButton(text="Change…")
        self.change_button.setToolTip("Pick another folder of runs")
        self.change_button.clicked.connect(self._choose_root)
        root_row = QHBoxLayout()
        root_row.addWidget(QLabel("Runs folder:"))
        root_row.addWidget(self.root_label, 1)
        root_row.addWidget(self.change_button)

        # Filter and actions
        self.filter_edit = QLineEdit(placeholderText="Filter by method, dataset or status")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._filter_changed)
        self.open_action = self._action("Open", "Open the run (or double-click it)", self._open, "open")
        self.compare_action = self._action("Compare curves", "Overlay the curves of the selected runs",
                                           self._compare, "compare")
        self.resume_action = self._action("Resume", "Continue training from the last checkpoint",
                                          self._resume, "resume")
        self.folder_action = self._action("Show folder", "Open the run's folder in the file manager",
                                          self._show_folder, "reveal")
        self.delete_action = self._action("Delete…", "Delete the selected runs from disk", self._delete, "delete")
        self.actions_ = [self.open_action, self.compare_action, self.resume_action, self.folder_action,
                         self.delete_action]
        self.buttons = {}
        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        for action in self.actions_:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
            self.buttons[action.text()] = button
            bar.addWidget(button)

        # Table
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL["Started"], Qt.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setObjectName("runsTable")  # cell padding: resources/style.qss
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 14)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        # Names are long ("20261203-071315-cpc_sequence-signals"): a stretched name column pushed "vs floor" and
        # "Score" off a 1280-px window. It is at least NAME_CHARS characters wide, cut in the middle (the date
        # and the method stay; full path on hover), and whole where the window has the room (_fit_name_column).
        header.setSectionResizeMode(COL["Name"], QHeaderView.Interactive)
        header.resizeSection(COL["Name"], self.table.fontMetrics().averageCharWidth() * NAME_CHARS)
        header.setStretchLastSection(True)
        self.table.setTextElideMode(Qt.ElideMiddle)
        header.setHighlightSections(False)
        self.table.setItemDelegateForColumn(COL["Status"], StatusBadge(self.table))
        self.table.doubleClicked.connect(self._emit_open)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

        self.empty_label = QLabel(alignment=Qt.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty_label)

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(root_row)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.notice)

        floors_service().changed.connect(self.table.viewport().update)  # "measuring…" → the gap
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

        self.apply_theme()
        self.set_root(self._root)

    # --- public ----------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self._root

    def set_root(self, path: Path) -> None:
        """Show the runs under PATH (does not emit root_changed: that is for the user's choice)."""
        self._root = Path(path)
        self.root_label.setText(str(self._root))
        self._cache = {}
        self._generation += 1
        self.model.set_rows([])
        self._show_notice("")
        self._update_empty_state()
        self.refresh()

    def refresh(self) -> None:
        """Re-scan the runs folder in the background; the table updates when the scan is done."""
        if self._scanning:
            self._rescan = True  # one more scan once this one is in, to pick up the latest state
            return
        self._scanning = True
        generation, root, cache, result = self._generation, self._root, dict(self._cache), self._scan_result

        def scan() -> None:
            rows, fresh = scan_runs(root, cache)
            try:
                result.done.emit(generation, rows, fresh)
            except RuntimeError:
                pass  # the browser was closed while we scanned

        QThreadPool.globalInstance().start(scan)

    def selected_paths(self) -> list[Path]:
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda i: i.row())
        return [Path(i.data(PATH_ROLE)) for i in rows]

    def select_paths(self, paths: list[Path]) -> None:
        wanted = {str(p) for p in paths}
        sel = self.table.selectionModel()
        sel.clearSelection()
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if index.data(PATH_ROLE) in wanted:
                sel.select(index, sel.SelectionFlag.Select | sel.SelectionFlag.Rows)

    def apply_theme(self) -> None:
        """Looks come from the application style sheet; the status pills are painted: repaint them."""
        theme.set_look(self.empty_label, empty=True)
        self.table.viewport().update()

    # --- scanning ------------------------------------------------------------------------
    def _apply_scan(self, generation: int, rows: list, cache: dict) -> None:
        self._scanning = False
        current = generation == self._generation
        if current:
            self._cache = cache
            self.model.set_rows(rows)
            QTimer.singleShot(0, self._fit_name_column)  # once the other columns have fitted their new contents
            for row in rows:  # floors are measured once per data, method and backbone, for runs with a score
                if row.summary.best_knn is not None or row.summary.last_knn is not None or row.summary.scores:
                    floors_service().request(row.summary.path)
            self._update_empty_state()
            self._update_actions()
        if self._rescan or not current:
            self._rescan = False
            self.refresh()  # a refresh() came while this scan ran: it may have missed changes
        else:
            self.refreshed.emit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._timer.start()
        self.refresh()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._timer.stop()  # nobody is looking: no need to keep reading the disk

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        QTimer.singleShot(0, self._fit_name_column)

    def _fit_name_column(self) -> None:
        """The name column as wide as its longest name where the other columns leave that much room, else
        what they leave, never under NAME_CHARS characters (then cut in the middle)."""
        header, name = self.table.horizontalHeader(), COL["Name"]
        others = sum(header.sectionSize(c) for c in range(header.count()) if c != name and c != header.count() - 1)
        last = header.count() - 1  # stretched: it takes what is left, so count what it needs
        others += max(self.table.sizeHintForColumn(last), header.sectionSizeHint(last))
        floor = self.table.fontMetrics().averageCharWidth() * NAME_CHARS
        width = max(floor, min(self.table.sizeHintForColumn(name), self.table.viewport().width() - others))
        if header.sectionSize(name) != width:
            header.resizeSection(name, width)

    # --- display -------------------------------------------------------------------------
    def _filter_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_empty_state()
        self._update_actions()

    def _update_empty_state(self) -> None:
        if self.model.rowCount() == 0:
            self.empty_label.setText(f"No runs yet in {self._root}.\nPick a method and press Start.")
            self.stack.setCurrentWidget(self.empty_label)
        elif self.proxy.rowCount() == 0:
            self.empty_label.setText(f"No runs match “{self.filter_edit.text().strip()}”.")
            self.stack.setCurrentWidget(self.empty_label)
        else:
            self.stack.setCurrentWidget(self.table)

    def _show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def _summaries(self) -> list[RunSummary]:
        rows = self.table.selectionModel().selectedRows()
        return [self.model.row(self.proxy.mapToSource(i).row()).summary
                for i in sorted(rows, key=lambda i: i.row())]

    def _update_actions(self, *_) -> None:
        chosen = self._summaries()
        one = len(chosen) == 1
        self.open_action.setEnabled(one)
        self.compare_action.setEnabled(len(chosen) >= 2)
        self.resume_action.setEnabled(
            one and chosen[0].status.resumable and bool(chosen[0].checkpoints))
        self.folder_action.setEnabled(one)
        self.delete_action.setEnabled(
            bool(chosen) and not any(s.status.active for s in chosen))

    def _action(self, text: str, tip: str, slot, icon: str) -> QAction:
        action = QAction(theme.icon(icon), text, self)
        action.setIconText(text)  # tool buttons would drop the "…" that says a dialog follows
        action.setToolTip(tip)
        action.setEnabled(False)
        action.triggered.connect(slot)
        return action

    def _context_menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        if not self.table.selectionModel().isRowSelected(index.row(), QModelIndex()):
            self.table.selectRow(index.row())
        menu = QMenu(self)
        for action in self.actions_:
            menu.addAction(action)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    # --- actions -------------------------------------------------------------------------
    def _emit_open(self, index) -> None:
        if index.isValid():
            self.open_run.emit(Path(index.data(PATH_ROLE)))

    def _open(self) -> None:
        paths = self.selected_paths()
        if len(paths) == 1:
            self.open_run.emit(paths[0])

    def _compare(self) -> None:
        paths = self.selected_paths()
        if len(paths) >= 2:
            self.compare_runs.emit(paths)

    def _resume(self) -> None:
        paths = self.selected_paths()
        if len(paths) == 1:
            self.resume_run.emit(paths[0])

    def _show_folder(self) -> None:
        for path in self.selected_paths()[:1]:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def _delete(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        busy = [p.name for p in paths if worker_alive(p)]
        if busy:
            self._show_notice(f"“{busy[0]}” is being trained right now; stop it before deleting it.")
            return
        if len(paths) == 1:
            question = f"Delete the run “{paths[0].name}”?"
        else:
            names = "\n".join(f"  {p.name}" for p in paths[:8])
            more = f"\n  … and {len(paths) - 8} more" if len(paths) > 8 else ""
            question = f"Delete these {len(paths)} runs?\n{names}{more}"
        question += ("\n\nIts checkpoints, previews and embeddings are removed from disk. "
                     "This cannot be undone.")
        answer = QMessageBox.question(self, "Delete run", question,
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        if answer != QMessageBox.Yes:
            return
        failed = []
        for path in paths:
            try:
                shutil.rmtree(path)
            except OSError as exc:
                failed.append(f"{path.name} ({exc.strerror or exc})")
        self._show_notice("Could not delete " + ", ".join(failed) if failed else "")
        self.refresh()

    def _choose_root(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose the runs folder", str(self._root))
        if chosen:
            self.set_root(Path(chosen))
            self.root_changed.emit(Path(chosen))


if __name__ == "__main__":
    # Quick look: python -m ui.runs_browser [RUNS_ROOT]
    app = QApplication(sys.argv)
    theme.apply_theme(app, "light")
    browser = RunsBrowser(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    browser.open_run.connect(lambda p: print("open", p))
    browser.compare_runs.connect(lambda ps: print("compare", *ps))
    browser.resume_run.connect(lambda p: print("resume", p))
    browser.root_changed.connect(lambda p: print("root", p))
    browser.resize(1100, 500)
    browser.show()
    sys.exit(app.exec())
