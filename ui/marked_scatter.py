"""The embedding map with a ring layer for marked points (false neighbours) and a selection set from outside."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

from ui import theme
from ui.scatter import ScatterView
from ui.scatter_items import Points


class MarkedScatter(ScatterView):
    """A ScatterView that can ring any set of points, and show a selection made in another view.

    The rings are one more numpy-drawn layer (the same fast path as the points), so marking tens
    of thousands of points costs about as much as drawing them; rings follow the points while
    they move.
    """

    def __init__(self, parent=None):
        self._marked = np.zeros(0, dtype=np.int64)
        self._mark_colour: str | None = None
        self._marks = Points(pxMode=True, size=7, brush=pg.mkBrush(None))
        self._marks.setZValue(4)  # over the points, under selection, highlight and hover
        super().__init__(parent)
        self.addItem(self._marks)
        self._draw_marks()

    def set_marked(self, indices: Sequence[int] | np.ndarray, colour: str | None = None) -> None:
        """Ring these points (thin outline, theme's foreground colour unless given); [] clears."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        self._marked = np.unique(idx[(idx >= 0) & (idx < len(self._xy))])
        self._mark_colour = colour
        self._draw_marks()

    def marked(self) -> np.ndarray:
        return self._marked

    def show_selection(self, indices: Sequence[int] | np.ndarray) -> None:
        """Draw these points as selected without emitting `selected` (a selection linked from elsewhere)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        self._selection = idx[(idx >= 0) & (idx < len(self._xy))]
        self._draw_selection()

    def apply_theme(self) -> None:
        super().apply_theme()
        if "_marks" in self.__dict__:
            self._draw_marks()

    # --- drawing: the parent calls these for every restyle and every animation frame ----------
    def _redraw_all(self) -> None:
        super()._redraw_all()
        self._draw_marks()

    def _show_positions(self, xy: np.ndarray) -> None:
        super()._show_positions(xy)
        self._draw_marks()

    def _draw_marks(self) -> None:
        if "_no_brush" not in self.__dict__:  # still inside ScatterView.__init__
            return
        idx = self._marked[self._marked < len(self._shown)]
        self._marks.setPen(pg.mkPen(self._mark_colour or theme.colors()["plot_fg"], width=1.2), update=False)
        self._marks.set_styled(self._shown[idx] if len(idx) else np.zeros((0, 2)),
                               np.zeros(len(idx), np.int64), [self._no_brush], self._size + 3)

