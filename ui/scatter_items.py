"""The scatter's graphics items: points painted with numpy alone, a legend that sizes itself, a rubber-band ViewBox."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem


def point_style(n: int) -> tuple[float, int]:
    """Symbol size (px) and fill alpha for n points: big and opaque for few, small and see-through for many."""
    if n <= 2_000:
        return 7, 220
    if n <= 20_000:
        return 5, 170
    return 3, 120


class Points(pg.ScatterPlotItem):
    """A ScatterPlotItem that restyles, moves and paints N points with numpy alone.

    pyqtgraph looks each point's style up in its symbol atlas with a Python loop (about 300 ms
    at 100k points even when the brushes are shared). With a few shared brushes the lookup is
    done once per brush and broadcast; moving points only rewrites the x and y columns.
    Painting keeps contiguous copies of x, y and the atlas rectangles, so a frame is one affine
    transform, one cull and one drawPixmapFragments call; data bounds are cached because in
    pixel mode they do not change when the view pans.
    """

    def __init__(self, *args, **kwargs):
        self._x = self._y = np.zeros(0)
        self._src = np.zeros((0, 4), dtype=np.int64)
        self._lean = False  # whether the contiguous copies above describe self.data
        self._extent: tuple | None = None
        super().__init__(*args, **kwargs)

    def _fast_path_ok(self) -> bool:
        fields = self.data.dtype.fields or {}
        return (all(k in fields for k in ("x", "y", "size", "brush", "visible", "item", "sourceRect"))
                and self.opts["pxMode"] and self.opts["useCache"])

    def set_styled(self, xy: np.ndarray, groups: np.ndarray, brushes: Sequence, size: float) -> None:
        """Show points xy (N, 2), point i filled with brushes[groups[i]] (the same QBrush objects)."""
        table = np.empty(len(brushes), dtype=object)
        table[:] = list(brushes)
        if not self._fast_path_ok():  # a pyqtgraph whose internals differ: the documented path
            self._lean = False
            self.setData(pos=xy, brush=list(table[groups]), size=size)
            return
        self.setSize(size, update=False)
        if len(self.data) == len(xy):  # recolouring: reuse the record array (allocating it is most of the cost)
            data = self.data
            data["item"] = None  # SpotItems cached by pointsAt would describe the old style
        else:
            data = np.empty(len(xy), dtype=self.data.dtype)  # object fields start as None = "use opts"
            data["size"] = -1
            data["visible"] = True
            if "hovered" in data.dtype.fields:
                data["hovered"] = False
        data["x"], data["y"] = xy[:, 0], xy[:, 1]
        data["brush"] = table[groups]
        coords = self.fragmentAtlas[[(self.opts["symbol"], size, self.opts["pen"], b) for b in brushes]]
        rects = np.zeros(len(brushes), dtype=data.dtype["sourceRect"])
        rects[:] = coords
        data["sourceRect"] = rects[groups]
        self.data = data
        self._src = np.frombuffer(rects.tobytes(), dtype=np.int64).reshape(-1, 4)[groups]
        self._x, self._y = np.ascontiguousarray(xy[:, 0], float), np.ascontiguousarray(xy[:, 1], float)
        self._lean = True
        self._updateMaxSpotSizes(data=data)
        self._changed()

    def move_to(self, xy: np.ndarray) -> None:
        """New positions for the same points, keeping every style."""
        if len(xy) != len(self.data) or not self._fast_path_ok():
            self._lean = False
            self.setData(pos=xy, brush=list(self.data["brush"]), size=self.opts["size"])
            return
        self.data["x"], self.data["y"] = xy[:, 0], xy[:, 1]
        self._x, self._y = np.ascontiguousarray(xy[:, 0], float), np.ascontiguousarray(xy[:, 1], float)
        self._changed()

    def updateSpots(self, dataSet=None):
        # pyqtgraph restyles through here (pen/size changes, a new screen's pixel ratio):
        # its rectangles may move in the atlas, so stop trusting the copies until set_styled.
        self._lean = False
        super().updateSpots(dataSet)

    def _changed(self) -> None:
        n = len(self.data)
        self._extent = ((self._x.min(), self._x.max()), (self._y.min(), self._y.max())) if n and self._lean else None
        self.bounds = [None, None]
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.invalidate()
        self.sigPlotChanged.emit(self)

    def dataBounds(self, ax, frac=1.0, orthoRange=None):
        if self._lean and self._extent is not None and frac >= 1.0 and orthoRange is None:
            return self._extent[ax]
        return super().dataBounds(ax, frac, orthoRange)

    def paint(self, p, option, widget):
        t = p.transform()
        dpr = self.fragmentAtlas.devicePixelRatio()
        lean = (self._lean and self._exportOpts is False and t.isAffine() and len(self._x) == len(self.data)
                and (widget is None or widget.devicePixelRatioF() == dpr))
        if not lean:
            return super().paint(p, option, widget)
        sx = t.m11() * self._x + t.m21() * self._y + t.dx()
        sy = t.m12() * self._x + t.m22() * self._y + t.dy()
        device = p.device()
        margin = self.fragmentAtlas.maxWidth
        w, h = device.width() / device.devicePixelRatioF(), device.height() / device.devicePixelRatioF()
        vis = np.flatnonzero((sx > -margin) & (sx < w + margin) & (sy > -margin) & (sy < h + margin))
        if not len(vis):
            return
        p.resetTransform()
        self._pixmapFragments.resize(len(vis))
        frags = self._pixmapFragments.ndarray()
        frags[:, 0] = sx[vis]
        frags[:, 1] = sy[vis]
        frags[:, 2:6] = self._src[vis]
        frags[:, 6:10] = [1 / dpr, 1 / dpr, 0.0, 1.0]
        p.drawPixmapFragments(*self._pixmapFragments.drawargs(), self.fragmentAtlas.pixmap)


class Legend(pg.LegendItem):
    """LegendItem sized from its layout's preferred size (its own sum of item sizes overshoots ~2.5×)."""

    def updateSize(self):
        if self.size is None:
            self.layout.invalidate()
            hint = self.layout.effectiveSizeHint(Qt.PreferredSize)
            self.setGeometry(0, 0, hint.width(), hint.height())


class SelectViewBox(pg.ViewBox):
    """A ViewBox whose left-drag draws a rubber band (with Shift held, or always in select mode)."""

    sigSelectRect = Signal(object)  # QRectF in view coordinates

    def __init__(self):
        super().__init__()
        self.select_mode = False
        self.band = QGraphicsRectItem()
        self.band.setZValue(1e9)
        self.band.hide()
        self.addItem(self.band, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):
        selecting = self.select_mode or bool(ev.modifiers() & Qt.ShiftModifier)
        if axis is None and ev.button() == Qt.LeftButton and selecting:
            ev.accept()
            rect = QRectF(self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos())).normalized()
            if ev.isFinish():
                self.band.hide()
                self.sigSelectRect.emit(rect)
            else:
                self.band.setRect(rect)
                self.band.show()
            return
        super().mouseDragEvent(ev, axis)
