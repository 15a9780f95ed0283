"""What a map says beyond dots: word labels (commonest first, more as you zoom), image thumbnails and a hover tip."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor

from ui import theme

MAX_LABELS = 60  # text items at most: a few dozen words are readable, hundreds are a smear
LABEL_CELL = (90, 18)  # px: one label per cell of this size, so labels never pile up
MAX_THUMBS = 120  # image items at most
THUMB_PX = 40  # thumbnail edge on screen
CANDIDATES = 4_000  # in-view points considered for labels/thumbnails, by rank


def pick_spread(px: np.ndarray, order: np.ndarray, cell: tuple[float, float], cap: int) -> np.ndarray:
    """Indices from `order` (best first) whose screen positions px (N, 2) fall in distinct cells, at most cap.

    A greedy grid cover: each point claims its cell and the cells around it, so kept labels do not
    overlap; cost O(len(order)).
    """
    taken: set[tuple[int, int]] = set()
    keep = []
    cx, cy = cell
    for i in order:
        gx, gy = int(px[i, 0] // cx), int(px[i, 1] // cy)
        if (gx, gy) in taken:
            continue
        keep.append(i)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                taken.add((gx + dx, gy + dy))
        if len(keep) >= cap:
            break
    return np.asarray(keep, dtype=np.int64)


class MapOverlay:
    """Labels and thumbnails for the points in view of a ScatterView, refreshed after every pan or zoom.

    Only the points inside the view are considered, best rank first (for words: the most frequent),
    and only as many as fit without overlapping, capped: zooming in leaves room for rarer words. A
    bounded pool of TextItems and ImageItems is reused, so a refresh costs the same at 1k or 1M points.
    """

    def __init__(self, view):
        self._view = view
        self._texts: list[str] | None = None
        self._ranks: np.ndarray | None = None
        self._images = None  # indexable: images[i] is an H×W×3 uint8 array
        self._show_images = False
        self._hover_text: Callable[[int], str] | None = None
        self._labels: list[pg.TextItem] = []
        self._thumbs: list[pg.ImageItem] = []
        self._shown_labels = np.zeros(0, np.int64)
        self._shown_thumbs = np.zeros(0, np.int64)
        self._tip = pg.TextItem(anchor=(0, 1))
        self._tip.setZValue(40)
        self._tip.hide()
        view.addItem(self._tip, ignoreBounds=True)
        self.apply_theme()

    # --- what to show ------------------------------------------------------------------------
    def set_labels(self, texts: Sequence[str] | None, ranks: np.ndarray | None = None) -> None:
        """Label points with texts (None: no labels); lower rank = labelled first (default: row order)."""
        self._texts = list(texts) if texts else None
        self._ranks = None if ranks is None else np.asarray(ranks)
        self.refresh()

    def set_images(self, images) -> None:
        """Images to draw as thumbnails when `show_images` is on (None: none)."""
        self._images = images
        self.refresh()

    def set_show_images(self, on: bool) -> None:
        self._show_images = bool(on)
        self.refresh()

    def set_hover_text(self, fn: Callable[[int], str] | None) -> None:
        """fn(i) → the text shown beside the pointer while it is over point i."""
        self._hover_text = fn

    def labelled(self) -> np.ndarray:
        """Rows whose labels are shown now."""
        return self._shown_labels

    def label_texts(self) -> list[str]:
        return [self._labels[k].toPlainText() for k in range(len(self._shown_labels))]

    def thumbnailed(self) -> np.ndarray:
        """Rows drawn as thumbnails now."""
        return self._shown_thumbs

    def tip_text(self) -> str:
        return self._tip.toPlainText() if self._tip.isVisible() else ""

    # --- drawing -----------------------------------------------------------------------------
    def apply_theme(self) -> None:
        c = theme.colors()
        bg = QColor(c["plot_bg"])
        bg.setAlpha(230)
        self._tip.fill = pg.mkBrush(bg)
        self._tip.border = pg.mkPen(c["grid"])
        self._tip.setColor(c["text"])
        for item in self._labels:
            item.setColor(c["plot_fg"])
            item.fill = self._label_fill()
            item.update()

    @staticmethod
    def _label_fill():
        """A see-through plate of the plot background: words stay legible over dense points."""
        bg = QColor(theme.colors()["plot_bg"])
        bg.setAlpha(150)
        return pg.mkBrush(bg)

    def show_tip(self, i: int, xy: np.ndarray) -> None:
        """The hover tip beside point i (at the pointer, which is on it); -1 hides it."""
        if i < 0 or self._hover_text is None or i >= len(xy):
            self._tip.hide()
            return
        self._tip.setText(self._hover_text(i))
        self._tip.setPos(float(xy[i, 0]), float(xy[i, 1]))
        self._tip.show()

    def refresh(self) -> None:
        view = self._view
        xy = view.positions()
        want_labels = self._texts is not None and len(self._texts) == len(xy)
        want_thumbs = self._show_images and self._images is not None and len(self._images) == len(xy)
        if not (want_labels or want_thumbs) or not len(xy):
            self._place_labels(np.zeros(0, np.int64), xy)
            self._place_thumbs(np.zeros(0, np.int64), xy)
            return
        order, px = self._in_view(xy)
        self._place_labels(pick_spread(px, order, LABEL_CELL, MAX_LABELS) if want_labels else order[:0], xy, px)
        thumbs = pick_spread(px, order, (THUMB_PX + 2, THUMB_PX + 2), MAX_THUMBS) if want_thumbs else order[:0]
        self._place_thumbs(thumbs, xy)

    def _in_view(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows inside the view, best rank first (at most CANDIDATES), and every row's screen position."""
        vb = self._view.getPlotItem().getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        inside = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
        ranks = self._ranks if self._ranks is not None and len(self._ranks) == len(xy) else None
        if ranks is not None:
            if len(inside) > CANDIDATES:
                inside = inside[np.argpartition(ranks[inside], CANDIDATES)[:CANDIDATES]]
            inside = inside[np.argsort(ranks[inside], kind="stable")]
        else:
            inside = inside[:CANDIDATES]
        w, h = vb.width() or 1.0, vb.height() or 1.0
        px = np.zeros((len(xy), 2))
        px[inside, 0] = (xy[inside, 0] - x0) / max(x1 - x0, 1e-12) * w
        px[inside, 1] = (y1 - xy[inside, 1]) / max(y1 - y0, 1e-12) * h
        return inside, px

    def _place_labels(self, rows: np.ndarray, xy: np.ndarray, px=None) -> None:
        colour = theme.colors()["plot_fg"]
        while len(self._labels) < len(rows):
            item = pg.TextItem(color=colour, anchor=(0, 0.5), fill=self._label_fill())
            item.setZValue(30)
            self._view.addItem(item, ignoreBounds=True)
            self._labels.append(item)
        for k, item in enumerate(self._labels):
            if k < len(rows):
                i = int(rows[k])
                item.setText(self._texts[i])
                item.setPos(float(xy[i, 0]), float(xy[i, 1]))
                item.show()
            else:
                item.hide()
        self._shown_labels = rows

    def _place_thumbs(self, rows: np.ndarray, xy: np.ndarray) -> None:
        while len(self._thumbs) < len(rows):
            item = pg.ImageItem(axisOrder="row-major")
            item.setZValue(25)
            self._view.addItem(item, ignoreBounds=True)
            self._thumbs.append(item)
        if len(rows):
            px, py = self._view.getPlotItem().getViewBox().viewPixelSize()
            w, h = THUMB_PX * px, THUMB_PX * py
        for k, item in enumerate(self._thumbs):
            if k < len(rows):
                i = int(rows[k])
                image = np.asarray(self._images[i])
                item.setImage(image[::-1], autoLevels=False, levels=(0, 255))  # rows go up in view coordinates
                item.setRect(QRectF(float(xy[i, 0]) - w / 2, float(xy[i, 1]) - h / 2, w, h))
                item.show()
            else:
                item.hide()
        self._shown_thumbs = rows
