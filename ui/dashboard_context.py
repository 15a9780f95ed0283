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

FLOOR_LABEL_AT = 0.97   # floor labels sit at the right end of their line, away from the first points
FLOOR_LABEL_STEP = 0.35  # each lower floor's label this share of the width left of the one above


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
                    wanted[f"{name} {label}"] = (100 * float(value), f"{name} {label} {value:.2f}")
        for name in [n for n in self.floor_lines if n not in wanted]:
            self.knn_plot.removeItem(self.floor_lines.pop(name))
        for rank, (name, (v, text)) in enumerate(sorted(wanted.items(), key=lambda kv: -kv[1][0])):
            line = self.floor_lines.get(name)
            if line is None:
                style = Qt.DotLine if name.startswith(RANDOM_NAME) else Qt.DashLine
                line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(muted, width=1.2, style=style),
                                       label=text, labelOpts={"position": FLOOR_LABEL_AT, "color": muted,
                                                              "anchors": [(1, 1), (1, 1)]})
                self.knn_plot.addItem(line, ignoreBounds=True)
                self.floor_lines[name] = line
            line.setPen(pg.mkPen(muted, width=1.2, style=line.pen.style()))
            line.label.setColor(muted)
            line.label.setFormat(text)
            # floors are often a few points apart: each label a step further left than the one above, so no
            # two sit on each other; below its line in the upper half of the view, above it in the lower
            # half (pyqtgraph picks), so a line near the top or bottom edge keeps its label in view
            line.label.anchors = [(1, 0), (1, 1)]
            line.label.setPosition(max(FLOOR_LABEL_AT - FLOOR_LABEL_STEP * rank, 0.3))
            line.setPos(v)
        self.floor_extent.set_values(v for v, _ in wanted.values())
        tip = floors_text(floors) if floors else ""
        self.knn_plot.setToolTip(f"Floors (measured once for this data and backbone): {tip}" if tip else "")
