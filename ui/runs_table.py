"""The runs table's parts: the model of its rows and columns, the filter, and the status badge."""
from __future__ import annotations

import time

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QObject, QRectF, QSize, QSortFilterProxyModel,
                            Qt)
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (QApplication, QStyle, QStyledItemDelegate,
                               QStyleOptionViewItem)

from ui import theme
from ui.floors import MEASURING, QUEUED, service as floors_service
from workbench.curves import coverage_notes, test_size_note
from workbench.floors import RANDOM_NAME, accuracy_noise, floor_knn, floors_text, rho_noise
from workbench.runs import RunRow as Row, RunSummary

SORT_ROLE = Qt.UserRole
STATUS_ROLE = Qt.UserRole + 1
PATH_ROLE = Qt.UserRole + 2


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _ago(t: float | None) -> str:
    if t is None:
        return "—"
    s = max(0.0, time.time() - t)
    if s < 10:
        return "just now"
    if s < 60:
        return f"{int(s)} s ago"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400:
        return f"{int(s // 3600)} h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _local(t: float | None) -> str:
    return "—" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _headline(s: RunSummary) -> tuple[str, float] | None:
    """The run's first other score (overall analogy top-1, or WordSim-353 ρ on text), if any."""
    return next(iter(s.scores.items()), None)


def _score_text(name: str, value: float) -> str:
    return f"{name} {value:.3f}" if "ρ" in name else f"{name} {_percent(value)}"


def _rho_noise_suffix(s: RunSummary, label: str) -> str:
    """' ±0.26' after a word score that rests on few pairs."""
    key = label.split(" ")[0]
    note = next((n for n in coverage_notes({key: s.coverage[key]}) if "±" in n), "") if key in s.coverage else ""
    return " ±" + note.split("±")[1].split(" ")[0] if note else ""


def _knn(s: RunSummary) -> float | None:
    return s.best_knn if s.best_knn is not None else s.last_knn


def _knn_text(s: RunSummary) -> str:
    """'91.6 % ±5' when the test split is small enough for ±5 points to be noise."""
    text = _percent(_knn(s))
    note = test_size_note(s.test_size) if _knn(s) is not None else ""
    return f"{text} {note.split(' pts')[0]}" if note else text


def _noise_text(s: RunSummary) -> str:
    notes = coverage_notes(s.coverage) if s.scores else []
    if _knn(s) is not None and test_size_note(s.test_size):
        notes.append("kNN " + test_size_note(s.test_size))
    return "\n".join(notes)


def vs_floor(s: RunSummary) -> tuple[str, float | None]:
    """('−10.7 pts vs raw pixels', −10.7), the run's best kNN (on text: WordSim-353 ρ) minus the floor it must
    beat first (raw data; on text, random init), 'within noise' when the gap is smaller than the evaluation's
    95 % interval; ('measuring…', None) while its floors are being measured."""
    floors = floors_service().floors(s.path)
    if floors is None:
        state = floors_service().state(s.path)
        return ("measuring…" if state in (MEASURING, QUEUED) else "—"), None
    if _knn(s) is not None:
        for floor in floors.get("floors", []):
            if floor.get("name") != RANDOM_NAME and (raw := floor_knn(floors, floor["name"])) is not None:
                gap = 100 * (_knn(s) - raw)
                half = 100 * (accuracy_noise(s.test_size) or 0.0) if isinstance(s.test_size, int) else 0.0
                noisy = " (within noise)" if abs(gap) < half else ""
                return f"{gap:+.1f} pts vs {floor['name']}{noisy}".replace("-", "−"), None if noisy else gap
    rho = next((v for k, v in s.scores.items() if k.startswith("wordsim353")), None)
    base = next((f.get("scores", {}).get("wordsim353 ρ") for f in floors.get("floors", [])
                 if f.get("name") == RANDOM_NAME), None)
    if rho is not None and base is not None:
        found = (s.coverage.get("wordsim353") or [0])[0]
        noisy = " (within noise)" if abs(rho - base) < (rho_noise(int(found)) or 1.0) else ""
        return f"{rho - base:+.2f} ρ vs {RANDOM_NAME}{noisy}".replace("-", "−"), None if noisy else rho - base
    return "—", None


def _floor_tip(s: RunSummary) -> str:
    floors = floors_service().floors(s.path)
    if floors is None:
        state = floors_service().state(s.path)
        return ("The raw-data and random-init floors of this data, method and backbone are being measured (once)."
                if state in (MEASURING, QUEUED) else state or "Floors not measured yet.")
    if _knn(s) is None:
        return f"Floor for this method and data (measured once): {floors_text(floors)}."
    return (f"Floors for this data, method and backbone (measured once, kNN top-1 k = 20 as in training): "
            f"{floors_text(floors)}.\nBelow the raw-data floor the encoder has not yet beaten its own input.")


# (header, display text, sort value, right-aligned)
COLUMNS = [
    ("Name", lambda r: r.summary.path.name, lambda r: r.summary.path.name, False),
    ("Method", lambda r: r.summary.method, lambda r: r.summary.method, False),
    ("Dataset", lambda r: r.summary.dataset, lambda r: r.summary.dataset, False),
    ("Status", lambda r: r.summary.status.value, lambda r: r.summary.status.value, False),
    ("Epochs", lambda r: f"{r.summary.epoch} / {r.summary.epochs}", lambda r: r.summary.epoch, True),
    ("Best kNN", lambda r: _knn_text(r.summary),
     lambda r: -1.0 if _knn(r.summary) is None else _knn(r.summary), True),
    ("vs floor", lambda r: vs_floor(r.summary)[0],
     lambda r: -1e9 if vs_floor(r.summary)[1] is None else vs_floor(r.summary)[1], True),
    ("Linear probe", lambda r: _percent(r.summary.linear),
     lambda r: -1.0 if r.summary.linear is None else r.summary.linear, True),
    ("Score", lambda r: "—" if _headline(r.summary) is None else _score_text(*_headline(r.summary))
     + _rho_noise_suffix(r.summary, _headline(r.summary)[0]),
     lambda r: -1.0 if _headline(r.summary) is None else _headline(r.summary)[1], False),
    ("Started", lambda r: _local(r.summary.started), lambda r: r.summary.started or r.created, False),
    ("Last update", lambda r: _ago(r.summary.updated), lambda r: r.summary.updated or r.created, False),
]
COL = {name: i for i, (name, *_rest) in enumerate(COLUMNS)}


class RunsModel(QAbstractTableModel):
    """One row per run; updated in place so that selections survive refreshes."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[Row] = []

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section][0]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole and COLUMNS[section][0] == "vs floor":
            return ("Best kNN minus the kNN of the raw data (pixels, signals); on text, WordSim-353 ρ minus a "
                    "random-init model's. Red: below the floor. Floors are measured once per data, method and backbone.")
        return None

    def row(self, i: int) -> Row:
        return self._rows[i]

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        name, text, sort_value, right = COLUMNS[index.column()]
        if role == Qt.DisplayRole:
            return text(r)
        if role == SORT_ROLE:
            return sort_value(r)
        if role == STATUS_ROLE:
            return r.summary.status.value
        if role == PATH_ROLE:
            return str(r.summary.path)
        if role == Qt.TextAlignmentRole:
            return int((Qt.AlignRight if right else Qt.AlignLeft) | Qt.AlignVCenter)
        if role == Qt.ToolTipRole:
            if name == "Status":
                return "\n".join(t for t in (r.summary.status.help, r.summary.message) if t)
            if name == "Name":
                return str(r.summary.path)
            if name == "Last update":
                return _local(r.summary.updated)
            if name == "Epochs":
                return f"step {r.summary.step}"
            if name == "Score":
                scores = "\n".join(_score_text(k, v) for k, v in r.summary.scores.items()) or "no other scores"
                noise = _noise_text(r.summary)
                return f"{scores}\n{noise}" if noise else scores
            if name == "Best kNN" and _knn(r.summary) is not None:
                note = test_size_note(r.summary.test_size)
                return "kNN top-1, train → test (k = 20)" + (f"\n{note}" if note else "")
            if name == "vs floor":
                return _floor_tip(r.summary)
        if role == Qt.ForegroundRole and name == "vs floor":
            gap = vs_floor(r.summary)[1]
            if gap is not None:
                return QColor(theme.colors()["bad_text" if gap < 0 else "ok_text"])
        return None

    def set_rows(self, rows: list[Row]) -> None:
        new = {r.summary.path: r for r in rows}
        for i in reversed(range(len(self._rows))):
            if self._rows[i].summary.path not in new:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        where = {r.summary.path: i for i, r in enumerate(self._rows)}
        for path, i in where.items():
            self._rows[i] = new[path]
        if self._rows:
            # Every row: "Last update" is relative time and changes even when the run does not.
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1))
        added = [r for p, r in new.items() if p not in where]
        if added:
            n = len(self._rows)
            self.beginInsertRows(QModelIndex(), n, n + len(added) - 1)
            self._rows.extend(added)
            self.endInsertRows()


class RunsFilter(QSortFilterProxyModel):
    """Keeps rows whose name, method, dataset or status contain every word typed."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._words: list[str] = []
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def set_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter() is deprecated there
            self.beginFilterChange()
            self._words = text.lower().split()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._words = text.lower().split()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        if not self._words:
            return True
        s = self.sourceModel().row(source_row).summary
        haystack = f"{s.path.name} {s.method} {s.dataset} {s.status}".lower()
        return all(w in haystack for w in self._words)

    def lessThan(self, left, right) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


class StatusBadge(QStyledItemDelegate):
    """Draws the status as a small tinted pill, coloured by state."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        status = opt.text
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.CE_ItemViewItem, opt, painter, opt.widget)
        color = QColor(theme.status_colour(status))
        font = QFont(opt.font)
        font.setBold(True)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setFont(font)
        fm = painter.fontMetrics()
        w = fm.horizontalAdvance(status) + 16
        h = min(opt.rect.height() - 6, fm.height() + 4)
        rect = QRectF(opt.rect.left() + 6, opt.rect.center().y() - h / 2 + 0.5, w, h)
        # An opaque tint of the base colour keeps the pill readable on a selected (blue) row too.
        fill = QColor(theme.tint(color.name()))
        painter.setPen(QPen(color, 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(rect, h / 2, h / 2)
        painter.setPen(color)
        painter.drawText(rect, Qt.AlignCenter, status)
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width() + 28, size.height() + 6)
