"""Saving the dashboard's plots as one PNG or SVG image (vector axes and text in SVG)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (makes pg.exporters.ImageExporter available)
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QFileDialog, QGraphicsItem


class PlotExportMixin:
    """save_plots and the Save button's dialog (part of Dashboard: uses its `plots`, `run_name` and log)."""

    def save_plots(self, path: Path | str) -> Path:
        """Write every plot as one image: SVG when the name ends in .svg, PNG otherwise; returns the path."""
        path = Path(path)
        self.catch_up_x()
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
