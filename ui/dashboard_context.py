"""What the dashboard's numbers are read against: raw-pixel and random-init floors on the evaluation plot,
how noisy a small evaluation set is, and units per modality (images, sequences, words)."""
from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt

from workbench.curves import coverage_notes, test_size_note
from workbench.floors import RANDOM_NAME, RAW_NAMES, floors_text, modality_of, throughput_unit

from . import theme
from .dashboard_plots import ValueExtent
from .floors import MEASURING, QUEUED, service
from .line_labels import LineLabels


def noise_text(info: dict, coverage: dict, modality: str | None) -> str:
    """'±5 pts is noise (359 test items)' or 'wordsim353 on 60 pairs: ±0.26 is noise'; '' when the set is large."""
    if modality == "text":
        return " · ".join(coverage_notes(coverage))
    return test_size_note(info.get("test_size"))


class ContextMixin:
    """Part of Dashboard: draws floors on `knn_plot`, says what is noise, names throughput units."""

    def _init_context(self) -> None:
        """What the context knows before the plots exist (see Dashboard._ensure_plots)."""
        self.run_dir: Path | None = None
        self._context_key: tuple | None = None
        self.context_note = ""  # what the evaluation plot's step axis says besides "step"

    def _build_context(self) -> None:
        self.floor_lines: dict[str, pg.InfiniteLine] = {}
        self.floor_extent = ValueExtent()
        self.knn_plot.addItem(self.floor_extent)
        # the floors' and the linear probe's names, right of the plot: inside it they covered each other and the
        # last evaluation's markers (the view's row, a column after the right axis)
        self.line_labels = LineLabels(self.knn_plot.vb)
        self.knn_plot.layout.addItem(self.line_labels, 2, 3)
        self.knn_plot.side_column = self.line_labels  # text under the plot may run under it (_text_width)
        # the title spans the view, the right axis and the column: in the view's column alone its width was added
        # to the column's, and the grid grew wider than a 1280-px window
        self.knn_plot.layout.removeItem(self.knn_plot.titleLabel)
        self.knn_plot.layout.addItem(self.knn_plot.titleLabel, 0, 1, 1, 3)
        self._context_key = None
        service().changed.connect(self._schedule)

    @property
    def modality(self) -> str | None:
        dataset = self.data.info.get("dataset")
        return modality_of(dataset) if dataset else None

    def unit(self, short: bool = False) -> str:
        return throughput_unit(self.modality or "image", short)

    def _draw_context(self) -> None:
        """Floors, the noise note, titles and units; cheap when nothing changed (called on every redraw)."""
        floors, state = None, None
        if self.run_dir is not None and self.data.info:
            floors = service().floors(self.run_dir)
            if floors is None:
                service().request(self.run_dir)
                state = service().state(self.run_dir)
        modality = self.modality
        note = noise_text(self.data.info, self.data.coverage, modality)
        key = (id(floors), floors and floors.get("measured"), state, modality, note, theme.current())
        if key == self._context_key:
            return
        self._context_key = key
        self._show_floors(floors, modality)
        if self.data.info and floors is None and modality is not None and self.run_dir is not None \
                and service().knows(self.run_dir):
            if state in (MEASURING, QUEUED):
                raw = RAW_NAMES.get(modality)
                bits = [f"floors ({raw}, {RANDOM_NAME}): measuring…" if raw else f"{RANDOM_NAME} floor: measuring…"]
            elif state:
                bits = [state]
            else:
                bits = ["floors not measured (ssl-workbench floors RUN)"]
        else:
            bits = []
        self.context_note = " · ".join(bits + [note] if note else bits)
        # notes under "step", on lines that fit the plot (_set_step_label): a long one-line axis label widened
        # this plot's column past the view and cut off the plots beside it at 1280 px
        parts = coverage_notes(self.data.coverage) if modality == "text" else [note] if note else []
        self._step_notes[id(self.knn_plot)] = bits + parts
        self._set_step_label(self.knn_plot)
        unit = self.unit()
        self.speed_plot.setLabel("left", unit.replace("/", " / "))
        if modality == "text":
            self.knn_plot.getAxis("left").setScale(0.01)  # ρ is stored ×100 beside accuracies in %
        else:
            self.knn_plot.getAxis("left").setScale(1.0)

    def _show_floors(self, floors: dict | None, modality: str | None) -> None:
        muted = theme.colors()["muted"]
        wanted: dict[str, tuple[float, str]] = {}
        for floor in (floors or {}).get("floors", []):
            name = floor.get("name", "")
            if "knn_top1" in floor and modality != "text":
                v = 100 * float(floor["knn_top1"])
                wanted[name] = (v, f"{name} {v:.1f} %")
            for label, value in floor.get("scores", {}).items():
                if modality == "text" and label.startswith("wordsim353"):  # the score best.pt follows
                    wanted[f"{name} {label}"] = (100 * float(value), f"{name} ρ {value:.2f}")
        for name in [n for n in self.floor_lines if n not in wanted]:
            self.knn_plot.removeItem(self.floor_lines.pop(name))
        for name, (v, text) in wanted.items():
            line = self.floor_lines.get(name)
            if line is None:
                style = Qt.DotLine if name.startswith(RANDOM_NAME) else Qt.DashLine
                line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(muted, width=1.2, style=style))
                self.knn_plot.addItem(line, ignoreBounds=True)
                self.floor_lines[name] = line
            line.setPen(pg.mkPen(muted, width=1.2, style=line.pen.style()))
            line.setPos(v)
        self.line_labels.set_labels("floors", [(v, text, muted) for v, text in wanted.values()])
        self.floor_extent.set_values(v for v, _ in wanted.values())
        tip = floors_text(floors) if floors else ""
        self.knn_plot.setToolTip(f"Floors (measured once for this data, method and backbone): {tip}" if tip else "")
