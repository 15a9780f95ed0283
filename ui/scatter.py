"""An embedding map for 1M points: shared brushes, KD-tree hit-testing, rubber-band selection, and past 300k a density
image that resolves into the points in view as you zoom."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel

from ui import theme
from ui.map_overlay import MapOverlay
from ui.scatter_density import DensityIndex
from ui.scatter_items import Legend, Points, SelectViewBox, point_style

MAX_LEGEND = 20  # legend entries; rarer categories share one "other" entry and colour
DENSITY_THRESHOLD = 300_000  # above this many points the map is drawn as a density image
DENSITY_BINS = 512  # bins along the longer side of the density image (it spans twice the view)
RESOLVE_POINTS = 50_000  # a density map draws the points in view as dots once no more than this many are
REFRESH_MS = 60  # after a pan or zoom has paused this long, the density image, labels and thumbnails follow
PICK_RADIUS = 6  # pixels within which the pointer "hits" a point
ANIMATION_MS = 300
ANIMATION_FRAMES = 9
ANIMATION_MAX_POINTS = 50_000  # larger maps jump; a repaint per frame would cost too much


class ScatterView(pg.PlotWidget):
    """Points coloured by category, with hover, click and rectangle selection reported by index."""

    hovered = Signal(int)  # -1 when the pointer is over no point
    clicked = Signal(int)
    selected = Signal(object)  # np.ndarray of indices inside the rubber band

    def __init__(self, parent=None):
        self._vb = SelectViewBox()
        super().__init__(parent, viewBox=self._vb)
        self.density_threshold = DENSITY_THRESHOLD
        item = self.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.hideButtons()
        item.setMenuEnabled(False)  # keep the ViewBox's own menu ("View All"), drop plot options
        self._vb.setAspectLocked(True)  # distances in a map mean something; don't stretch them
        self._vb.sigSelectRect.connect(self._on_select_rect)

        self._xy = np.zeros((0, 2))  # target positions (what hit-testing uses)
        self._shown = self._xy  # positions drawn right now (differs during an animation)
        self._groups = np.zeros(0, dtype=np.int64)  # display group per point
        self._group_names: list[str] = []
        self._group_colours: list[str] = []
        self._group_counts = np.zeros(0, dtype=np.int64)
        self._brushes: list = []  # one shared QBrush per display group
        self._solid: list = []  # their opaque twins, for highlighted points
        self._solid_for: list | None = None
        self._size, self._alpha = 7.0, 220
        self._tree = None  # scipy cKDTree, built on first hit test
        self._hover = -1
        self._highlight = np.zeros(0, dtype=np.int64)
        self._highlight_colours: list[str] = []
        self._selection = np.zeros(0, dtype=np.int64)

        self._points = Points(pxMode=True, pen=None, size=self._size, antialias=False)
        self._density = pg.ImageItem()
        self._density.setOpts(axisOrder="col-major")
        self._density.setZValue(-1)
        self._density.hide()
        self._no_brush = pg.mkBrush(None)
        self._sel_item = Points(pxMode=True, size=self._size + 4, brush=self._no_brush)
        self._sel_item.setZValue(5)
        self._hl_item = pg.ScatterPlotItem(pxMode=True)
        self._hl_item.setZValue(10)
        self._hover_item = pg.ScatterPlotItem(pxMode=True, brush=None)
        self._hover_item.setZValue(20)
        # two invisible points at the map's corners: "View All" frames every point even when only those
        # in view are drawn (a density map zoomed in)
        self._extent_item = pg.ScatterPlotItem(pxMode=True, size=0, pen=None, brush=None)
        for it in (self._extent_item, self._density, self._points, self._sel_item, self._hl_item, self._hover_item):
            self.addItem(it)
        self._legend = Legend(offset=(-10, 10), verSpacing=-6, labelTextSize="8pt")
        self._legend.setParentItem(self._vb)

        self._anim = QTimer(self)
        self._anim.setInterval(ANIMATION_MS // ANIMATION_FRAMES)
        self._anim.timeout.connect(self._animate_step)
        self._anim_from = self._anim_to = self._xy
        self._anim_frame = 0
        self._resolved = np.zeros(0, dtype=np.int64)  # in a density map: the rows drawn as dots now
        self._dindex: DensityIndex | None = None  # built on a density map's first draw
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self.refresh_view)
        self._vb.sigRangeChanged.connect(lambda *_: self._refresh.start())
        self.overlay = MapOverlay(self)

        self._empty = QLabel(self)
        self._empty.setAlignment(Qt.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.set_empty_text("No map yet.")

        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.apply_theme()

    # --- data --------------------------------------------------------------------------------
    def set_points(self, xy: np.ndarray, categories: np.ndarray | None = None,
                   category_names: Sequence[str] | None = None, colours: Sequence[str] | None = None,
                   reset_view: bool = True) -> None:
        """Show xy (N, 2) coloured by categories (N,) ints indexing category_names and colours.

        More than MAX_LEGEND categories: the commonest keep their colour, the rest share "other".
        reset_view=False keeps the current zoom (recolouring the same map).
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        n = len(xy)
        cats = np.zeros(n, dtype=np.int64) if categories is None else np.asarray(categories, dtype=np.int64)
        if cats.shape != (n,):
            raise ValueError(f"categories must have shape ({n},), got {cats.shape}")
        k = int(cats.max()) + 1 if n else 0
        names = list(category_names) if category_names is not None else [""] * k
        if len(names) < k:
            raise ValueError(f"categories go up to {k - 1} but only {len(names)} names were given")
        cols = list(colours) if colours is not None else [theme.series_color(i) for i in range(len(names))]
        if len(cols) < len(names):
            raise ValueError(f"{len(names)} categories need as many colours, got {len(cols)}")
        self._anim.stop()
        # recolouring the same points keeps what was selected; a new map starts afresh
        keep_selection = not reset_view and n == len(self._xy)
        self._group_points(cats, names, cols)
        self._xy = self._shown = xy
        self._tree = None
        self._size, self._alpha = point_style(n)
        self._make_brushes()
        if not keep_selection:
            self._selection = np.zeros(0, dtype=np.int64)
        self._highlight = self._highlight[self._highlight < n]
        if reset_view and n:  # frame the new map first: a density map draws only what is in view
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            self._vb.setRange(xRange=(lo[0], hi[0]), yRange=(lo[1], hi[1]), padding=0.05)
        self._redraw_all()
        self._set_hover(-1)
        self._empty.setVisible(n == 0)

    def update_positions(self, xy: np.ndarray, animate: bool = True) -> None:
        """Move the same points to xy (N, 2) keeping colours (live map, timeline); cheap."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if len(xy) != len(self._xy):
            raise ValueError(f"update_positions needs {len(self._xy)} points, got {len(xy)}; use set_points")
        self._tree = None  # rebuilt on the next hover, not on every frame
        start = self._shown
        self._xy = xy
        if animate and len(xy) <= ANIMATION_MAX_POINTS and self.isVisible() and not self.is_density():
            self._anim_from, self._anim_to, self._anim_frame = start, xy, 0
            self._anim.start()
        else:
            self._anim.stop()
            self._show_positions(xy)

    def keep_in_view(self, margin: float = 0.05) -> None:
        """Re-frame the view when placed points have wandered outside it (the live map grows)."""
        if len(self._xy) == 0:
            return
        (x0, x1), (y0, y1) = self.getPlotItem().vb.viewRange()
        lo, hi = self._xy.min(0), self._xy.max(0)
        if lo[0] < x0 or hi[0] > x1 or lo[1] < y0 or hi[1] > y1:
            pad = (hi - lo) * margin
            self.getPlotItem().vb.setRange(xRange=(lo[0] - pad[0], hi[0] + pad[0]),
                                           yRange=(lo[1] - pad[1], hi[1] + pad[1]), padding=0)

    def centre_on(self, i: int, span_share: float = 0.25) -> None:
        """Centre the view on point i, zooming in to at most span_share of the map's extent."""
        if not 0 <= i < len(self._xy):
            return
        (x0, x1), (y0, y1) = self._vb.viewRange()
        extent = self._xy.max(0) - self._xy.min(0)
        w, h = min(x1 - x0, max(extent[0], 1e-9) * span_share), min(y1 - y0, max(extent[1], 1e-9) * span_share)
        x, y = self._xy[i]
        self._vb.setRange(xRange=(x - w / 2, x + w / 2), yRange=(y - h / 2, y + h / 2), padding=0)
        self.refresh_view()

    def refresh_view(self) -> None:
        """Bring what depends on the view up to date now (it also follows by itself, REFRESH_MS after a pan or zoom)."""
        self._refresh.stop()
        if self.is_density():
            self._draw_density_layer()
        self.overlay.refresh()

    def set_highlight(self, indices: Sequence[int] | np.ndarray, colour: str | Sequence[str] | None = None) -> None:
        """Draw these points larger and outlined on top (one colour, or one per index); [] clears."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        idx = idx[(idx >= 0) & (idx < len(self._xy))]
        if colour is None or isinstance(colour, str):
            cols = [colour or theme.colors()["accent"]] * len(idx)
        else:
            cols = [str(c) for c in colour][: len(idx)]
            cols += [theme.colors()["accent"]] * (len(idx) - len(cols))
        self._highlight, self._highlight_colours = idx, cols
        self._draw_highlight()

    def set_select_mode(self, on: bool) -> None:
        """While on, a plain left-drag selects a rectangle instead of panning."""
        self._vb.select_mode = bool(on)

    def select_mode(self) -> bool:
        return self._vb.select_mode

    def select_rect(self, rect: QRectF) -> np.ndarray:
        """Select the points inside rect (view coordinates), draw them, emit and return their indices."""
        x, y = self._xy[:, 0], self._xy[:, 1]
        inside = (x >= rect.left()) & (x <= rect.right()) & (y >= rect.top()) & (y <= rect.bottom())
        self._selection = np.flatnonzero(inside)
        self._draw_selection()
        self.selected.emit(self._selection)
        return self._selection

    def clear_selection(self) -> None:
        self._selection = np.zeros(0, dtype=np.int64)
        self._draw_selection()

    def set_empty_text(self, text: str) -> None:
        self._empty.setText(text)

    # --- queries -----------------------------------------------------------------------------
    def count(self) -> int:
        return len(self._xy)

    def positions(self) -> np.ndarray:
        """Where the points are (or are heading, during an animation): (N, 2)."""
        return self._xy

    def selection(self) -> np.ndarray:
        return self._selection

    def highlighted(self) -> np.ndarray:
        return self._highlight

    def is_density(self) -> bool:
        return len(self._xy) > self.density_threshold

    def resolved(self) -> np.ndarray:
        """In a density map, the rows drawn as dots now (zoomed in far enough); else empty."""
        return self._resolved if self.is_density() and self._points.isVisible() else np.zeros(0, np.int64)

    def legend_entries(self) -> list[str]:
        """The legend's texts, e.g. ["red (334)", "green (333)", …]."""
        return [label.text for _, label in self._legend.items]

    def point_size(self) -> float:
        return self._size

    def brushes(self) -> list:
        """The shared brushes, one per legend entry."""
        return list(self._brushes)

    def pixel_of(self, i: int):
        """Where point i is drawn, in the viewport's pixel coordinates (QPoint)."""
        x, y = self._xy[i]
        return self.mapFromScene(self._vb.mapViewToScene(QPointF(float(x), float(y))))

    def index_at(self, x: float, y: float, radius_px: float | None = None) -> int:
        """The point nearest (x, y) in view coordinates within radius_px screen pixels, or -1.

        A KD-tree in data coordinates answers "who is near" for a radius converted from pixels
        with the view's current pixel size; the exact pixel distance then picks the nearest.
        """
        if not len(self._xy):
            return -1
        if self._tree is None:
            from scipy.spatial import cKDTree  # ~1 s to import: after the window has painted
            self._tree = cKDTree(self._xy)
        px, py = self._vb.viewPixelSize()
        if not (px > 0 and py > 0):
            return -1
        r_px = radius_px if radius_px is not None else max(PICK_RADIUS, self._size / 2 + 2)
        cand = self._tree.query_ball_point((x, y), r_px * max(px, py))
        if not cand:
            return -1
        cand = np.asarray(cand, dtype=np.int64)
        d = ((self._xy[cand, 0] - x) / px) ** 2 + ((self._xy[cand, 1] - y) / py) ** 2
        best = int(np.argmin(d))
        return int(cand[best]) if d[best] <= r_px * r_px else -1

    # --- theme -------------------------------------------------------------------------------
    def apply_theme(self) -> None:
        c = theme.colors()
        theme.style_plot(self)
        bg = QColor(c["plot_bg"])
        bg.setAlpha(210)
        self._legend.setBrush(pg.mkBrush(bg))
        self._legend.setPen(pg.mkPen(c["grid"]))
        self._legend.setLabelTextColor(c["plot_fg"])
        accent = QColor(c["accent"])
        self._vb.band.setPen(pg.mkPen(accent, width=1))
        accent.setAlpha(40)
        self._vb.band.setBrush(pg.mkBrush(accent))
        theme.set_look(self._empty, empty=True)
        if self._group_names:
            self._make_brushes()
            self._redraw_all()
        self.overlay.apply_theme()

    # --- internals ---------------------------------------------------------------------------
    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        if "_empty" in self.__dict__:  # GraphicsView resizes once inside its own __init__
            self._empty.setGeometry(self.rect())

    def leaveEvent(self, ev):
        self._set_hover(-1)
        super().leaveEvent(ev)

    def _group_points(self, cats: np.ndarray, names: list[str], cols: list[str]) -> None:
        counts = np.bincount(cats, minlength=len(names)) if len(cats) else np.zeros(len(names), np.int64)
        present = np.flatnonzero(counts)
        if len(present) <= MAX_LEGEND:
            keep = present
        else:  # the commonest MAX_LEGEND - 1 keep their colour, in their own order
            keep = np.sort(present[np.argsort(-counts[present], kind="stable")[: MAX_LEGEND - 1]])
        lookup = np.full(len(names), len(keep), dtype=np.int64)
        lookup[keep] = np.arange(len(keep))
        self._groups = lookup[cats] if len(cats) else np.zeros(0, np.int64)
        self._group_names = [names[i] for i in keep]
        self._group_colours = [cols[i] for i in keep]
        self._group_counts = counts[keep]
        if len(keep) < len(present):
            rest = len(present) - len(keep)
            self._group_names.append(f"other ({rest} categories)")
            self._group_colours.append("")  # theme's muted colour, resolved in _make_brushes
            self._group_counts = np.append(self._group_counts, counts.sum() - counts[keep].sum())

    def _make_brushes(self) -> None:
        muted = theme.colors()["muted"]
        self._brushes = []
        for col in self._group_colours:
            q = QColor(col or muted)
            q.setAlpha(self._alpha)
            self._brushes.append(pg.mkBrush(q))  # one per group, shared by all its points

    def _redraw_all(self) -> None:
        self._dindex = None
        self._set_extent(self._shown)
        if self.is_density():
            self._draw_density_layer()
        else:
            self._density.hide()
            self._points.set_styled(self._shown, self._groups, self._brushes or [pg.mkBrush(0)], self._size)
            self._points.show()
        self._draw_legend()
        self._draw_selection()
        self._draw_highlight()
        self.overlay.refresh()

    def _set_extent(self, xy: np.ndarray) -> None:
        if len(xy):
            self._extent_item.setData(pos=np.array([xy.min(axis=0), xy.max(axis=0)]))
        else:
            self._extent_item.clear()

    def _show_positions(self, xy: np.ndarray) -> None:
        self._shown = xy
        self._dindex = None
        self._set_extent(xy)
        if self.is_density():
            self._draw_density_layer()
        else:
            self._points.move_to(xy)
        self._draw_selection()
        self._draw_highlight()
        if self._hover >= 0:
            self._hover_item.setData(pos=xy[[self._hover]])

    def _animate_step(self) -> None:
        self._anim_frame += 1
        t = self._anim_frame / ANIMATION_FRAMES
        if t >= 1.0:
            self._anim.stop()
            self._show_positions(self._anim_to)
            return
        ease = t * t * (3 - 2 * t)  # smoothstep: starts and ends gently
        self._show_positions(self._anim_from + (self._anim_to - self._anim_from) * ease)

    def _draw_density_layer(self) -> None:
        """Past the density threshold: the points in view as dots when few enough, else a density image of them.

        The image covers the view and half a view around it, so a pan shows no empty edge before
        the refresh that follows it; hit-testing uses every point either way (index_at).
        """
        xy = self._shown
        if not len(xy):
            self._density.clear()
            self._points.hide()
            return
        if self._dindex is None:
            rgb = [QColor(c or theme.colors()["muted"]).getRgb()[:3] for c in self._group_colours] or [[0, 0, 0]]
            self._dindex = DensityIndex(xy, self._groups, np.array(rgb))
        index = self._dindex
        (x0, x1), (y0, y1) = self._vb.viewRange()
        view_lo, view_hi = np.array([x0, y0]), np.array([x1, y1])
        in_view = index.sorted_in(view_lo, view_hi)
        if 0 < len(in_view) <= RESOLVE_POINTS:
            rows = index.order[in_view]
            self._resolved = rows
            self._points.set_styled(xy[rows], self._groups[rows], self._brushes or [pg.mkBrush(0)], self._size)
            self._points.show()
            self._density.hide()
            return
        self._resolved = np.zeros(0, dtype=np.int64)
        self._points.hide()
        span = view_hi - view_lo
        img, lo, hi = index.image(view_lo - span / 2, view_hi + span / 2, DENSITY_BINS)
        self._density.setImage(img, autoLevels=False, levels=(0, 255))
        self._density.setRect(QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]))
        self._density.show()

    def _draw_legend(self) -> None:
        self._legend.clear()
        if len(self._group_names) <= 1 and not any(self._group_names):
            self._legend.hide()
            return
        for name, brush, count in zip(self._group_names, self._brushes, self._group_counts):
            q = QColor(brush.color())
            q.setAlpha(255)
            sample = pg.ScatterPlotItem(pen=None, brush=pg.mkBrush(q), size=9, symbol="o")
            self._legend.addItem(sample, f"{name} ({int(count):,})")
        self._legend.show()

    def _draw_selection(self) -> None:
        sel = self._selection
        # update=False: restyling the old points through pyqtgraph would be a Python loop over them
        self._sel_item.setPen(pg.mkPen(theme.colors()["accent"], width=1.5), update=False)
        self._sel_item.set_styled(self._shown[sel] if len(sel) else np.zeros((0, 2)),
                                  np.zeros(len(sel), np.int64), [self._no_brush], self._size + 3)

    def _draw_highlight(self) -> None:
        idx = self._highlight
        if not len(idx):
            self._hl_item.clear()
            return
        # shared pens and brushes again: pyqtgraph keeps an atlas entry per distinct pen/brush object
        solid = self._solid_brushes()
        grey = pg.mkBrush(theme.colors()["muted"])
        brushes = [solid[self._groups[i]] if solid else grey for i in idx]
        pens = {c: pg.mkPen(c, width=2.5) for c in set(self._highlight_colours)}
        pens = [pens[c] for c in self._highlight_colours]
        self._hl_item.setData(pos=self._shown[idx], brush=brushes, pen=pens, size=self._size + 7)

    def _solid_brushes(self) -> list:
        """Opaque versions of the group brushes, built once per set of brushes."""
        if self._solid_for is not self._brushes:
            self._solid = []
            for b in self._brushes:
                q = QColor(b.color())
                q.setAlpha(255)
                self._solid.append(pg.mkBrush(q))
            self._solid_for = self._brushes
        return self._solid

    def _set_hover(self, i: int) -> None:
        if i == self._hover:
            return
        self._hover = i
        self.overlay.show_tip(i, self._shown)
        if i >= 0:
            self._hover_item.setData(pos=self._shown[[i]], pen=pg.mkPen(theme.colors()["plot_fg"], width=1.5),
                                     size=self._size + 9)
        else:
            self._hover_item.clear()
        self.hovered.emit(i)

    def _view_point(self, scene_pos) -> QPointF | None:
        if not self._vb.sceneBoundingRect().contains(scene_pos):
            return None
        return self._vb.mapSceneToView(scene_pos)

    def _on_mouse_moved(self, scene_pos) -> None:
        p = self._view_point(scene_pos)
        self._set_hover(-1 if p is None else self.index_at(p.x(), p.y()))

    def _on_mouse_clicked(self, ev) -> None:
        if ev.button() != Qt.LeftButton or ev.double():
            return
        p = self._view_point(ev.scenePos())
        i = -1 if p is None else self.index_at(p.x(), p.y())
        if i >= 0:
            self.clear_selection()
            self.clicked.emit(i)

    def _on_select_rect(self, rect: QRectF) -> None:
        self.select_rect(rect)

