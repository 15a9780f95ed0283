"""Live training curves of one run (loss, method terms, evaluation scores, throughput, lr, collapse, GPU memory)."""
from __future__ import annotations

import html
import time
from collections import deque
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase, QPainter, QPalette, QPen
from PySide6.QtWidgets import (QApplication, QCheckBox, QHBoxLayout, QLabel, QPlainTextEdit,
                               QProgressBar, QPushButton, QSizePolicy, QSplitter, QVBoxLayout, QWidget)

from workbench.curves import SCORE_PART, RunCurves, format_duration, score_parent, summarize_event
from workbench.events import read_events
from workbench.runs import RunStatus, worker_alive

from . import theme
# EVAL_TITLE, KNN_TITLE, TERMS_EMPTY and step_ceiling are part of what this module offers (tests, bench)
from .dashboard_context import ContextMixin
from .dashboard_plots import (DENSE, EVAL_TITLE, EVEN_STD_RATIO, KNN_TITLE, NOISY, TERMS_EMPTY, WORDS_TITLE,  # noqa: F401
                              CurvePlotsMixin, colour_index, segmented, step_ceiling)
from .plot_export import PlotExportMixin

REDRAW_MS = 100      # at most 10 Hz: curves are redrawn from a timer, never once per event
MAX_REDRAW_MS = 1000
BUSY_SHARE = 0.2     # redraws (and their paints) may take at most this share of the GUI thread
LOG_LINES = 2000
# Overlay colours skip index 0 (this run) and 3 (linear probe marker). Curves take theme.curve_color: the
# palette's colour, moved toward the plot's foreground where it would fade into the ground.
OVERLAY_COLOURS = (1, 2, 4, 5, 7, 8, 9, 10, 11)
# Evaluation scores: dashed with diamonds, unlike overlays; not this run's colour (0) nor the probe's (3).
SCORE_COLOURS = (4, 9, 2, 7, 5, 8, 1)
# Method terms: chosen by the term's name (colour_index).
TERM_COLOURS = (0, 1, 2, 3, 4, 5, 7, 8, 9)


# What _build_plots and _build_context make: asking for one of them builds the grid (Dashboard.__getattr__).
PLOT_PARTS = frozenset({
    "plots", "loss_plot", "loss_legend", "loss_curve", "ema_curve", "step_extent", "terms_plot", "terms_legend",
    "terms_text", "terms_right", "knn_plot", "knn_legend", "knn_curve", "best_curve", "linear_marker",
    "linear_line", "collapse_plot", "std_curve", "even_line", "rank_view", "rank_curve", "speed_plot",
    "speed_curve", "lr_plot", "lr_curve", "gpu_plot", "gpu_curve", "_row2", "_gpu_shown", "_followers",
    "_syncing_x", "_x_groups", "_x_behind", "_x_timer", "_bindings", "_line_only", "floor_lines", "floor_extent",
    "line_labels"})


def gpu_text(gpu: dict[str, float]) -> str:
    """'GPU 812 / 1,024 MB · 97%' from a step's GPU fields; '' for CPU runs."""
    parts = []
    if "gpu_mem_alloc_mb" in gpu:
        reserved = gpu.get("gpu_mem_reserved_mb")
        parts.append(f"GPU {gpu['gpu_mem_alloc_mb']:,.0f}"
                     + (f" / {reserved:,.0f}" if reserved is not None else "") + " MB")
    if "gpu_util" in gpu:
        parts.append(f"{gpu['gpu_util']:.0f}%" if parts else f"GPU {gpu['gpu_util']:.0f}%")
    return " · ".join(parts)


class ElidedLabel(QLabel):
    """One line of text cut with '…' where the row is too narrow (the full text on hover), never widening it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def shown_text(self) -> str:
        """The text as drawn at the current width."""
        return self.fontMetrics().elidedText(self.text(), Qt.ElideRight, max(0, self.contentsRect().width()))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(Qt.AlignLeft | Qt.AlignVCenter), self.palette(),
                                  self.isEnabled(), self.shown_text(), QPalette.WindowText)


class Dashboard(ContextMixin, CurvePlotsMixin, PlotExportMixin, QWidget):
    """Header strip, a grid of live plots and a log pane for one run, plus overlays of other runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.data = RunCurves()
        self.run_name = ""
        self._log: deque = deque(maxlen=LOG_LINES)  # (t, level, text), kept to re-colour on theme change
        self._overlays: list[dict] = []
        self._drawn: dict[int, int] = {}           # id(series) -> version last drawn
        self._term_curves: dict[str, pg.PlotDataItem] = {}
        self._term_scale: dict[str, tuple[int, str]] = {}     # term -> (series version, its scale) (_split_terms)
        self._score_curves: dict[str, pg.PlotDataItem] = {}
        self._legend_corner: dict[int, tuple[int, int]] = {}  # id(legend) -> (right, bottom)
        self._legend_key: dict[int, tuple] = {}                # id(legend) -> what it was last placed for
        self._legend_room: dict[int, object] = {}              # id(plot) -> ValueExtent making room for its legend
        self._legend_text: dict[int, str] = {}                 # id(plot) -> its legend as text under it, when cramped
        self._step_notes: dict[int, list] = {}                 # id(plot) -> the notes under its step axis
        self._flat_key: dict[int, tuple] = {}                  # id(plot) -> series versions last checked for flatness
        self._dirty = False
        self._redraw_ms = 0.0                                  # cost of the last redraw, before its paint
        self._linear_drawn: tuple[float, float] | None = None  # the probe result on the plot
        self._timer = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._timer.timeout.connect(self._on_timer)
        self._build_header()
        self._init_context()
        self._plots_built = False  # the plot grid is built on first show or first use (_ensure_plots)
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.log_view.setPlaceholderText("Run messages (start, checkpoints, warnings, finish) appear here.")
        self._split = split = QSplitter(Qt.Vertical)
        split.addWidget(QWidget())  # the plot grid's place until it is built
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
    def __getattr__(self, name: str):
        """A plot, curve or legend asked for before the grid exists builds the grid (a replay, an overlay or a test
        on a dashboard never shown); names that are not the grid's are missing as usual."""
        if name in PLOT_PARTS and not self.__dict__.get("_plots_built", True):
            self._ensure_plots()
            return object.__getattribute__(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def build_plots(self) -> bool:
        """Build the plot grid now if it is not yet (the main window does, at idle after its first paint);
        True when this call built it."""
        built = not self._plots_built
        self._ensure_plots()
        return built

    def _ensure_plots(self) -> None:
        """Build the plot grid, once: on first show or first use. Ten plots cost a few hundred ms of start-up,
        while the first screen (the welcome page) shows none of them."""
        if self._plots_built:
            return
        self._plots_built = True
        self._build_plots()
        # line-only curves (no markers of their own): they get markers while they have few points
        self._line_only = {self.loss_curve, self.ema_curve, self.speed_curve, self.lr_curve, self.gpu_curve}
        self._build_context()
        self._split.replaceWidget(0, self.plots).deleteLater()
        self._split.setStretchFactor(0, 5)  # a stretch factor is the widget's: the placeholder's left with it
        self._split.setSizes([640, 120])
        self._theme_plots()
        self._schedule()

    def _build_header(self) -> None:
        """Two rows: what the run is (and its state), then where it is (progress, speed, ETA)."""
        self.header = QWidget()
        self.name_label = QLabel()
        font = self.name_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name_label.setFont(font)
        self.name_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        # Long method and device names are cut with '…' rather than widen the window (or be cut mid-word);
        # the tooltip keeps the full text.
        self.info_label = ElidedLabel()
        self.position_label = QLabel()
        self.progress_bar = QProgressBar(maximum=1000, textVisible=False)
        self.progress_bar.setMaximumWidth(320)
        self.progress_bar.setMinimumWidth(120)
        self.progress_bar.setFixedHeight(12)
        self.speed_label = QLabel()
        self.gpu_label = QLabel()
        self.gpu_label.setToolTip("GPU memory allocated / reserved by PyTorch, and utilisation")
        self.eta_label = QLabel()
        # Per-factor scores (analogy top-1 · colour, · shape, … online probe · rotation, …) are up to a dozen
        # more curves and legend entries: a legend that took a third of the evaluation plot at 720 px. Each
        # family's mean is drawn; its factors on demand (all of them are in the log).
        self.factors_check = QCheckBox("scores per factor")
        self.factors_check.setToolTip("Also draw each factor's score (colour, shape, …) beside its family's "
                                      "mean on the evaluation plot; the log lists them all")
        self.factors_check.hide()
        self.factors_check.toggled.connect(lambda _: self._list_scores())
        self.state_label = QLabel()
        self.state_label.setObjectName("runState")  # a pill coloured by its "state" (resources/style.qss)
        self.state_label.setAlignment(Qt.AlignCenter)
        self.state_label.setMinimumWidth(80)
        self.save_button = QPushButton(theme.icon("save"), "Save plots…")
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
        for w in (self.position_label, self.progress_bar, self.speed_label, self.gpu_label, self.eta_label):
            bottom.addWidget(w)
        bottom.addStretch(1)
        bottom.addWidget(self.factors_check)
        rows = QVBoxLayout(self.header)
        rows.setContentsMargins(4, 2, 4, 2)
        rows.setSpacing(4)
        rows.addLayout(top)
        rows.addLayout(bottom)

    # --- public API --------------------------------------------------------------------------
    def clear(self, run_dir: Path | str | None = None) -> None:
        """Forget the run (and keep overlays); `run_dir` names the run that events will follow."""
        self.data.reset()
        self.run_name = Path(run_dir).name if run_dir else ""
        self.run_dir = Path(run_dir) if run_dir else None
        self._context_key = None
        self._log.clear()
        self.log_view.clear()
        if not self._plots_built:  # the grid will be built clean
            self._update_header()
            return
        for curves, plot, legend in ((self._term_curves, self.terms_plot, self.terms_legend),
                                     (self._score_curves, self.knn_plot, self.knn_legend)):
            for curve in curves.values():
                self._line_only.discard(curve)
                legend.removeItem(curve)
                (self.terms_right if getattr(curve, "on_right", False) else plot).removeItem(curve)
            curves.clear()
        self.factors_check.hide()
        self._term_scale.clear()
        self._split_terms()  # no terms: one axis again
        self._show_scores_title(False)
        self._legend_columns()
        for _, curve in self._bindings:
            curve.clear()  # now, not at the next redraw: auto-range must not fit the last run's data
        self._drawn.clear()
        self._legend_key.clear()
        for plot, legend in ((self.loss_plot, self.loss_legend), (self.terms_plot, self.terms_legend),
                             (self.knn_plot, self.knn_legend)):
            self._legend_under_plot(legend, plot, False)  # a new run's legends start in their corner
        self._flat_key.clear()
        for room in self._legend_room.values():
            room.set_values(())
        self._show_gpu(False)
        self.step_extent.set_step(None)
        for p in (self.loss_plot, *self._followers):
            # A new run starts with compact axes again, and no ticks left over from the last one.
            top = EVEN_STD_RATIO * 1.15 if p is self.collapse_plot else 1.0
            p.vb.setRange(xRange=(0, 1), yRange=(0, top), padding=0, disableAutoRange=False)
            p.vb.forget()  # its y range is made from the new run's values (SteppedViewBox)
            for name in ("left", "right"):
                self._reset_axis_width(p.getAxis(name))
        self.loss_plot.enableAutoRange()
        for p in self._followers:
            if p is not self.collapse_plot:  # its y range is set in redraw, to keep the 1.0 line in view
                p.enableAutoRange(axis="y")
        self.rank_view.setYRange(0, 1, padding=0)  # not the last run's ranks (see _fit_ratio_axes)
        self.terms_right.forget()
        self.terms_right.enableAutoRange(axis="y")
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
        lines = []
        for ev in self.data.add_events(read_events(run_dir)):
            line = summarize_event(ev)
            if line is not None:
                lines.append((ev.get("t"), *line))
        self.data.state = self.data.state.settled(lambda: worker_alive(run_dir))
        self._log.extend(lines)
        self._render_log()
        self.redraw()

    def add_overlay(self, run_dir: Path | str, label: str | None = None) -> str:
        """Overlay another run's loss EMA and kNN curves, named `label` (default: its folder name)."""
        run_dir = Path(run_dir)
        label = label or run_dir.name
        other = RunCurves.from_events(read_events(run_dir))
        index = colour_index(label, OVERLAY_COLOURS, {ov["colour_index"] for ov in self._overlays})
        color = pg.mkColor(theme.curve_color(index))
        loss = segmented(self.loss_plot.plot(*other.ema.data(), pen=pg.mkPen(color, width=2), name=label, **DENSE))
        knn = self.knn_plot.plot(*other.knn.data(), pen=pg.mkPen(color, width=2), symbol="s", symbolSize=6,
                                 symbolBrush=color, symbolPen=None, name=label)
        loss.colour_index = knn.colour_index = index
        # The loss legend names every run; listing them again here would cover the kNN points.
        self.knn_legend.removeItem(knn)
        self._overlays.append({"label": label, "path": run_dir, "loss": loss, "knn": knn, "colour_index": index,
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

    def apply_theme(self) -> None:
        if self._plots_built:  # else they take the theme when built
            self._theme_plots()
        theme.set_look(self.state_label, state=self.data.state)
        for label in (self.info_label, self.position_label, self.speed_label, self.eta_label):
            theme.set_look(label, tone="muted")
        self._render_log()

    def _theme_plots(self) -> None:
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
        curves = [*self._term_curves.values(), *self._score_curves.values()]
        curves += [ov[k] for ov in self._overlays for k in ("loss", "knn")]
        for curve in curves:  # each in its colour made readable on the new ground (theme.curve_color)
            index = getattr(curve, "colour_index", None)
            if index is None:
                continue
            colour = pg.mkColor(theme.curve_color(index))
            pen = QPen(pg.mkPen(curve.opts["pen"]))
            pen.setColor(colour)
            curve.setPen(pen)
            if curve.opts.get("symbolBrush") is not None and curve.opts.get("symbol") is not None:
                curve.setSymbolBrush(colour)
        for legend in (self.loss_legend, self.terms_legend, self.knn_legend):
            legend.update()
        self._legend_key.clear()  # a legend written under its plot is written again in the new colours
        self._schedule()
        self.even_line.setPen(pg.mkPen(c["muted"], width=1, style=Qt.DashLine))
        self.even_line.label.setColor(c["muted"])
        self._context_key = None  # floor lines take the new muted colour
        self._linear_drawn = None  # and the probe's name its colour on the new ground
        self._draw_context()

    # --- drawing -----------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        self._ensure_plots()
        super().showEvent(event)
        # legends are placed by pixel size, known only once shown; hidden, nothing was drawn. At once, not after
        # the slowed-down interval of a costly redraw (up to MAX_REDRAW_MS), which is for streaming
        self._dirty = True
        self._timer.start(0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._schedule()

    def _schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            # Never back to back: the gap before the next redraw grows with what the last one cost,
            # its paint included (tens of ms on long runs), so redraws keep to BUSY_SHARE of the thread.
            cost = self._redraw_ms + (self.plots.paint_ms if self._plots_built else 0.0)
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
        for key in [k for k in d.terms if k not in self._term_curves]:  # colour by name: the same live and replayed
            index = colour_index(key, TERM_COLOURS, {c.colour_index for c in self._term_curves.values()})
            color = theme.curve_color(index)
            if key in d.measure_keys:  # an evaluation (test NLL, perplexity): one diamond per evaluation
                curve = pg.PlotDataItem(pen=pg.mkPen(color, width=1.5, style=Qt.DashLine), symbol="d",
                                        symbolSize=7, symbolBrush=pg.mkColor(color), symbolPen=None)
            else:
                curve = segmented(pg.PlotDataItem(pen=pg.mkPen(color, width=2), **NOISY))
                self._line_only.add(curve)
            curve.colour_index = index
            curve.on_right = None  # placed on its axis, and named in the legend, by _split_terms
            self._term_curves[key] = curve
        for key in [k for k in d.scores if k not in self._score_curves]:
            self._add_score_curve(key)
        bindings = (self._bindings + [(d.terms[k], c) for k, c in self._term_curves.items()]
                    + [(d.scores[k], c) for k, c in self._score_curves.items()])
        for series, curve in bindings:
            if self._drawn.get(id(series)) != series.version:
                self._drawn[id(series)] = series.version
                curve.setData(*series.data())
                if curve in self._line_only:
                    self._mark_few(curve, series.n)
        self._split_terms()
        self._show_gpu(d.gpu_mem.n > 0)
        self._show_scores_title(bool(d.scores))
        if d.loss.n:
            self.step_extent.set_step(step_ceiling(d.loss.x[d.loss.n - 1], self.data.info.get("total_steps")))
        no_terms = d.loss.n > 0 and not d.terms
        if no_terms:  # the middle of the view as it is now: a new run's range differs from the last one's
            (x0, x1), (y0, y1) = self.terms_plot.vb.viewRange()
            self.terms_text.setPos((x0 + x1) / 2, (y0 + y1) / 2)
        self.terms_text.setVisible(no_terms)
        # an empty legend is a stray box; one written under the plot (cramped) is not shown twice
        self.terms_legend.setVisible(bool(self._term_curves) and not self._legend_text.get(id(self.terms_plot)))
        self._draw_linear()
        self._draw_context()
        self._place_legend(self.loss_legend, self.loss_plot,
                           [d.loss, d.ema], [ov["loss_xy"] for ov in self._overlays])
        terms_left, terms_right = self._terms_sides()
        self._place_legend(self.terms_legend, self.terms_plot, terms_left, beside=terms_right)
        knn_extra = [ov["knn_xy"] for ov in self._overlays]
        # the probe's and the floors' lines run across the plot: count them like curves, or the legend box sits on them
        span = np.linspace(*self._step_span(), 24)
        across = ([100 * d.linear[1]] if d.linear is not None else []) + list(self.floor_extent.values)
        knn_extra += [(span, np.full(len(span), v)) for v in across]
        shown = [d.scores[k] for k, c in self._score_curves.items() if self._score_shown(c)]
        self._place_legend(self.knn_legend, self.knn_plot, [d.knn, d.knn_best, *shown], knn_extra)
        # a word run lists no kNN curves: until its first scores its legend would be an empty box
        self.knn_legend.setVisible(bool(self.knn_legend.items) and not self._legend_text.get(id(self.knn_plot)))
        self._fit_ratio_axes()
        for plot, series in ((self.loss_plot, [d.loss, d.ema]), (self.speed_plot, [d.img_s]),
                             (self.lr_plot, [d.lr]), (self.gpu_plot, [d.gpu_mem]),
                             (self.terms_plot, [d.terms[k] for k, c in self._term_curves.items() if not c.on_right]),
                             (self.terms_right, [d.terms[k] for k, c in self._term_curves.items() if c.on_right])):
            self._fit_flat(plot, series)
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
            self.linear_line.show()
            self.linear_line.setPos(100 * v)
        else:
            self.linear_marker.setData([], [])
            self.linear_line.hide()
        # named right of the plot (its star and line share the name's colour), not in the legend: one name fewer
        # under a cramped plot
        colour = theme.readable_on_plot(theme.series_color(3))
        self.line_labels.set_labels("linear", [] if linear is None else [(100 * v, f"linear probe {100 * v:.1f} %",
                                                                           colour)])

    def _add_score_curve(self, key: str) -> None:
        """A curve for one evaluation score (×100) in the evaluation plot, named in its legend.

        A score that refines another ("analogy top-1 · colour" of "analogy top-1") is listed as
        "· colour" after its family, and drawn only while "scores per factor" is checked.
        """
        index = colour_index(key, SCORE_COLOURS, {c.colour_index for c in self._score_curves.values()})
        color = pg.mkColor(theme.curve_color(index))
        parent = score_parent(key, self.data.scores)
        curve = self.knn_plot.plot(pen=pg.mkPen(color, width=1.5, style=Qt.DashLine), symbol="d", symbolSize=7,
                                   symbolBrush=color, symbolPen=None)
        curve.colour_index = index
        curve.score_name = "·" + key[len(parent) + len(SCORE_PART) - 1:] if parent else key
        curve.is_factor = parent is not None
        self._score_curves[key] = curve
        self._list_scores()

    def _score_shown(self, curve) -> bool:
        return not curve.is_factor or self.factors_check.isChecked()

    def _list_scores(self) -> None:
        """Show the score curves that are wanted and list them in the legend in order, each family's factors after
        it (so the text under a cramped plot puts a family on a line of its own)."""
        if not self._plots_built:
            return
        legend = self.knn_legend
        factors = any(c.is_factor for c in self._score_curves.values())
        self.factors_check.setVisible(factors)
        for curve in self._score_curves.values():
            legend.removeItem(curve)
        for curve in self._score_curves.values():
            shown = self._score_shown(curve)
            curve.setVisible(shown)
            if shown:
                legend.addItem(curve, curve.score_name)
        self._legend_columns()
        self._legend_key.pop(id(legend), None)
        self._schedule()

    def _update_header(self) -> None:
        d, info = self.data, self.data.info
        name = self.run_name or (f"{info.get('method', '')} · {info.get('dataset', '')}" if info else "No run")
        self.name_label.setText(name)
        bits = [info.get("title") or info.get("method"), info.get("dataset"), info.get("device"),
                info.get("data_path") and f"data: {info['data_path']}"]  # memory or stream (the data path taken)
        self.info_label.setText("  ·  ".join(str(b) for b in bits if b))
        epochs, total = info.get("epochs"), info.get("total_steps")
        if info:
            epoch = min(d.epoch + 1, epochs) if epochs else d.epoch + 1
            if d.state is RunStatus.FINISHED and epochs:
                epoch = epochs
            self.position_label.setText(f"epoch {epoch} / {epochs or '?'} · step {d.step} / {total or '?'}")
        else:
            self.position_label.setText("")
        progress = d.progress if d.progress is not None else (d.step / total if total else 0.0)
        if d.state is RunStatus.FINISHED:
            progress = 1.0
        self.progress_bar.setValue(int(round(1000 * min(max(progress, 0.0), 1.0))))
        self.speed_label.setText(f"{d.img_s_now:,.0f} {self.unit(short=True)}" if d.img_s_now is not None else "")
        self.gpu_label.setText(gpu_text(d.gpu_now))
        eta = d.eta_seconds()
        self.eta_label.setText(f"ETA {format_duration(eta)}" if eta is not None else "")
        self.state_label.setText("" if d.state is RunStatus.NEW else d.state.value)
        theme.set_look(self.state_label, state=d.state.value)  # re-polishes only when the state changed

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
