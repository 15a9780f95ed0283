"""Names of a plot's horizontal reference lines (floors, the linear probe) in a column right of its data: stacked so
that none covers another or a curve, each joined to its line by a short leader."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPen
from PySide6.QtWidgets import QApplication

LEADER = 9  # px: the leader runs from the line's height at the plot's edge to its label's middle
GAP = 1     # px between stacked labels
POINT_SIZE = 8


class LineLabels(pg.GraphicsWidget):
    """A column beside `view` (put it in the plot's layout next to the view's row) naming values on its y axis.

    Floors a point apart sat on top of each other, and over the last evaluation's markers, when drawn as
    labels on their lines inside the plot; here they never overlap the data, and stack when close.
    """

    def __init__(self, view: pg.ViewBox):
        super().__init__()
        self.view = view
        self.font = QApplication.font()
        self.font.setPointSizeF(POINT_SIZE)
        self._metrics = QFontMetricsF(self.font)
        self._groups: dict[str, list[tuple[float, str, str]]] = {}
        self._set_width(0.0)
        view.sigYRangeChanged.connect(lambda *_: self.update())
        view.sigResized.connect(lambda *_: self.update())

    def set_labels(self, group: str, labels) -> None:
        """The labels of one group ("floors", "linear"): (value on the y axis, text, colour) each."""
        labels = [(float(v), str(t), str(c)) for v, t, c in labels]
        if self._groups.get(group, []) == labels:
            return
        self._groups[group] = labels
        widths = [self._metrics.horizontalAdvance(t) for _, t, _ in self.labels()]
        self._set_width(LEADER + 2 + max(widths) if widths else 0.0)
        self.update()

    def labels(self) -> list[tuple[float, str, str]]:
        """Every label, highest value first (the top of the column)."""
        return sorted((x for group in self._groups.values() for x in group), key=lambda x: -x[0])

    def texts(self) -> list[str]:
        return [t for _, t, _ in self.labels()]

    def _set_width(self, width: float) -> None:
        self.setMinimumWidth(width)
        self.setMaximumWidth(width)
        self.setPreferredWidth(width)

    def placed(self) -> list[tuple[float, QRectF, str, str]]:
        """(y of the line, the label's box, text, colour) in this item's coordinates, boxes stacked top to bottom
        without overlap and inside the column's height (where it holds them all)."""
        labels = self.labels()
        if not labels:
            return []
        h, height = self._metrics.height(), self.boundingRect().height()
        ys = [min(max(self.mapFromScene(self.view.mapViewToScene(QPointF(0.0, v))).y(), 0.0), height)
              for v, _, _ in labels]
        tops = [y - h / 2 for y in ys]
        for i in range(1, len(tops)):  # down: each below the one above
            tops[i] = max(tops[i], tops[i - 1] + h + GAP)
        tops[-1] = min(tops[-1], height - h)
        for i in range(len(tops) - 2, -1, -1):  # up again from the bottom edge
            tops[i] = min(tops[i], tops[i + 1] - h - GAP)
        return [(y, QRectF(LEADER, top, self._metrics.horizontalAdvance(t) + 2, h), t, c)
                for y, top, (_, t, c) in zip(ys, tops, labels)]

    def label_rects(self) -> list[QRectF]:
        """The labels' boxes in scene coordinates (tests, screenshots)."""
        return [self.mapRectToScene(rect) for _, rect, _, _ in self.placed()]

    def paint(self, painter, *args) -> None:
        painter.setFont(self.font)
        for y, rect, text, colour in self.placed():
            painter.setPen(QPen(pg.mkColor(colour), 1))
            painter.drawLine(QPointF(0.0, y), QPointF(LEADER - 2, rect.center().y()))
            painter.drawText(rect, int(Qt.AlignLeft | Qt.AlignVCenter), text)
