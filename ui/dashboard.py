"""Live training curves of one run (loss, method terms, evaluation scores, throughput, lr, collapse, GPU memory)."""
from __future__ import annotations

import html
import math
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (makes pg.exporters.ImageExporter available)
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QFontDatabase, QFontMetricsF, QPainter, QPen
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (QApplication, QFileDialog, QGraphicsItem, QHBoxLayout, QLabel, QPlainTextEdit,
                               QProgressBar, QPushButton, QSizePolicy, QSplitter, QVBoxLayout, QWidget)

from workbench.curves import SCORE_PART, RunCurves, format_duration, score_parent, summarize_event
from workbench.events import read_events
from workbench.runs import worker_alive

from . import theme

REDRAW_MS = 100      # at most 10 Hz: curves are redrawn from a timer, never once per event
MAX_REDRAW_MS = 1000
BUSY_SHARE = 0.2     # redraws (and their paints) may take at most this share of the GUI thread
LOG_LINES = 2000
EVEN_STD_RATIO = 1.0  # a reference, not a threshold: features spread evenly over all directions
# Overlay colours skip index 0 (this run), 3 (linear probe marker) and 6 (yellow, faint on white).
OVERLAY_COLOURS = (1, 2, 4, 5, 7, 8, 9, 10, 11)
# Evaluation scores: colours the first overlays (1, 2) do not use; dashed with diamonds, unlike overlays.
SCORE_COLOURS = (4, 9, 2, 7, 5, 8, 10)
KNN_TITLE = "kNN top-1 (%)"
EVAL_TITLE = "Evaluation: kNN top-1 (%) · scores ×100"
TERMS_EMPTY = "no extra terms for this method"
LEGEND = {"labelTextSize": "8pt", "verSpacing": -6}
# Step-by-step curves are drawn from at most one min/max pair per pixel column (pyqtgraph's default is
# five): the same picture, with a fifth of the antialiased segments to paint.
DENSE = {"autoDownsampleFactor": 1.0}
TICK_TEXT_SAMPLE = "-0.000"  # y axes start this wide, so the usual tick labels never re-lay out the grid


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


class _StepExtent(pg.GraphicsObject):
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


class _Plots(pg.GraphicsLayoutWidget):
    """The grid of plots; times its own paints so the redraw timer can slow down when they get costly."""

    paint_ms = 0.0

    def paintEvent(self, event) -> None:
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_ms = 1000 * (time.perf_counter() - t0)


class Dashboard(QWidget):
    """Header strip, a grid of live plots and a log pane for one run, plus overlays of other runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.data = RunCurves()
        self.run_name = ""
        self._log: deque = deque(maxlen=LOG_LINES)  # (t, level, text), kept to re-colour on theme change
        self._overlays: list[dict] = []
        self._drawn: dict[int, int] = {}           # id(series) -> version last drawn
        self._term_curves: dict[str, pg.PlotDataItem] = {}
        self._score_curves: dict[str, pg.PlotDataItem] = {}
        self._legend_corner: dict[int, tuple[int, int]] = {}  # id(legend) -> (right, bottom)
        self._legend_key: dict[int, tuple] = {}                # id(legend) -> what it was last placed for
        self._dirty = False
        self._redraw_ms = 0.0                                  # cost of the last redraw, before its paint
        self._linear_drawn: tuple[float, float] | None = None  # the probe result on the plot
        self._timer = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._timer.timeout.connect(self._on_timer)
        self._build_header()
        self._build_plots()
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.log_view.setPlaceholderText("Run messages (start, checkpoints, warnings, finish) appear here.")
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.plots)
        split.addWidget(self.log_view)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 1)
        split.setSizes([640, 120])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.header)
        layout.addWidget(split, 1)
        self.apply_theme()
        self._update_header()

    # --- construction ------------------------------------------------------------------------
    def _build_header(self) -> None:
        """Two rows: what the run is (and its state), then where it is (progress, speed, ETA)."""
        self.header = QWidget()
        self.name_label = QLabel()
        font = self.name_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name_label.setFont(font)
        self.name_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.info_label = QLabel()
        # Long device names may be cut rather than widen the window; the tooltip keeps the full text.
        self.info_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.position_label = QLabel()
        self.progress_bar = QProgressBar(maximum=1000, textVisible=False)
        self.progress_bar.setMaximumWidth(320)
        self.progress_bar.setMinimumWidth(120)
        self.progress_bar.setFixedHeight(12)
        self.speed_label = QLabel()
        self.eta_label = QLabel()
        self.state_label = QLabel()
        self.state_label.setAlignment(Qt.AlignCenter)
        self.state_label.setMinimumWidth(80)
        self.save_button = QPushButton("Save plots…")
        self.save_button.setToolTip("Save all plots as one PNG or SVG image")
        self.save_button.clicked.connect(self._save_dialog)
        top = QHBoxLayout()
        top.setSpacing(14)
        top.addWidget(self.name_label)
        top.addWidget(self.info_label, 1)
        top.addWidget(self.state_label)
        top.addWidget(self.save_button)
        bottom = QHBoxLayout()
        bottom.setSpacing(14)
        for w in (self.position_label, self.progress_bar, self.speed_label, self.eta_label):
            bottom.addWidget(w)
        bottom.addStretch(1)
        rows = QVBoxLayout(self.header)
        rows.setContentsMargins(4, 2, 4, 2)
        rows.setSpacing(4)
        rows.addLayout(top)
        rows.addLayout(bottom)

    def _new_plot(self, row: int, col: int, title: str, ylabel: str, layout=None) -> pg.PlotItem:
        p = (layout or self.plots).addPlot(row=row, col=col, title=title)
        p.setLabel("bottom", "step")
        p.setLabel("left", ylabel)
        p.showGrid(x=True, y=True, alpha=0.15)
        p.setClipToView(True)
        p.setDownsampling(auto=True, mode="peak")
        p.setMenuEnabled(False)
        if ylabel != "lr":
            p.getAxis("left").enableAutoSIPrefix(False)  # 0.8 should read 0.8, not 800 (x0.001)
        for name in ("left", "right"):
            self._reset_axis_width(p.getAxis(name))
        for name in ("left", "bottom", "right", "top"):
            # An axis paints its grid too: ~30 semi-transparent lines across the plot, which cost
            # more than the curves. Cached as a pixmap, it repaints only when its range moves.
            p.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        return p

    def _reset_axis_width(self, axis: pg.AxisItem) -> None:
        """Start a y axis wide enough for usual labels and let it only grow: a width that follows the
        labels re-lays out and repaints the whole grid whenever a label gains or loses a digit."""
        font = axis.style["tickFont"] or QApplication.font()
        axis.textWidth = math.ceil(QFontMetricsF(font).horizontalAdvance(TICK_TEXT_SAMPLE)) + 2
        axis.setStyle(autoReduceTextSpace=False)  # also re-applies the width

    def _build_plots(self) -> None:
        self.plots = _Plots()
        self.plots.setMinimumHeight(360)
        c0 = pg.mkColor(theme.series_color(0))
        self.loss_plot = self._new_plot(0, 0, "Loss", "loss")
        self.loss_legend = self.loss_plot.addLegend(offset=(-8, 8), **LEGEND)
        self.loss_curve = self.loss_plot.plot(pen=self._faint_pen(), name="step loss", **DENSE)
        self.ema_curve = self.loss_plot.plot(pen=pg.mkPen(c0, width=2.5), name="EMA", **DENSE)
        self.step_extent = _StepExtent()  # the shared step axis grows in jumps (see step_ceiling)
        self.loss_plot.addItem(self.step_extent)

        self.terms_plot = self._new_plot(0, 1, "Method terms", "value")
        self.terms_legend = self.terms_plot.addLegend(offset=(-8, 8), **LEGEND)
        self.terms_text = pg.TextItem(TERMS_EMPTY, anchor=(0.5, 0.5))
        self.terms_plot.addItem(self.terms_text, ignoreBounds=True)
        self.terms_text.hide()

        self.knn_plot = self._new_plot(1, 0, KNN_TITLE, "top-1 (%)")
        self.knn_legend = self.knn_plot.addLegend(offset=(-8, -8), **LEGEND)
        self.knn_curve = self.knn_plot.plot(pen=pg.mkPen(c0, width=2), symbol="o", symbolSize=6,
                                            symbolBrush=c0, symbolPen=None, name="last")
        self.best_curve = self.knn_plot.plot(pen=pg.mkPen(c0, width=1.5, style=Qt.DashLine), name="best")
        lin = theme.series_color(3)
        self.linear_marker = pg.ScatterPlotItem(symbol="star", size=16, brush=lin, pen=None)
        self.knn_plot.addItem(self.linear_marker)  # listed in the legend once a probe result arrives
        self.linear_line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(lin, width=1, style=Qt.DotLine),
                                           label="", labelOpts={"position": 0.1, "color": lin,
                                                                "anchors": [(0, 1), (0, 1)]})
        self.knn_plot.addItem(self.linear_line, ignoreBounds=True)
        self.linear_line.hide()

        # No legend here: the two axis labels carry their curve's colour, so nothing covers the data.
        self.collapse_plot = self._new_plot(1, 1, "Collapse: std ratio (● left) · effective rank (▲ right)",
                                            "std ratio")
        c1 = pg.mkColor(theme.series_color(1))
        self.std_curve = self.collapse_plot.plot(pen=pg.mkPen(c0, width=2), symbol="o", symbolSize=6,
                                                 symbolBrush=c0, symbolPen=None)
        self.even_line = pg.InfiniteLine(pos=EVEN_STD_RATIO, angle=0, movable=False, label="1.0 = evenly spread",
                                         labelOpts={"position": 0.05, "anchors": [(0, 1), (0, 1)]})
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
        self.collapse_plot.vb.sigResized.connect(self._sync_rank_view)

        # Row 2 is its own sub-grid so a third plot (GPU memory) can join it on CUDA runs.
        self._row2 = self.plots.addLayout(row=2, col=0, colspan=2)
        self._row2.setContentsMargins(0, 0, 0, 0)
        self.speed_plot = self._new_plot(0, 0, "Throughput", "images / s", self._row2)
        self.speed_curve = self.speed_plot.plot(pen=pg.mkPen(c0, width=1.5), **DENSE)
        self.lr_plot = self._new_plot(0, 1, "Learning rate", "lr", self._row2)
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen(c0, width=1.5), **DENSE)
        self.gpu_plot = self._new_plot(0, 2, "GPU memory", "MB", self._row2)
        self._row2.removeItem(self.gpu_plot)  # shown only once a step reports gpu_mem_mb
        self.gpu_curve = self.gpu_plot.plot(pen=pg.mkPen(c0, width=1.5), **DENSE)
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
        self.rank_view.enableAutoRange(axis=pg.ViewBox.XAxis, enable=False)
        self._bindings = [(self.data.loss, self.loss_curve), (self.data.ema, self.ema_curve),
                          (self.data.knn, self.knn_curve), (self.data.knn_best, self.best_curve),
                          (self.data.std_ratio, self.std_curve), (self.data.eff_rank, self.rank_curve),
                          (self.data.img_s, self.speed_curve), (self.data.lr, self.lr_curve),
                          (self.data.gpu_mem, self.gpu_curve)]

    def _sync_x(self, view, x_range) -> None:
        if self._syncing_x:
            return
        self._syncing_x = True
        try:
            for p in (self.loss_plot, *self._followers):
                if p.vb is not view:
                    p.vb.setXRange(*x_range, padding=0)
        finally:
            self._syncing_x = False

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

    # --- public API --------------------------------------------------------------------------
    def clear(self, run_dir: Path | str | None = None) -> None:
        """Forget the run (and keep overlays); `run_dir` names the run that events will follow."""
        self.data.reset()
        self.run_name = Path(run_dir).name if run_dir else ""
        for curves, plot, legend in ((self._term_curves, self.terms_plot, self.terms_legend),
                                     (self._score_curves, self.knn_plot, self.knn_legend)):
            for curve in curves.values():
                legend.removeItem(curve)
                plot.removeItem(curve)
            curves.clear()
        self._show_scores_title(False)
        self._legend_columns()
        for _, curve in self._bindings:
            curve.clear()  # now, not at the next redraw: auto-range must not fit the last run's data
        self._drawn.clear()
        self._legend_key.clear()
        self._log.clear()
        self.log_view.clear()
        self._show_gpu(False)
        self.step_extent.set_step(None)
        for p in (self.loss_plot, *self._followers):
            # A new run starts with compact axes again, and no ticks left over from the last one.
            top = EVEN_STD_RATIO * 1.15 if p is self.collapse_plot else 1.0
            p.vb.setRange(xRange=(0, 1), yRange=(0, top), padding=0, disableAutoRange=False)
            for name in ("left", "right"):
                self._reset_axis_width(p.getAxis(name))
        self.loss_plot.enableAutoRange()
        for p in self._followers:
            if p is not self.collapse_plot:  # its y range is set in redraw, to keep the 1.0 line in view
                p.enableAutoRange(axis="y")
        self.rank_view.enableAutoRange(axis=pg.ViewBox.YAxis)
        self._schedule()

    def add_event(self, ev: dict) -> None:
        """Take one event of any type; plots catch up on the next redraw tick."""
        if ev.get("type") == "step":
            self.data.add_step(ev)
        else:
            self.data.add_other(ev)
            line = summarize_event(ev)
            if line is not None:
                self._append_log(ev.get("t"), *line)
        if not self._dirty:
            self._schedule()

    def load_run(self, run_dir: Path | str) -> None:
        """Replay a run's events.jsonl in one go: numpy columns, one redraw."""
        run_dir = Path(run_dir)
        self.clear(run_dir)
        chunk: list[dict] = []
        lines = []
        for ev in read_events(run_dir):
            kind = ev["type"]
            if kind == "step":
                chunk.append(ev)
                continue
            if kind == "started" and ev.get("resumed"):
                self.data.add_steps(chunk)  # truncation must see the steps that came before
                chunk = []
            self.data.add_other(ev)
            line = summarize_event(ev)
            if line is not None:
                lines.append((ev.get("t"), *line))
        self.data.add_steps(chunk)
        # A step after the last lifecycle event means the run went on; lifecycle wins otherwise.
        if self.data.state in ("running", "paused") and not worker_alive(run_dir):
            self.data.state = "interrupted"
        self._log.extend(lines)
        self._render_log()
        self.redraw()

    def add_overlay(self, run_dir: Path | str, label: str | None = None) -> str:
        """Overlay another run's loss EMA and kNN curves, named `label` (default: its folder name)."""
        run_dir = Path(run_dir)
        label = label or run_dir.name
        other = RunCurves()
        chunk: list[dict] = []
        for ev in read_events(run_dir):
            if ev["type"] == "step":
                chunk.append(ev)
            elif ev["type"] in ("started", "eval"):
                if ev["type"] == "started" and ev.get("resumed"):
                    other.add_steps(chunk)
                    chunk = []
                other.add_other(ev)
        other.add_steps(chunk)
        color = pg.mkColor(theme.series_color(OVERLAY_COLOURS[len(self._overlays) % len(OVERLAY_COLOURS)]))
        loss = self.loss_plot.plot(*other.ema.data(), pen=pg.mkPen(color, width=2), name=label, **DENSE)
        knn = self.knn_plot.plot(*other.knn.data(), pen=pg.mkPen(color, width=2), symbol="s", symbolSize=6,
                                 symbolBrush=color, symbolPen=None, name=label)
        # The loss legend names every run; listing them again here would cover the kNN points.
        self.knn_legend.removeItem(knn)
        self._overlays.append({"label": label, "path": run_dir, "loss": loss, "knn": knn,
                               "loss_xy": other.ema.data(), "knn_xy": other.knn.data()})
        self._schedule()
        return label

    def clear_overlays(self) -> None:
        for ov in self._overlays:
            self.loss_legend.removeItem(ov["loss"])
            self.loss_plot.removeItem(ov["loss"])
            self.knn_plot.removeItem(ov["knn"])
        self._overlays.clear()
        self._schedule()

    def save_plots(self, path: Path | str) -> Path:
        """Write every plot as one image: SVG when the name ends in .svg, PNG otherwise; returns the path."""
        path = Path(path)
        if path.suffix.lower() == ".svg":
            self._save_svg(path)
            return path
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        with self._uncached_axes():
            pg.exporters.ImageExporter(self.plots.scene()).export(str(path))
        if not path.is_file():
            raise OSError(f"could not write {path}")
        return path

    def _save_svg(self, path: Path) -> None:
        # pyqtgraph 0.14's SVGExporter fails on the closed paths ("… Z") that current Qt writes
        # (pyqtgraph issue #3495), so the scene is rendered into Qt's own SVG generator instead.
        source = self.plots.viewRect()  # what is on screen (the scene itself extends far beyond)
        target = QRectF(0, 0, source.width(), source.height())
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(target.size().toSize())
        # Axes replay QPictures recorded at the screen's DPI: any other resolution scales them out of
        # line with the curves.
        generator.setResolution(self.plots.logicalDpiX())
        generator.setViewBox(target)
        generator.setTitle(self.run_name or "training curves")
        painter = QPainter(generator)
        try:
            with self._uncached_axes():  # cached axes would land in the file as bitmaps
                self.plots.scene().render(painter, target, source)
        finally:
            painter.end()
        if not path.is_file():
            raise OSError(f"could not write {path}")

    @contextmanager
    def _uncached_axes(self):
        """Axes drawn afresh for an export (vector text and lines, at the export's resolution)."""
        axes = [p.getAxis(name) for p in (self.loss_plot, *self._followers)
                for name in ("left", "bottom", "right", "top")]
        for axis in axes:
            axis.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        try:
            yield
        finally:
            for axis in axes:
                axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    @staticmethod
    def _faint_pen() -> QPen:
        """The step-loss line: the run's colour, see-through, less so on dark ground where it would vanish."""
        faint = pg.mkColor(theme.series_color(0))
        faint.setAlpha(170 if theme.current() == "dark" else 90)
        return pg.mkPen(faint, width=1)

    def apply_theme(self) -> None:
        c = theme.colors()
        theme.style_plot(self.plots)
        self._style_plot_items([self.speed_plot, self.lr_plot, self.gpu_plot])
        self.collapse_plot.setLabel("left", "std ratio ●", color=theme.series_color(0))
        self.collapse_plot.setLabel("right", "effective rank ▲", color=theme.series_color(1))
        bg = pg.mkColor(c["plot_bg"])
        bg.setAlpha(210)
        for legend in (self.loss_legend, self.terms_legend, self.knn_legend):
            legend.setLabelTextColor(c["plot_fg"])
            for _, label in legend.items:
                label.setText(label.text)  # LabelItem.setAttr alone does not re-render existing labels
            legend.setBrush(bg)
            legend.setPen(pg.mkPen(c["grid"]))
        self.terms_text.setColor(c["muted"])
        self.loss_curve.setPen(self._faint_pen())
        self.even_line.setPen(pg.mkPen(c["muted"], width=1, style=Qt.DashLine))
        self.even_line.label.setColor(c["muted"])
        self.state_label.setStyleSheet(self._state_style())
        for label in (self.info_label, self.position_label, self.speed_label, self.eta_label):
            label.setStyleSheet(f"color: {c['muted']};")
        self._render_log()

    # --- drawing -----------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._schedule()  # legends are placed by pixel size, known only once shown; hidden, nothing was drawn

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._schedule()

    def _schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            # Never back to back: the gap before the next redraw grows with what the last one cost,
            # its paint included (tens of ms on long runs), so redraws keep to BUSY_SHARE of the thread.
            cost = self._redraw_ms + self.plots.paint_ms
            self._timer.setInterval(int(min(MAX_REDRAW_MS, max(REDRAW_MS, cost / BUSY_SHARE))))
            self._timer.start()

    def _on_timer(self) -> None:
        if self.isVisible():  # on another tab: stay dirty; showing the dashboard redraws it
            self.redraw()

    def redraw(self) -> None:
        """Push changed buffers into their curves and refresh the header (the timer calls this)."""
        t0 = time.perf_counter()
        self._dirty = False
        d = self.data
        for key in [k for k in d.terms if k not in self._term_curves]:  # in order of arrival: stable colours
            color = theme.series_color(len(self._term_curves))
            self._term_curves[key] = self.terms_plot.plot(pen=pg.mkPen(color, width=2), name=key, **DENSE)
        for key in [k for k in d.scores if k not in self._score_curves]:
            self._add_score_curve(key)
        bindings = (self._bindings + [(d.terms[k], c) for k, c in self._term_curves.items()]
                    + [(d.scores[k], c) for k, c in self._score_curves.items()])
        for series, curve in bindings:
            if self._drawn.get(id(series)) != series.version:
                self._drawn[id(series)] = series.version
                curve.setData(*series.data())
        self._show_gpu(d.gpu_mem.n > 0)
        self._show_scores_title(bool(d.scores))
        if d.loss.n:
            self.step_extent.set_step(step_ceiling(d.loss.x[d.loss.n - 1], self.data.info.get("total_steps")))
        no_terms = d.loss.n > 0 and not d.terms
        if no_terms and not self.terms_text.isVisible():
            (x0, x1), (y0, y1) = self.terms_plot.vb.viewRange()
            self.terms_text.setPos((x0 + x1) / 2, (y0 + y1) / 2)
        self.terms_text.setVisible(no_terms)
        self._draw_linear()
        self._place_legend(self.loss_legend, self.loss_plot,
                           [d.loss, d.ema], [ov["loss_xy"] for ov in self._overlays])
        self._place_legend(self.terms_legend, self.terms_plot, list(d.terms.values()))
        knn_extra = [ov["knn_xy"] for ov in self._overlays]
        if d.linear is not None:  # the probe's line runs across the plot: count it like a curve
            span = np.linspace(*self._step_span(), 24)
            knn_extra.append((span, np.full(len(span), 100 * d.linear[1])))
        self._place_legend(self.knn_legend, self.knn_plot, [d.knn, d.knn_best, *d.scores.values()], knn_extra)
        if d.std_ratio.n:
            top = float(np.nanmax(d.std_ratio.y[:d.std_ratio.n]))
            y_range = [0.0, max(EVEN_STD_RATIO * 1.15, top * 1.1)]
            if self.collapse_plot.vb.state["targetRange"][1] != y_range:
                self.collapse_plot.setYRange(*y_range, padding=0)
        # Settle auto-ranges (and the shared step axis) now rather than in the paint, where a range
        # change would ask for a second paint of the whole grid.
        self.plots.scene().prepareForPaint()
        self._update_header()
        self._redraw_ms = 1000 * (time.perf_counter() - t0)

    def _draw_linear(self) -> None:
        """The linear probe: a star at its step and a dotted line across, drawn when it changes."""
        linear = self.data.linear
        if linear == self._linear_drawn:
            return
        self._linear_drawn = linear
        if linear is not None:
            step, v = linear
            self.linear_marker.setData([step], [100 * v])
            self.linear_line.show()  # first: a hidden line's label ignores new text
            self.linear_line.label.setFormat(f"linear probe {100 * v:.1f}%")
            self.linear_line.setPos(100 * v)
            if self.knn_legend.getLabel(self.linear_marker) is None:
                self.knn_legend.addItem(self.linear_marker, "linear probe")
        else:
            self.linear_marker.setData([], [])
            self.linear_line.hide()
            self.knn_legend.removeItem(self.linear_marker)
        self._legend_columns()

    def _add_score_curve(self, key: str) -> None:
        """A curve for one evaluation score (×100) in the evaluation plot, named in its legend.

        A score that refines another ("analogy top-1 · colour" of "analogy top-1") is listed as
        "· colour", which keeps the legend narrow enough not to cover the points.
        """
        i = len(self._score_curves)
        color = pg.mkColor(theme.series_color(SCORE_COLOURS[i % len(SCORE_COLOURS)]))
        parent = score_parent(key, self.data.scores)
        name = "·" + key[len(parent) + len(SCORE_PART) - 1:] if parent else key
        self._score_curves[key] = self.knn_plot.plot(pen=pg.mkPen(color, width=1.5, style=Qt.DashLine),
                                                     symbol="d", symbolSize=7, symbolBrush=color,
                                                     symbolPen=None, name=name)
        self._legend_columns()

    def _legend_columns(self) -> None:
        """Many scores: two legend columns, so the legend stays short in a short plot."""
        self.knn_legend.setColumnCount(2 if len(self.knn_legend.items) > 4 else 1)

    def _show_scores_title(self, scores: bool) -> None:
        title = EVAL_TITLE if scores else KNN_TITLE
        if self.knn_plot.titleLabel.text != title:
            self.knn_plot.setTitle(title, color=theme.colors()["plot_fg"])
            self.knn_plot.setLabel("left", "% · score ×100" if scores else "top-1 (%)")

    def _place_legend(self, legend, plot: pg.PlotItem, series: list, extra: list = ()) -> None:
        """Move a legend to the corner of its plot that covers the fewest drawn points.

        `series` are this run's Series, `extra` (x, y) arrays that change only with the overlays;
        nothing is computed again while neither they, the plot's size nor the step axis changed.
        """
        view, box = plot.vb.boundingRect(), legend.boundingRect()
        key = (tuple(s.version for s in series), len(self._overlays), self.data.linear, self.step_extent.step,
               view.width(), view.height(), box.width(), box.height())
        if self._legend_key.get(id(legend)) == key:
            return
        self._legend_key[id(legend)] = key
        arrays = [(x, y) for x, y in [s.data() for s in series] + list(extra) if len(x)]
        if not arrays or view.width() < 1 or view.height() < 1:
            return
        fw, fh = min(box.width() / view.width(), 1.0), min(box.height() / view.height(), 1.0)
        stride = lambda a: a[::max(1, len(a) // 2000)]  # a sketch of the curve is enough to count
        x = np.concatenate([stride(a[0]) for a in arrays])
        y = np.concatenate([stride(a[1]) for a in arrays])
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        if not len(x):
            return
        sx, sy = self._step_span(), (float(y.min()), float(y.max()))
        x0, x1 = min(sx[0], float(x.min())), max(sx[1], float(x.max()))
        pad = 0.05  # roughly the padding auto-range adds around the data
        fx = ((x - x0) / ((x1 - x0) or 1.0) + pad) / (1 + 2 * pad)
        fy = ((y - sy[0]) / ((sy[1] - sy[0]) or 1.0) + pad) / (1 + 2 * pad)  # 0 = bottom
        current = self._legend_corner.get(id(legend))
        scores = []
        for order, (right, bottom) in enumerate(((1, 0), (1, 1), (0, 0), (0, 1))):
            inside = (fx >= 1 - fw) if right else (fx <= fw)
            inside &= (fy <= fh) if bottom else (fy >= 1 - fh)
            scores.append((int(inside.sum()), (right, bottom) != current, order, (right, bottom)))
        corner = min(scores)[3]
        if corner != current:
            self._legend_corner[id(legend)] = corner
            legend.anchor(itemPos=corner, parentPos=corner, offset=(-8 if corner[0] else 8, -8 if corner[1] else 8))

    def _step_span(self) -> tuple[float, float]:
        """The step range every plot shows: this run's steps and the overlays'."""
        spans = [(s.x[0], s.x[s.n - 1]) for s in [self.data.loss] if s.n]
        spans += [(ov["loss_xy"][0][0], ov["loss_xy"][0][-1]) for ov in self._overlays if len(ov["loss_xy"][0])]
        if spans and self.step_extent.step is not None:  # the axis reaches on to the step ceiling
            spans.append((spans[0][0], self.step_extent.step))
        if not spans:
            return 0.0, 1.0
        return float(min(a for a, _ in spans)), float(max(b for _, b in spans))

    def _update_header(self) -> None:
        d, info = self.data, self.data.info
        name = self.run_name or (f"{info.get('method', '')} · {info.get('dataset', '')}" if info else "No run")
        self.name_label.setText(name)
        bits = [info.get("title") or info.get("method"), info.get("dataset"), info.get("device"),
                info.get("data_path") and f"data: {info['data_path']}"]  # memory or stream (the data path taken)
        self.info_label.setText("  ·  ".join(str(b) for b in bits if b))
        self.info_label.setToolTip(self.info_label.text())
        epochs, total = info.get("epochs"), info.get("total_steps")
        if info:
            epoch = min(d.epoch + 1, epochs) if epochs else d.epoch + 1
            if d.state in ("finished",) and epochs:
                epoch = epochs
            self.position_label.setText(f"epoch {epoch} / {epochs or '?'} · step {d.step} / {total or '?'}")
        else:
            self.position_label.setText("")
        progress = d.progress if d.progress is not None else (d.step / total if total else 0.0)
        if d.state == "finished":
            progress = 1.0
        self.progress_bar.setValue(int(round(1000 * min(max(progress, 0.0), 1.0))))
        self.speed_label.setText(f"{d.img_s_now:,.0f} img/s" if d.img_s_now is not None else "")
        eta = d.eta_seconds()
        self.eta_label.setText(f"ETA {format_duration(eta)}" if eta is not None else "")
        self.state_label.setText(d.state)
        style = self._state_style()
        if self.state_label.styleSheet() != style:  # re-polishing costs a millisecond: only on change
            self.state_label.setStyleSheet(style)

    def _state_style(self) -> str:
        c = theme.colors()
        bg, fg = {"failed": (c["error"], c["error_text"]), "interrupted": (c["warning"], c["warning_text"]),
                  "paused": (c["warning"], c["warning_text"]),
                  "running": (c["highlight"], "#FFFFFF")}.get(self.data.state, (c["button"], c["text"]))
        return f"background: {bg}; color: {fg}; border-radius: 4px; padding: 1px 8px;"

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

    # --- log pane ----------------------------------------------------------------------------
    def _line_html(self, t, level: str, text: str) -> str:
        c = theme.colors()
        stamp = time.strftime("%H:%M:%S", time.localtime(t)) if isinstance(t, (int, float)) else "--:--:--"
        body = html.escape(text)
        if level == "warning":
            body = f'<span style="color:{c["warning_text"]}; background:{c["warning"]};">warning: {body}</span>'
        elif level == "error":
            body = f'<span style="color:{c["error_text"]}; background:{c["error"]};">{body}</span>'
        return f'<span style="color:{c["muted"]};">{stamp}</span>&nbsp;&nbsp;{body}'

    def _append_log(self, t, level: str, text: str) -> None:
        self._log.append((t, level, text))
        self.log_view.appendHtml(self._line_html(t, level, text))

    def _render_log(self) -> None:
        self.log_view.clear()
        if self._log:
            self.log_view.appendHtml("<br>".join(self._line_html(*entry) for entry in self._log))
        self.log_view.verticalScrollBar().setValue(self.log_view.verticalScrollBar().maximum())

    def _save_dialog(self) -> None:
        default = f"{self.run_name or 'curves'}.png"
        path, chosen = QFileDialog.getSaveFileName(self, "Save plots", default,
                                                   "PNG image (*.png);;SVG drawing (*.svg)")
        if not path:
            return
        if not Path(path).suffix:
            path += ".svg" if "svg" in chosen.lower() else ".png"
        try:
            saved = self.save_plots(path)
        except OSError as exc:
            self._append_log(time.time(), "error", f"could not save plots to {path}: {exc}")
            return
        self._append_log(time.time(), "info", f"plots saved to {saved}")


if __name__ == "__main__":
    import sys

    app = QApplication(sys.argv)
    theme.apply_theme(app, "dark" if "--dark" in sys.argv else "light")
    dash = Dashboard()
    dash.apply_theme()
    runs = [a for a in sys.argv[1:] if not a.startswith("--")]
    if runs:
        dash.load_run(runs[0])
        for other in runs[1:]:
            dash.add_overlay(other)
    dash.resize(1300, 850)
    dash.show()
    sys.exit(app.exec())
