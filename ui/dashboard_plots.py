"""The dashboard's plot grid: its plots and curves, the shared step axis, y axes that move in steps, legend placement."""
from __future__ import annotations

import html
import math
import time
import zlib

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFontMetricsF, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem

from workbench.term_units import FRACTION, OTHER, term_scale

from . import theme

EVEN_STD_RATIO = 1.0  # a reference, not a threshold: features spread evenly over all directions
# Titles short enough for half the dashboard at 1280 px: a plot's title sets its column's minimum
# width, and a wider layout than the view cuts the plots on the right off.
KNN_TITLE = "kNN top-1, train → test (%)"
EVAL_TITLE = "kNN top-1, train → test (%) · scores ×100"
WORDS_TITLE = "Word similarity: Spearman ρ"
LEGEND_MAX_SHARE = 0.6  # a legend taller than this share of its plot is not given room of its own
LEGEND_MARGIN = 12  # px between a legend's box and its plot's edge: its 8-px offset and a 4-px gap to the data
MIN_RELATIVE_SPAN = 0.02  # a y range never narrower than this share of the values' size: noise is drawn as noise
FLAT_PADDING = 0.1        # one value (a first step, a constant lr) is drawn ±10 % around it
FEW_POINTS = 5   # a curve of this many points or fewer gets markers: a single point has no line to draw
RANK_HEADROOM = 1.25  # effective rank is drawn from 0 with this room above its peak: a change of 0.3 stays small
TERMS_EMPTY = "no extra terms for this method"
LEGEND = {"labelTextSize": "8pt", "verSpacing": -6}
# Step-by-step curves are drawn from at most one min/max pair per pixel column (pyqtgraph's default is
# five): the same picture, with a fifth of the antialiased segments to paint.
DENSE = {"autoDownsampleFactor": 1.0}
# Step-by-step values (a noisy loss, throughput, terms) drawn aliased: thinned, they zig-zag up and down each pixel
# column, and antialiased those short strokes cost ~10-20 ms a curve per repaint at 30,000 steps (a repaint of the
# grid 53 → 10 ms), for no visible gain in a band of noise. Smooth lines (the EMA, compared runs) stay antialiased.
NOISY = {**DENSE, "antialias": False}


def segmented(curve: pg.PlotDataItem) -> pg.PlotDataItem:
    """`curve` drawn as separate segments (QPainter.drawLines), not as one path: antialiased, as the app draws, one
    path of a long zig-zagging curve (a step loss thinned to a min/max pair per pixel column) took Qt's stroker
    ~250 ms to paint, segments ~10 ms. Ends of segments overlap, so its pen must be opaque (see _faint_pen)."""
    curve.curve.setSegmentedLineMode("on")
    return curve
TICK_TEXT_SAMPLE = "-0.000"  # y axes start this wide, so the usual tick labels never re-lay out the grid
RATIO_TICK_SAMPLE = "0.00"  # the std-ratio axis's widest usual tick label
COLUMN_GAP = 16  # px between the grid's columns
RANGE_STEPS = 16    # a y range's bounds are multiples of a round step near 1/16 of the data's spread
SHRINK_SHARE = 0.5  # a y range is made anew when the data spreads over less than this share of it
X_FOLLOW_MS = 40    # between the groups of plots that take the step axis's jump on turns of their own (_sync_x)
X_FOLLOW_SHARE = 0.8  # only a jump to a range at most 1/0.8 as wide is staggered: a run's first steps reach all at once


def step_ceiling(step: float, total: float | None = None) -> float:
    """A round step 2–15% past `step` (at most 7.5 steps past it below step 50; never past the total).

    The step axis is shared by all plots; moving it repaints every axis of every plot. Following
    this instead of the last step moves it once per 4–10% of progress (every 5 steps at first)
    rather than on every event. A margin of at least half a jump keeps the curves' own few pixels
    of padding inside it.
    """
    if step <= 0:
        return 5.0
    q = 10.0 ** math.floor(math.log10(max(step / 10, 1.0)))  # the jump: 1, 2 or 5 × 10^k, 4–10% of step
    q *= 5 if step / 10 >= 5 * q else 2 if step / 10 >= 2 * q else 1
    q = max(q, 5.0)
    top = math.floor(step / q + 0.5) * q + q
    return float(min(top, total)) if total and total >= step else float(top)


def colour_index(name: str, palette: tuple[int, ...], taken) -> int:
    """A palette index chosen by a series' name (crc32), the next free one when another series of the plot has
    it: a series keeps its colour live, on replay and from run to run, whatever else arrived before it."""
    start = zlib.crc32(name.encode("utf-8")) % len(palette)
    for i in range(len(palette)):
        index = palette[(start + i) % len(palette)]
        if index not in taken:
            return index
    return palette[start]


def nice_ceiling(value: float) -> float:
    """The next 1, 2, 2.5 or 5 × 10^k at or above value (axis tops that read well)."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= value - 1e-12)


def nice_step(value: float) -> float:
    """The next 1, 2 or 5 × 10^k at or above value."""
    scale = 10.0 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 5, 10) if m * scale >= value * (1 - 1e-12))


def stepped_range(lo: float, hi: float, held: tuple[float, float] | None = None) -> tuple[float, float]:
    """A y range for values from lo to hi that moves in steps: `held` (the range shown) while the values stay
    inside it and spread over at least SHRINK_SHARE of it, else round bounds a quarter to one and a quarter
    steps outside the values (steps of 1, 2 or 5 × 10^k, about a 16th of their spread).

    A y axis repaints its tick labels and its part of the grid (about 10 ms a plot) whenever its range
    moves; following the values' extremes moved it on nearly every redraw while a run streamed.
    """
    if held is not None and held[0] <= lo and hi <= held[1] and hi - lo >= SHRINK_SHARE * (held[1] - held[0]):
        return held
    span = hi - lo
    if not (math.isfinite(span) and span > 1e-12 * max(abs(lo), abs(hi))):
        return lo, hi  # one value: nothing to step (see CurvePlotsMixin._fit_flat)
    q = nice_step(span / RANGE_STEPS)
    return math.floor(lo / q - 0.25) * q, math.ceil(hi / q + 0.25) * q


class SteppedViewBox(pg.ViewBox):
    """A ViewBox whose y auto-range moves in steps (stepped_range) around its children's bounds, overlays,
    floors and a legend's room included; unchanged, the axis keeps its cached picture."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.held_y: tuple[float, float] | None = None

    def forget(self) -> None:
        """A new run: the next range is made from its own values."""
        self.held_y = None

    def stepped(self, lo: float, hi: float) -> tuple[float, float]:
        """The y range this view will show for values from lo to hi (before auto-range's padding)."""
        return stepped_range(lo, hi, self.held_y)

    def suggestPadding(self, axis: int) -> float:
        # the stepped bounds already leave room around the values: only the least padding for the lines' width
        return self.state["defaultPadding"] if axis == 1 else super().suggestPadding(axis)

    def childrenBounds(self, frac=None, orthoRange=(None, None), items=None):
        bounds = super().childrenBounds(frac=frac, orthoRange=orthoRange, items=items)
        if items is None and bounds[1] is not None and self.state["autoRange"][1] is not False:
            self.held_y = self.stepped(*bounds[1])
            bounds[1] = list(self.held_y)
        return bounds


class StepExtent(pg.GraphicsObject):
    """Invisible item whose x bounds widen the loss plot's auto-range to a step ceiling (no y bounds)."""

    def __init__(self):
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)
        self.step: float | None = None

    def set_step(self, step: float | None) -> None:
        if step != self.step:
            self.step = step
            self.informViewBoundsChanged()

    def dataBounds(self, ax, frac=1.0, orthoRange=None):
        return (self.step, self.step) if ax == 0 and self.step is not None else None

    def boundingRect(self) -> QRectF:
        return QRectF()

    def paint(self, *args) -> None:
        pass


class ValueExtent(pg.GraphicsObject):
    """Invisible item whose y bounds take values (the floors) into a plot's auto-range; InfiniteLine's own
    bounds are always (0, 0)."""

    def __init__(self):
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)
        self.values: tuple[float, ...] = ()

    def set_values(self, values) -> None:
        values = tuple(values)
        if values != self.values:
            self.values = values
            self.informViewBoundsChanged()

    def dataBounds(self, ax, frac=1.0, orthoRange=None):
        return (min(self.values), max(self.values)) if ax == 1 and self.values else None

    def boundingRect(self) -> QRectF:
        return QRectF()

    def paint(self, *args) -> None:
        pass


def opaque_pen(pen: QPen, ground: QColor) -> QPen:
    """`pen` in the opaque colour its semi-transparent one shows on `ground`."""
    c = pen.color()
    a = c.alphaF()
    if a >= 1.0:
        return pen
    mixed = QPen(pen)
    mixed.setColor(QColor.fromRgbF(*(g * (1 - a) + v * a for g, v in
                                     ((ground.redF(), c.redF()), (ground.greenF(), c.greenF()),
                                      (ground.blueF(), c.blueF())))))
    return mixed


class GridAxis(pg.AxisItem):
    """An axis whose grid (and tick) lines are opaque: each line's colour mixed with the plot's ground, as its
    semi-transparent colour looks there. The plots put their axes behind the curves, so the grid is too.

    Qt blends a semi-transparent line, or a cached picture holding some, span by span on its thread pool:
    pyqtgraph's grid of ~30 such lines a plot made a full repaint of the dashboard cost ~75 ms of wall time on
    two cores (twice its GUI-thread CPU, waiting for the pool's threads) against ~10 ms with opaque lines.
    """

    def generateDrawSpecs(self, p):
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        ground = pg.mkColor(theme.colors()["plot_bg"])
        return axis, [(opaque_pen(pen, ground), a, b) for pen, a, b in ticks], texts


class PlotGrid(pg.GraphicsLayoutWidget):
    """The grid of plots; times its own paints so the redraw timer can slow down when they get costly."""

    paint_ms = 0.0

    def paintEvent(self, event) -> None:
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_ms = 1000 * (time.perf_counter() - t0)


def _entry_colour(item) -> str:
    """The colour a legend entry's curve or marker is drawn in."""
    opts = getattr(item, "opts", {})
    pen = opts.get("pen")
    if pen is not None and pg.mkPen(pen).style() != Qt.NoPen:
        return pg.mkPen(pen).color().name()
    brush = opts.get("symbolBrush") or opts.get("brush")
    return pg.mkBrush(brush).color().name() if brush is not None else theme.colors()["plot_fg"]


def _pack_lines(texts: list[str], width: float, gap: str = "    ") -> list[list[str]]:
    """`texts` in order, as few lines as fit `width` px at 8 pt (at least one text a line)."""
    font = QApplication.font()
    font.setPointSizeF(8)
    measure = QFontMetricsF(font).horizontalAdvance
    room = max(120.0, 0.92 * width)  # measured text, with a margin for the axis label's own padding
    lines: list[list[str]] = []
    for text in texts:
        if lines and measure(gap.join(lines[-1] + [text])) <= room:
            lines[-1].append(text)
        else:
            lines.append([text])
    return lines


def _legend_html(legend, width: float) -> str:
    """A legend's entries as lines of coloured names ('■ last  ■ best  ■ analogy top-1 …') that fit `width` px;
    a family listed with its factors ('■ analogy top-1  ■ · colour  ■ · shape') starts a line of its own."""
    entries = [(f"■ {label.text}", theme.readable_on_plot(_entry_colour(sample.item))) for sample, label in legend.items]
    blocks: list[list[tuple[str, str]]] = []  # runs of single entries, and each family with its factors
    for i, (text, colour) in enumerate(entries):
        factor = text.startswith("■ ·")
        has_factors = i + 1 < len(entries) and entries[i + 1][0].startswith("■ ·")
        plain = bool(blocks) and not any(t.startswith("■ ·") for t, _ in blocks[-1])
        if factor or (plain and not has_factors):
            blocks[-1].append((text, colour))
        else:
            blocks.append([(text, colour)])
    lines = []
    for block in blocks:  # packed by text, then each text given back its own colour (two "· colour"s differ)
        at = 0
        for line in _pack_lines([t for t, _ in block], width):
            lines.append(block[at:at + len(line)])
            at += len(line)
    return "".join("<br><span style='font-size:8pt'>" + "&nbsp;&nbsp;".join(
        f"<span style='color:{c}'>{html.escape(t)}</span>" for t, c in line) + "</span>" for line in lines)


def _notes_html(notes: list[str], width: float) -> str:
    """Notes under a plot's step axis ('random init floor: measuring…', 'wordsim353 on 60 pairs: ±0.26 is
    noise'), joined by ' · ' on lines that fit `width` px: a line wider than the plot runs under its neighbour."""
    return "".join(f"<br><span style='font-size:8pt'>{html.escape(' · '.join(line))}</span>"
                   for line in _pack_lines(notes, width, " · "))


def _along_lines(x, y, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Points along a curve's line, not only its vertices: a sketch of at most ~2,000 points of a long curve,
    and `points` spread along the segments of a short one, whose lines cross a legend's corner while both
    ends of a segment lie outside it (a few steps, two evaluations)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) > points or len(x) < 2:
        stride = max(1, len(x) // 2000)
        return x[::stride], y[::stride]
    at = np.linspace(0, len(x) - 1, points)
    index = np.arange(len(x))
    return np.interp(at, index, x), np.interp(at, index, y)


class CurvePlotsMixin:
    """Builds and lays out the Dashboard's plots and places their legends (part of Dashboard: uses its
    `data` (RunCurves), `_overlays` and legend caches)."""

    def _new_plot(self, row: int, col: int, title: str, ylabel: str, layout=None) -> pg.PlotItem:
        axes = {name: GridAxis(name) for name in ("left", "bottom", "right", "top")}
        p = (layout or self.plots).addPlot(row=row, col=col, title=title, viewBox=SteppedViewBox(), axisItems=axes)
        p.hideAxis("top")  # an axis handed to a plot is shown: only left and bottom are, as by default
        p.hideAxis("right")
        p.setLabel("bottom", "step")
        p.setLabel("left", ylabel)
        p.showGrid(x=True, y=True, alpha=0.15)
        p.setClipToView(True)
        p.setDownsampling(auto=True, mode="peak")
        p.setMenuEnabled(False)
        if ylabel != "lr":
            for name in ("left", "right"):
                p.getAxis(name).enableAutoSIPrefix(False)  # 0.8 should read 0.8, not 800 (x0.001)
        for name in ("left", "right"):
            self._reset_axis_width(p.getAxis(name))
        for axis in axes.values():
            # behind the view box (z -100) and so its curves: the grid's opaque lines (GridAxis) must not cross them
            axis.setZValue(-200)
            # its text and grid cached as a pixmap: repainted only when its range moves, not with every curve
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        return p

    def _reset_axis_width(self, axis: pg.AxisItem) -> None:
        """Start a y axis wide enough for usual labels and let it only grow: a width that follows the
        labels re-lays out and repaints the whole grid whenever a label gains or loses a digit."""
        font = axis.style["tickFont"] or QApplication.font()
        sample = getattr(axis, "tick_sample", TICK_TEXT_SAMPLE)
        axis.textWidth = math.ceil(QFontMetricsF(font).horizontalAdvance(sample)) + 2
        axis.setStyle(autoReduceTextSpace=False)  # also re-applies the width

    def _build_plots(self) -> None:
        self.plots = PlotGrid()
        self.plots.setMinimumHeight(360)
        # a gap between the columns: a right-hand plot's axis label otherwise touched the plot on its left
        self.plots.ci.layout.setHorizontalSpacing(COLUMN_GAP)
        c0 = pg.mkColor(theme.series_color(0))
        self.loss_plot = self._new_plot(0, 0, "Loss", "loss")
        self.loss_legend = self.loss_plot.addLegend(offset=(-8, 8), **LEGEND)
        self.loss_curve = segmented(self.loss_plot.plot(pen=self._faint_pen(), name="step loss", **NOISY))
        self.ema_curve = segmented(self.loss_plot.plot(pen=pg.mkPen(c0, width=2.5), name="EMA", **DENSE))
        self.step_extent = StepExtent()  # the shared step axis grows in jumps (see step_ceiling)
        self.loss_plot.addItem(self.step_extent)

        self.terms_plot = self._new_plot(0, 1, "Method terms", "value")
        self.terms_legend = self.terms_plot.addLegend(offset=(-8, 8), **LEGEND)
        self.terms_text = pg.TextItem(TERMS_EMPTY, anchor=(0.5, 0.5))
        self.terms_plot.addItem(self.terms_text, ignoreBounds=True)
        self.terms_text.hide()
        # Fractions (accuracies, 0…1) beside perplexities or losses go on a right axis in their own ViewBox:
        # on one axis, a perplexity of 400 flattens an accuracy of 0.09 into the zero line (see _split_terms).
        self.terms_right = SteppedViewBox()
        self.terms_plot.scene().addItem(self.terms_right)
        self.terms_plot.getAxis("right").linkToView(self.terms_right)
        self.terms_right.setXLink(self.terms_plot)
        self.terms_right.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
        self.terms_plot.vb.sigResized.connect(self._sync_terms_right)

        self.knn_plot = self._new_plot(1, 0, KNN_TITLE, "top-1 (%)")
        self.knn_legend = self.knn_plot.addLegend(offset=(-8, -8), **LEGEND)
        self.knn_curve = self.knn_plot.plot(pen=pg.mkPen(c0, width=2), symbol="o", symbolSize=6,
                                            symbolBrush=c0, symbolPen=None, name="last")
        self.best_curve = self.knn_plot.plot(pen=pg.mkPen(c0, width=1.5, style=Qt.DashLine), name="best")
        lin = theme.series_color(3)
        self.linear_marker = pg.ScatterPlotItem(symbol="star", size=16, brush=lin, pen=None)
        self.knn_plot.addItem(self.linear_marker)
        # named in the column right of the plot (Dashboard.line_labels), with the floors
        self.linear_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(lin, width=1, style=Qt.DotLine))
        self.knn_plot.addItem(self.linear_line, ignoreBounds=True)
        self.linear_line.hide()

        # No legend here: the two axis labels carry their curve's colour, so nothing covers the data.
        self.collapse_plot = self._new_plot(1, 1, "Collapse: std ratio ● · effective rank ▲",
                                            "std ratio")
        # std ratios read 0.5, 1.0, 1.25: an axis as wide as "-0.000" left its label nearer the plot beside it
        # (the evaluation plot) than its own ticks
        self.collapse_plot.getAxis("left").tick_sample = RATIO_TICK_SAMPLE
        self._reset_axis_width(self.collapse_plot.getAxis("left"))
        c1 = pg.mkColor(theme.series_color(1))
        self.std_curve = self.collapse_plot.plot(pen=pg.mkPen(c0, width=2), symbol="o", symbolSize=6,
                                                 symbolBrush=c0, symbolPen=None)
        self.even_line = pg.InfiniteLine(pos=EVEN_STD_RATIO, angle=0, movable=False, label="1.0 = evenly spread",
                                         labelOpts={"position": 0.02, "anchors": [(0, 0), (0, 0)]})
        # under its line: above it the label needs more room than the range's top leaves on a short plot
        self.collapse_plot.addItem(self.even_line, ignoreBounds=True)
        self.collapse_plot.enableAutoRange(axis="y", enable=False)
        self.collapse_plot.setYRange(0, 1.15, padding=0)
        # Effective rank lives on a second y axis (right) in its own ViewBox sharing the x axis.
        self.rank_view = pg.ViewBox()
        self.collapse_plot.showAxis("right")
        self.collapse_plot.setLabel("right", "effective rank")
        self.collapse_plot.scene().addItem(self.rank_view)
        self.collapse_plot.getAxis("right").linkToView(self.rank_view)
        self.rank_view.setXLink(self.collapse_plot)
        self.rank_curve = pg.PlotDataItem(pen=pg.mkPen(c1, width=2, style=Qt.DashLine), symbol="t1",
                                          symbolSize=7, symbolBrush=c1, symbolPen=None)
        self.rank_view.addItem(self.rank_curve)
        self.rank_view.enableAutoRange(axis=pg.ViewBox.YAxis, enable=False)  # from 0, see RANK_HEADROOM
        self.rank_view.setYRange(0, 1, padding=0)
        self.collapse_plot.vb.sigResized.connect(self._sync_rank_view)

        # Row 2 is its own sub-grid so a third plot (GPU memory) can join it on CUDA runs.
        self._row2 = self.plots.addLayout(row=2, col=0, colspan=2)
        self._row2.setContentsMargins(0, 0, 0, 0)
        self._row2.layout.setHorizontalSpacing(COLUMN_GAP)
        self.speed_plot = self._new_plot(0, 0, "Throughput", "images / s", self._row2)
        self.speed_curve = segmented(self.speed_plot.plot(pen=pg.mkPen(c0, width=1.5), **NOISY))
        self.lr_plot = self._new_plot(0, 1, "Learning rate", "lr", self._row2)
        self.lr_curve = segmented(self.lr_plot.plot(pen=pg.mkPen(c0, width=1.5), **NOISY))
        self.gpu_plot = self._new_plot(0, 2, "GPU memory", "MB", self._row2)
        self._row2.removeItem(self.gpu_plot)  # shown only once a step reports gpu_mem_mb
        self.gpu_curve = segmented(self.gpu_plot.plot(pen=pg.mkPen(c0, width=1.5), **NOISY))
        self._gpu_shown = False

        # One step axis for all: the loss plot auto-ranges x and the others copy its range (and any zoom
        # is copied to all). Not setXLink: it lines views up by pixel, so plots of other widths would show
        # other step ranges. Followers never auto-range x, or a few eval points would narrow everyone's range.
        self._followers = (self.terms_plot, self.knn_plot, self.collapse_plot, self.speed_plot, self.lr_plot,
                           self.gpu_plot)
        self._syncing_x = False
        for p in (self.loss_plot, *self._followers):
            p.vb.sigXRangeChanged.connect(self._sync_x)
        for p in self._followers:
            p.enableAutoRange(axis="x", enable=False)
        # the step axis's jumps reach the other plots a group per turn of the event loop (see _sync_x)
        self._x_groups = ((self.terms_plot,), (self.knn_plot, self.collapse_plot),
                          (self.speed_plot, self.lr_plot, self.gpu_plot))
        self._x_behind: list[tuple] = []  # the groups still showing the steps from before the last jump
        self._x_timer = QTimer(self, singleShot=True, interval=X_FOLLOW_MS)
        self._x_timer.timeout.connect(self._follow_x)
        self.rank_view.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
        self._bindings = [(self.data.loss, self.loss_curve), (self.data.ema, self.ema_curve),
                          (self.data.knn, self.knn_curve), (self.data.knn_best, self.best_curve),
                          (self.data.std_ratio, self.std_curve), (self.data.eff_rank, self.rank_curve),
                          (self.data.img_s, self.speed_curve), (self.data.lr, self.lr_curve),
                          (self.data.gpu_mem, self.gpu_curve)]

    def _sync_x(self, view, x_range) -> None:
        """Every plot shows the steps of the one whose range changed: at once after a zoom, a group per turn when
        the loss plot's auto-range grew the step axis.

        A jump of the step axis (see step_ceiling) lays out and paints every plot's bottom axis and its grid
        again, ~4 ms each on a quiet core and three times that on a busy one: in one turn, with the curves and
        the loss plot's own, the longest stall of the GUI while a run streamed. The last group follows
        3 × X_FOLLOW_MS after the loss plot: until then a plot may clip its newest few steps. A range that
        grows by more (a run's first steps, a replay) is copied at once: a plot far behind would clip most
        of its points, fit its y range to the few left and fit it again when it caught up.
        """
        if self._syncing_x:
            return
        shown = self.terms_plot.vb.viewRange()[0]
        if (view is self.loss_plot.vb and view.state["autoRange"][0] is not False and self.isVisible()
                and shown[1] - shown[0] >= X_FOLLOW_SHARE * (x_range[1] - x_range[0])):
            self._x_behind = list(self._x_groups)
            if not self._x_timer.isActive():
                self._x_timer.start()
            return
        self._x_behind = []
        self._x_timer.stop()
        self._set_x([p for p in (self.loss_plot, *self._followers) if p.vb is not view], x_range)

    def _set_x(self, plots, x_range) -> None:
        self._syncing_x = True  # their own range signals are not a zoom to copy to the others
        try:
            for p in plots:
                p.vb.setXRange(*x_range, padding=0)
        finally:
            self._syncing_x = False

    def _follow_x(self) -> None:
        """The next group of plots takes the loss plot's step range (the timer, one group a turn)."""
        if self._x_behind:
            self._set_x(self._x_behind.pop(0), self.loss_plot.vb.viewRange()[0])
        if self._x_behind:
            self._x_timer.start()

    def catch_up_x(self) -> None:
        """Every plot on the loss plot's step range now (a saved image shows them all alike)."""
        self._x_timer.stop()
        while self._x_behind:
            self._follow_x()
        self._x_timer.stop()

    def _sync_terms_right(self) -> None:
        self.terms_right.setGeometry(self.terms_plot.vb.sceneBoundingRect())
        self.terms_right.linkedViewChanged(self.terms_plot.vb, self.terms_right.XAxis)

    def _split_terms(self) -> None:
        """Each term curve on the axis of its scale (workbench.term_units): fractions on the right axis when
        the plot also holds another scale (perplexity, NLL, loss terms), everything on the left otherwise.
        A curve moves when a new scale arrives (an evaluation's perplexity after the steps' accuracy)."""
        d = self.data
        scales = {}
        for key in self._term_curves:
            series = d.terms[key]
            cached = self._term_scale.get(key)
            if cached is None or cached[0] != series.version:
                self._term_scale[key] = cached = (series.version, term_scale(key, series.y[:series.n]))
            scales[key] = cached[1]
        split = FRACTION in scales.values() and len(set(scales.values())) > 1
        for key, curve in self._term_curves.items():
            right = split and scales[key] == FRACTION
            if getattr(curve, "on_right", None) == right:
                continue
            if getattr(curve, "on_right", None) is not None:
                self.terms_legend.removeItem(curve)
                (self.terms_right if curve.on_right else self.terms_plot).removeItem(curve)
            # ViewBox.addItem puts the curve in the scene before inside the box: a curve that clips to its view
            # would look for one meanwhile, find only the GraphicsView and fail. Clipping is set once it is in.
            curve.setClipToView(False)
            (self.terms_right if right else self.terms_plot).addItem(curve)
            if right:  # a PlotItem gives its curves these; the right axis's own ViewBox does not, and a fraction
                # drawn there painted every one of its points (30,000 on a long run) on each tick
                curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)  # the left plot's curves clip too (CurvePlotsMixin._new_plot)
            self.terms_legend.addItem(curve, f"{key} (right)" if right else key)
            curve.on_right = right
            self._legend_key.pop(id(self.terms_legend), None)
        shown = self.terms_plot.getAxis("right").isVisible()
        if split != shown:
            self.terms_plot.setLabel("right", "fraction (0–1)" if split else "")  # shows the axis: first
            self.terms_plot.showAxis("right", split)
            self._reset_axis_width(self.terms_plot.getAxis("right"))
        left = {scales[k] for k in scales if not (split and scales[k] == FRACTION)}
        label = next(iter(left)) if len(left) == 1 else ""
        label = {OTHER: "value", FRACTION: "fraction (0–1)"}.get(label, label) or "value"
        if self.terms_plot.getAxis("left").labelText != label:
            self.terms_plot.setLabel("left", label)

    def _terms_sides(self) -> tuple[list, list]:
        """The term series drawn on the left axis, and the right axis's as (x, share of the view's height)
        (for legend placement: room made on the left axis does not move them; their own axis ranges alone)."""
        left, right = [], []
        r0, r1 = self.terms_right.viewRange()[1]
        for key, curve in self._term_curves.items():
            series = self.data.terms[key]
            if getattr(curve, "on_right", False):
                x, y = series.data()
                right.append((x, (np.asarray(y, float) - r0) / ((r1 - r0) or 1.0)))
            else:
                left.append(series)
        return left, right

    def _sync_rank_view(self) -> None:
        self.rank_view.setGeometry(self.collapse_plot.vb.sceneBoundingRect())
        self.rank_view.linkedViewChanged(self.collapse_plot.vb, self.rank_view.XAxis)

    def _show_gpu(self, show: bool) -> None:
        """GPU memory gets a plot only on CUDA runs, between throughput and learning rate."""
        if show == self._gpu_shown:
            return
        self._gpu_shown = show
        row = self._row2
        row.removeItem(self.lr_plot)
        if show:
            row.addItem(self.gpu_plot, row=0, col=1)
            row.addItem(self.lr_plot, row=0, col=2)
        else:
            row.removeItem(self.gpu_plot)
            row.addItem(self.lr_plot, row=0, col=1)
        self._style_plot_items([self.gpu_plot, self.lr_plot])

    @staticmethod
    def _faint_pen() -> QPen:
        """The step-loss line: the run's colour faded toward the plot's ground, less so on dark ground where it would
        vanish. Opaque, the colour a see-through pen would give on that ground: its segments overlap (segmented)."""
        colour, ground = pg.mkColor(theme.series_color(0)), pg.mkColor(theme.colors()["plot_bg"])
        a = (170 if theme.current() == "dark" else 90) / 255
        faint = pg.mkColor(*(round(a * f + (1 - a) * g) for f, g in zip(colour.getRgb()[:3], ground.getRgb()[:3])))
        return pg.mkPen(faint, width=1)

    def _legend_columns(self) -> None:
        """Many scores: two legend columns, so the legend stays short in a short plot."""
        self.knn_legend.setColumnCount(2 if len(self.knn_legend.items) > 4 else 1)

    def _show_scores_title(self, scores: bool) -> None:
        words = self.modality == "text"  # no labels, no kNN: word-similarity ρ alone
        title = WORDS_TITLE if words else EVAL_TITLE if scores else KNN_TITLE
        if self.knn_plot.titleLabel.text != title:
            self.knn_plot.setTitle(title, color=theme.colors()["plot_fg"])
            self.knn_plot.setLabel("left", "ρ" if words else "% · score ×100" if scores else "top-1 (%)")
        listed = self.knn_legend.getLabel(self.knn_curve) is not None
        if words and listed:
            self.knn_legend.removeItem(self.knn_curve)
            self.knn_legend.removeItem(self.best_curve)
        elif not words and not listed:
            self.knn_legend.addItem(self.knn_curve, "last")
            self.knn_legend.addItem(self.best_curve, "best")

    def _mark_few(self, curve: pg.PlotDataItem, n: int) -> None:
        """Markers on a line-only curve while it has few points, so a first point shows; off again after."""
        few = 0 < n <= FEW_POINTS
        if few != (curve.opts["symbol"] is not None):
            colour = curve.opts["pen"].color() if isinstance(curve.opts["pen"], QPen) else pg.mkPen(curve.opts["pen"]).color()
            if curve is self.loss_curve:  # its faint pen is the run's colour blended with the ground: markers in full
                colour = pg.mkColor(theme.series_color(0))
            colour.setAlpha(255)
            # set together and applied once: each setter re-made the markers of every point, four times per curve
            # on a run's first redraw, the longest turn of the GUI thread while a run starts
            curve.opts["symbol"] = "o" if few else None
            if few:
                curve.opts.update(symbolSize=6, symbolBrush=pg.mkBrush(colour), symbolPen=pg.mkPen(None))
            curve.updateItems(styleUpdate=True)

    def _fit_flat(self, plot: pg.PlotItem, series: list) -> None:
        """A plot whose points (nearly) share one value gets a range around it rather than auto-range's.

        Auto-range stretches any spread over the whole height: a first step or a constant lr read
        −400…400 (×0.001), and a word2vec loss wobbling between 4.148 and 4.152 looked like training.
        """
        view = getattr(plot, "vb", plot)  # a PlotItem or a ViewBox of its own (the terms' right axis)
        key = tuple(s.version for s in series)
        if self._flat_key.get(id(plot)) == key:  # unchanged since the last look: nothing to scan again
            return
        self._flat_key[id(plot)] = key
        ys = [s.y[:s.n] for s in series if s.n]
        if not ys:
            return
        y = np.concatenate(ys)
        y = y[np.isfinite(y)]
        if not len(y):
            return
        lo, hi = float(y.min()), float(y.max())
        least = MIN_RELATIVE_SPAN * max(abs(lo), abs(hi))
        if hi - lo < least or hi == lo:
            mid = (lo + hi) / 2
            half = FLAT_PADDING * abs(mid) if hi - lo <= 1e-9 * abs(hi) else 0.55 * least
            half = half or 1.0
            (shown_lo, shown_hi), held = view.state["targetRange"][1], not view.state["autoRange"][1]
            # held while the values stay inside and it is at most twice as wide as wanted: a throughput
            # wobbling by 1 % moved the centre, and with it the axis's ticks and grid, on every tick
            if not (held and shown_lo <= lo and hi <= shown_hi and shown_hi - shown_lo <= 4 * half):
                view.setYRange(mid - half, mid + half, padding=0)
        elif not view.state["autoRange"][1]:
            view.enableAutoRange(axis="y")

    def _fit_ratio_axes(self) -> None:
        """std ratio from 0 with the 1.0 line in view; effective rank from 0 with headroom: autoscale would
        stretch a change of 0.3 in a rank of 56 over the whole plot."""
        d = self.data
        if d.std_ratio.n:
            top = float(np.nanmax(d.std_ratio.y[:d.std_ratio.n]))
            y_range = [0.0, max(EVEN_STD_RATIO * 1.15, top * 1.1)]
            if self.collapse_plot.vb.state["targetRange"][1] != y_range:
                self.collapse_plot.setYRange(*y_range, padding=0)
        if d.eff_rank.n:
            top = nice_ceiling(float(np.nanmax(d.eff_rank.y[:d.eff_rank.n])) * RANK_HEADROOM)
            if self.rank_view.state["targetRange"][1] != [0.0, top]:
                self.rank_view.setYRange(0.0, top, padding=0)

    def _place_legend(self, legend, plot: pg.PlotItem, series: list, extra: list = (), beside: list = ()) -> None:
        """Move a legend to the corner of its plot that covers the fewest drawn points.

        `series` are this run's Series, `extra` (x, y) arrays that change only with the overlays, `beside`
        (x, share of the height) arrays of a second y axis, which room made on this one does not move;
        nothing is computed again while neither they, the plot's size nor the step axis changed.
        """
        view, box = plot.vb.boundingRect(), legend.boundingRect()
        key = (tuple(s.version for s in series), len(self._overlays), self.data.linear, self.step_extent.step,
               view.width(), view.height(), box.width(), box.height(),
               tuple((len(y), float(y[-1]) if len(y) else None) for _, y in [*extra, *beside]))
        if self._legend_key.get(id(legend)) == key:
            return
        self._legend_key[id(legend)] = key
        arrays = [(x, y) for x, y in [s.data() for s in series] + list(extra) if len(x)]
        beside = [_along_lines(x, y) for x, y in beside if len(x)]
        if not (arrays or beside) or view.width() < 1 or view.height() < 1:
            return
        # the share of the view the legend takes from its corner: its box, its 8-px offset and a 4-px gap
        fw = min((box.width() + LEGEND_MARGIN) / view.width(), 1.0)
        fh = min((box.height() + LEGEND_MARGIN) / view.height(), 1.0)
        def finite(sketches):
            x = np.concatenate([a[0] for a in sketches]) if sketches else np.zeros(0)
            y = np.concatenate([a[1] for a in sketches]) if sketches else np.zeros(0)
            ok = np.isfinite(x) & np.isfinite(y)
            return x[ok], y[ok]

        x, y = finite([_along_lines(*a) for a in arrays])
        bx, by = finite(beside)
        if not len(x) and not len(bx):
            return
        room = self._legend_room.get(id(plot))
        if room is None:  # room made above or below the data for the legend (see below)
            room = self._legend_room[id(plot)] = ValueExtent()
            plot.addItem(room)
        lo, hi = (float(y.min()), float(y.max())) if len(y) else (0.0, 1.0)
        stepping = isinstance(plot.vb, SteppedViewBox) and plot.vb.state["autoRange"][1] is not False

        def shown(a: float, b: float) -> tuple[float, float]:  # the y range the view will take for a…b
            return plot.vb.stepped(a, b) if stepping else (a, b)

        sx, sy = self._step_span(), shown(min(lo, *room.values, lo), max(hi, *room.values, hi))
        x0 = min(sx[0], *(float(a.min()) for a in (x, bx) if len(a)))
        x1 = max(sx[1], *(float(a.max()) for a in (x, bx) if len(a)))
        pad = plot.vb.suggestPadding(1)  # the padding auto-range adds around the data
        fx = ((x - x0) / ((x1 - x0) or 1.0) + pad) / (1 + 2 * pad)
        fy = ((y - sy[0]) / ((sy[1] - sy[0]) or 1.0) + pad) / (1 + 2 * pad)  # 0 = bottom
        fbx = ((bx - x0) / ((x1 - x0) or 1.0) + pad) / (1 + 2 * pad)
        current = self._legend_corner.get(id(legend))
        scores = []
        for order, (right, bottom) in enumerate(((1, 0), (1, 1), (0, 0), (0, 1))):
            inside = (fx >= 1 - fw) if right else (fx <= fw)
            inside &= (fy <= fh) if bottom else (fy >= 1 - fh)
            across = (fbx >= 1 - fw) if right else (fbx <= fw)
            across &= (by <= fh) if bottom else (by >= 1 - fh)
            scores.append((int(inside.sum() + across.sum()), (right, bottom) != current, order, (right, bottom)))
        covered, corner = min(scores)[0], min(scores)[3]
        fits = fh < LEGEND_MAX_SHARE
        # a legend over most of a short plot hides the floors and the curves to come, whatever it covers now
        self._legend_under_plot(legend, plot, not fits)
        if not fits and room.values:
            room.set_values(())  # room made for a box that has gone under the plot (a smaller window) is no use
        under = y[(fx >= 1 - fw) if corner[0] else (fx <= fw)]
        if covered and fits and len(under):
            # Every corner holds points: widen the y range so the legend's corner is empty, never covering curves.
            reach = fh
            q = (1 - reach) * (1 + 2 * pad) - pad  # the highest (lowest) share of the range data may reach
            if corner[1]:
                q = reach * (1 + 2 * pad) - pad
            bottom, top = shown(lo, hi)
            for _ in range(3):  # the view's stepped range lies outside the room made: made again for that range
                if corner[1]:
                    values = [(float(under.min()) - q * top) / (1 - q), hi]
                else:
                    values = [lo, bottom + (float(under.max()) - bottom) / q]
                bottom, top = shown(min(lo, values[0]), max(hi, values[1]))
            room.set_values(values)
        if corner != current:
            self._legend_corner[id(legend)] = corner
            legend.anchor(itemPos=corner, parentPos=corner, offset=(-8 if corner[0] else 8, -8 if corner[1] else 8))

    def _legend_under_plot(self, legend, plot: pg.PlotItem, under: bool) -> None:
        """A legend too tall to sit in an empty corner (a short plot on a 720-px screen) becomes a few lines of
        text under the plot, each name in its curve's colour, instead of a box over the curves; a box again
        when it fits. Text in the step axis's label, so the plot's own grid lays it out."""
        html = _legend_html(legend, self._text_width(plot)) if under else ""
        legend.setVisible(not under)
        self._legend_text[id(plot)] = html
        self._set_step_label(plot)  # also when only the width changed: notes are wrapped to it

    @staticmethod
    def _text_width(plot: pg.PlotItem) -> float:
        """How wide text under a plot may be: its view's width, and the evaluation plot's column of line names
        beside it (the text is centred under the view; the empty corner under the y axis takes the other half)."""
        margin = getattr(plot, "side_column", None)
        extra = 0.0 if margin is None else min(margin.boundingRect().width(), 2 * plot.getAxis("left").width())
        return plot.vb.boundingRect().width() + extra

    def _set_step_label(self, plot: pg.PlotItem) -> None:
        """'step', the plot's notes (dashboard_context) and its legend when it sits under the plot."""
        notes = _notes_html(self._step_notes.get(id(plot), []), self._text_width(plot))
        text = "step" + notes + self._legend_text.get(id(plot), "")
        if plot.getAxis("bottom").labelText != text:
            plot.setLabel("bottom", text)

    def _step_span(self) -> tuple[float, float]:
        """The step range every plot shows: this run's steps and the overlays'."""
        spans = [(s.x[0], s.x[s.n - 1]) for s in [self.data.loss] if s.n]
        spans += [(ov["loss_xy"][0][0], ov["loss_xy"][0][-1]) for ov in self._overlays if len(ov["loss_xy"][0])]
        if spans and self.step_extent.step is not None:  # the axis reaches on to the step ceiling
            spans.append((spans[0][0], self.step_extent.step))
        if not spans:
            return 0.0, 1.0
        return float(min(a for a, _ in spans)), float(max(b for _, b in spans))

    def _style_plot_items(self, items: list) -> None:
        """Plots in the nested row 2, which theme.style_plot does not reach, styled the same way."""
        c = theme.colors()
        for item in items:
            for name in ("left", "bottom", "right", "top"):
                axis = item.getAxis(name)
                axis.setPen(pg.mkPen(c["plot_fg"]))
                axis.setTextPen(pg.mkPen(c["plot_fg"]))
            item.titleLabel.setAttr("color", c["plot_fg"])
            item.titleLabel.setText(item.titleLabel.text)
