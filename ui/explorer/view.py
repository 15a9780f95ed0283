"""The explorer widget: lays out the map, source and projection controls, timeline, Health panel and item gallery,
and wires them to background tasks that call workbench.analysis."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea,
                               QSizePolicy, QSlider, QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from ui import theme
from ui.page_tabs import scrolling
from ui.explorer.health import KNN_CORRECT, HealthMixin
from ui.explorer.items import ItemsMixin
from ui.explorer.reading import ReadingMixin
from ui.explorer.sources import SourcesMixin
from ui.explorer.timeline import TimelineMixin
from ui.gallery import Gallery
from ui.health_panel import HealthPanel
from ui.map_colours import knn_categories, option_colours
from ui.marked_scatter import MarkedScatter
from ui.tasks import TaskSlot, run_task
from workbench.analysis import PROJECTION_NAMES, QUALITY_K, SourceRef, load_source, project, source_title
from workbench.embeddings import ReferenceMap, warm_up_umap
from workbench.explore import EmbeddingSource, categories, colour_options, ordered_option

# UMAP compiles (numba) on its first use in a process; one warm-up for all explorers.
_umap = {"warm": False, "task": None}


def _warm_up_umap_once() -> None:
    if _umap["warm"] or _umap["task"] is not None:
        return
    task = run_task(lambda progress, cancel: warm_up_umap(), name="warm-up-umap")
    task.done.connect(lambda _: _umap.update(warm=True))
    task.ended.connect(lambda: _umap.update(task=None))
    _umap["task"] = task


class Explorer(SourcesMixin, TimelineMixin, HealthMixin, ItemsMixin, ReadingMixin, QWidget):
    """Project a run's embeddings, look at items by hovering, clicking and selecting, and watch them move."""

    source_changed = Signal(object)  # EmbeddingSource, whenever the shown items or embeddings change
    point_clicked = Signal(int)

    warm_up_on_show = True  # start UMAP's compilation in the background when first shown

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._run_dir: Path | None = None
        self._snapshots: list[tuple[int, Path]] = []
        self._given: EmbeddingSource | None = None  # a source handed over directly (show_source)
        self._source: EmbeddingSource | None = None
        self._reference: ReferenceMap | None = None
        self._reference_title = ""
        self._reference_step = -1
        self._draw_pending = False
        self._projection = "pca"
        self._xy = np.zeros((0, 2), np.float32)
        self._compute = TaskSlot(self, "explorer-projection")
        self._place = TaskSlot(self, "explorer-place")
        self._pending_place: Path | None = None
        self._placed_at = 0.0
        self._playing = False
        self._clicked = -1
        self._gallery_indices: list[int] = []
        self._warmed = False
        self._map_slot = TaskSlot(self, "explorer-map-quality")  # trustworthiness, continuity, false neighbours
        self._emb_slot = TaskSlot(self, "explorer-embedding-health")  # kNN correctness and collapse metrics
        self._group_slot = TaskSlot(self, "explorer-best-grouping")  # the colour-by a fresh map defaults to
        self._quality = None  # MapQuality of (self._source, self._xy)
        self._quality_for: tuple = (None, None)
        self._health = None  # EmbeddingHealth of self._health_for
        self._health_for = None  # the embeddings array self._health describes
        self._emb_measuring = None  # the embeddings array the embedding-health task measures
        self._colour_chosen = False  # the user picked a colour-by: fresh maps keep it instead of the best

        self._build()
        self.apply_theme()
        self._update_controls()

    # --- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.source_combo = QComboBox()
        self.source_combo.setMinimumContentsLength(18)
        self.source_combo.setToolTip("Which embeddings to map: a probe snapshot saved during training, or a checkpoint")
        self.source_combo.activated.connect(self._on_source_chosen)
        self.projection_combo = QComboBox()
        for key, name in PROJECTION_NAMES.items():
            self.projection_combo.addItem(name, key)
        self.projection_combo.setToolTip("PCA is instant; t-SNE and UMAP show clusters better and take a while")
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.compute)
        self.progress_label = QLabel()
        self.progress_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # cut short, never widens the row
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMinimumWidth(60)
        self.progress.setMaximumWidth(140)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.colour_combo = QComboBox()
        self.colour_combo.setMinimumContentsLength(11)
        self.colour_combo.currentIndexChanged.connect(lambda _: self._draw(reset_view=False))
        self.live_check = QCheckBox("Live")
        self.live_check.setToolTip("Place each new snapshot of a running training into this map as it arrives")
        self.live_check.setChecked(True)
        self.select_button = QPushButton("Select")
        self.select_button.setCheckable(True)
        self.select_button.setToolTip("Drag a rectangle to select points (Shift+drag does this at any time)")
        self.select_button.toggled.connect(lambda on: self.scatter.set_select_mode(on))
        self.compare_open_button = QPushButton(theme.icon("compare"), "Compare…")
        self.compare_open_button.setToolTip("Two snapshots or checkpoints side by side, coloured by how much each "
                                        "item's neighbours changed")
        self.compare_open_button.clicked.connect(self.open_compare)

        top = QHBoxLayout()
        for label, w in (("Source", self.source_combo), ("Projection", self.projection_combo)):
            top.addWidget(QLabel(label))
            top.addWidget(w)
        top.addWidget(self.compute_button)
        top.addWidget(self.progress_label)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addStretch(1)
        top.addWidget(self.select_button)
        top.addWidget(QLabel("Colour by"))
        top.addWidget(self.colour_combo)
        top.addWidget(self.live_check)

        self.play_button = QPushButton(theme.icon("play"), "Play")
        self.play_button.setToolTip("Step through the snapshots, each placed into the current map")
        self.play_button.clicked.connect(self.toggle_play)
        self.timeline = QSlider(Qt.Horizontal)
        self.timeline.setPageStep(1)
        self.timeline.valueChanged.connect(self._on_timeline)
        self.timeline_label = QLabel()
        self.timeline_label.setMinimumWidth(110)
        timeline = QHBoxLayout()
        timeline.addWidget(self.play_button)
        timeline.addWidget(self.timeline, 1)
        timeline.addWidget(self.timeline_label)
        timeline.addWidget(self.compare_open_button)

        self.scatter = MarkedScatter()
        self.scatter.hovered.connect(self._on_hover)
        self.scatter.clicked.connect(self._on_click)
        self.scatter.selected.connect(self._on_selected)
        for w in self._build_reading():
            timeline.addWidget(w)

        self.item_image = QLabel()
        self.item_image.setAlignment(Qt.AlignCenter)
        self.item_image.setFixedHeight(168)
        self.item_text = QLabel("Hover over a point to see its image; click it for its nearest neighbours; "
                                "Shift+drag to select a region.")
        self.item_text.setWordWrap(True)
        self.item_text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.gallery = Gallery(empty_text="Click a point to see its 15 nearest neighbours\n"
                                          "(green frame: same label, red: different).")
        self.gallery.clicked.connect(self._on_gallery_clicked)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        self.health = HealthPanel()
        self.marks_check = self.health.marks_check  # the overlay sits beside the number it draws
        self.marks_check.setToolTip(
            f"Ring the points whose {QUALITY_K} nearest neighbours on the map are mostly not among their "
            f"{QUALITY_K} nearest in the embedding: there the map puts strangers side by side")
        self.marks_check.toggled.connect(lambda _: self._show_marks())
        side_layout.addWidget(self.health)
        side_layout.addWidget(self.item_image)
        side_layout.addWidget(self.item_text)
        side_layout.addWidget(self.gallery, 1)
        self.gallery.setMinimumHeight(150)
        side.setMinimumWidth(280)
        # On a 720-px screen the Health text, the item and the gallery need more height than there is:
        # the column scrolls instead of squeezing the word-wrapped Health text until its lines are cut.
        self.side_scroll = QScrollArea()
        self.side_scroll.setWidget(side)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QScrollArea.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.side_scroll.setMinimumWidth(side.minimumWidth() + self.side_scroll.verticalScrollBar().sizeHint().width())

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.scatter)
        splitter.addWidget(self.side_scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([800, 360])

        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.map_page = QWidget()
        layout = QVBoxLayout(self.map_page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(timeline)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

        self._compare_view = None  # the comparison page, built when first opened (compare_view)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.map_page)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)

    # --- public API --------------------------------------------------------------------------
    @property
    def current_source(self) -> EmbeddingSource | None:
        return self._source

    @property
    def run_dir(self) -> Path | None:
        return self._run_dir

    def set_run(self, run_dir: Path | str | None) -> None:
        """Show this run: list its snapshots and checkpoints, and map the newest snapshot with PCA now."""
        self._reset()
        self.close_compare()
        self._run_dir = Path(run_dir) if run_dir is not None else None
        self._given = None
        self._fill_sources()
        if self.source_combo.count() == 0:
            self.scatter.set_empty_text("No embeddings yet: the map appears after the first snapshot "
                                        "(end of the first epoch)." if self._run_dir else "No run open.")
            self._set_status("")
            return
        self.projection_combo.setCurrentIndex(self.projection_combo.findData("pca"))
        self.compute()

    def show_source(self, source: EmbeddingSource, projection: str = "pca") -> None:
        """Map a source made elsewhere (a script, a test, a 100k-point stress check)."""
        self._reset()
        self.close_compare()
        self._run_dir, self._given = None, source
        self._fill_sources()
        self.projection_combo.setCurrentIndex(self.projection_combo.findData(projection))
        self.compute()

    def compute(self) -> None:
        """Project the chosen source with the chosen method, off the GUI thread, replacing the reference map."""
        ref: SourceRef | None = self.source_combo.currentData()
        if ref is None:
            return
        method = self.projection_combo.currentData()
        self.stop()
        base = self._source
        cold_umap = method == "umap" and not _umap["warm"]

        def work(progress, cancel):
            # a checkpoint is embedded first (half the bar); a snapshot of the shown items reuses their images
            share = 0.5 if ref.kind == "checkpoint" else 0.0
            src = load_source(ref, like=base, cancel=cancel, progress=lambda f, stage: progress(share * f, stage))
            stage = "compiling UMAP (first use only)…" if cold_umap else PROJECTION_NAMES[method]
            # only t-SNE reports progress while it runs; the others show a busy bar
            reference, xy = project(src.embeddings, method, cancel=cancel, stage=stage,
                                    progress=lambda f, s: progress(share + (1 - share) * f if f >= 0 else -1, s))
            return src, reference, xy

        self._compute.start(work, name=f"explorer-{method}", progress=self._on_progress,
                            done=lambda result: self._on_computed(method, result), failed=self._on_compute_failed,
                            cancelled=self._on_compute_cancelled)
        self._on_progress(-1, "starting")
        self._update_controls()

    def cancel(self) -> None:
        """Stop the projection in progress; the previous map stays."""
        if self._compute.is_running():
            self._compute.cancel()
            self.progress_label.setText("cancelling…")

    def is_computing(self) -> bool:
        """Whether the map is still being made: projected, or its default colour-by worked out."""
        return self._compute.is_running() or self._group_slot.is_running()

    def is_picking_colour(self) -> bool:
        """Whether the colour-by a fresh map groups best is still being worked out (in the background)."""
        return self._group_slot.is_running()

    def on_event(self, ev: dict) -> None:
        """A worker event of the shown run: an `embedding` adds a snapshot and, when Live, moves the map."""
        if ev.get("type") != "embedding" or self._run_dir is None or not ev.get("path"):
            return
        path = Path(ev["path"])
        path = path if path.is_absolute() else self._run_dir / path
        if not path.is_file():
            return
        step = int(ev.get("step", int(path.stem) if path.stem.isdigit() else 0))
        if all(p != path for _, p in self._snapshots):
            self._fill_sources(keep=True)
        if not self.live_check.isChecked():
            return
        # A map fitted on the untrained (step 0) snapshot says nothing about what training
        # builds, so the first trained snapshot gets a fresh map; later ones are placed into it.
        untrained_reference = self._reference is not None and self._reference_step == 0 and step > 0
        if self._reference is None or untrained_reference:
            if not self._compute.is_running():
                self._select_source(SourceRef.snapshot(self._run_dir, step, path))
                self.compute()
            return
        self._request_place(path)

    @property
    def compare_view(self):
        """The comparison page (ui.compare_view.CompareView), built on first use: two scatters and their controls
        that most sessions never open cost start-up time."""
        if self._compare_view is None:
            from ui.compare_view import CompareView

            self._compare_view = CompareView()
            self._compare_view.back_requested.connect(self.close_compare)
            self.pages.addWidget(scrolling(self._compare_view))  # its controls row scrolls, never widens the window
        return self._compare_view

    def open_compare(self) -> None:
        """Show the comparison page for this run; the first time, compare two of its snapshots with PCA."""
        if self._run_dir is None:
            return
        self.stop()
        view = self.compare_view
        view.set_run(self._run_dir)
        self.pages.setCurrentIndex(1)  # the compare view's scroll area
        if view.result is None and not view.is_computing():
            view.compare()

    def close_compare(self) -> None:
        self.pages.setCurrentWidget(self.map_page)

    def compare_with(self, other_run: Path | str) -> None:
        """Make another run (same data) the comparison's B, e.g. after choosing two runs in the runs browser."""
        if self._run_dir is not None:
            self.compare_view.set_run(self._run_dir)
            self.compare_view.set_other_run(Path(other_run))

    def _task_slots(self) -> tuple:
        """Every background job of this page: projection, placing, Health (map, embeddings), colour-by."""
        return self._compute, self._place, self._map_slot, self._emb_slot, self._group_slot

    def is_busy(self) -> bool:
        """Whether any background job (projection, placing, Health, comparison) is still running."""
        return (any(slot.is_busy() for slot in self._task_slots())
                or self._compare_view is not None and self._compare_view.is_busy())

    def apply_theme(self) -> None:
        self.scatter.apply_theme()
        self.health.apply_theme()
        if self._compare_view is not None:  # else it is built in the current theme
            self._compare_view.apply_theme()
        by = self.colour_combo.currentText()
        if self._source is not None and (by == KNN_CORRECT or ordered_option(by)):
            self._draw(reset_view=False)  # the muted "unlabelled" colour and the ordered scale follow the theme
        theme.set_look(self.status, tone="muted")
        theme.set_look(self.progress_label, tone="muted")

    def _set_source(self, src: EmbeddingSource, xy: np.ndarray, fresh: bool = False) -> None:
        """Show src at xy: move the points when they are the same items, else redraw (fresh: a new map)."""
        old = self._source
        self._source, self._xy = src, np.asarray(xy)
        same_items = old is not None and old.indices.shape == src.indices.shape and np.array_equal(old.indices, src.indices)
        if old is None or colour_options(old) != colour_options(src):
            self._fill_colour_options(src)
        if not same_items or fresh:  # a recomputed map: what was selected or listed belongs to the old one
            self.scatter.clear_selection()
            self.item_image.clear()
            self._clicked = -1
            self._gallery_indices = []
            self.gallery.clear()
            self.gallery.set_title("")
            self.scatter.set_highlight([])
        if fresh:
            self._pick_default_colour(src, self._xy)
        if not same_items:
            self._dress_map(src)
        if fresh or not same_items or self.scatter.count() != len(src):
            self._draw(reset_view=fresh or old is None)
        else:
            self.scatter.update_positions(self._xy)
        if self._clicked >= 0:
            self._show_neighbours(self._clicked)  # the new embeddings have new neighbours
        if not same_items:
            self.scatter.set_marked([])  # marks of other items; while the same points move, the old ones stay
        self._sync_timeline()
        self._select_current_in_combo()
        self._set_status()
        self._measure()
        self.source_changed.emit(src)

    def _fill_colour_options(self, src: EmbeddingSource) -> None:
        current = self.colour_combo.currentText()
        self.colour_combo.blockSignals(True)
        self.colour_combo.clear()
        self.colour_combo.addItems(colour_options(src))
        if (np.asarray(src.labels) >= 0).sum() >= 2:
            self.colour_combo.addItem(KNN_CORRECT)
        index = self.colour_combo.findText(current)
        self.colour_combo.setCurrentIndex(max(0, index))
        self.colour_combo.blockSignals(False)

    # --- drawing -----------------------------------------------------------------------------
    def _draw(self, reset_view: bool = True) -> None:
        if not self.isVisible():
            # Drawing thousands of points costs ~100 ms of GUI time: a hidden tab (live
            # snapshots while the user watches the dashboard) draws when it is shown.
            self._draw_pending = True
            return
        self._draw_pending = False
        src = self._source
        if src is None or len(self._xy) != len(src):
            return
        by = self.colour_combo.currentText() or "label"
        if by == KNN_CORRECT:
            health = self.embedding_health
            if health is None:  # on its way (the Health task): one muted colour until then
                codes, names, colours = np.zeros(len(src), np.int64), ["kNN: computing…"], [theme.colors()["muted"]]
            else:
                codes, names, colours = knn_categories(health.knn_correct)
        else:
            codes, names = categories(src, by)
            colours = option_colours(by, names)
        self.scatter.set_points(self._xy, codes, names, colours, reset_view=reset_view)
        if self._clicked >= 0:
            self._highlight_neighbours()

    def _set_status(self, text: str | None = None) -> None:
        if text is None:
            src = self._source
            if src is None:
                text = ""
            else:
                text = (f"{len(src):,} points · {src.embeddings.shape[1]}-d · {PROJECTION_NAMES[self._projection]}"
                        f" · {source_title(src)}")
                if self._reference_title and self._reference_title != source_title(src):
                    text += f" (placed into the map of {self._reference_title})"
        self.status.setText(text)

    def _update_controls(self) -> None:
        computing = self._compute.is_running()
        for w in (self.progress, self.progress_label, self.cancel_button):
            w.setVisible(computing)
        has_sources = self.source_combo.count() > 0
        self.compute_button.setEnabled(has_sources)
        self.compare_open_button.setEnabled(self._run_dir is not None and has_sources)
        can_play = len(self._snapshots) > 1
        self.play_button.setEnabled(can_play)
        self.timeline.setEnabled(can_play)

    # --- compute -----------------------------------------------------------------------------
    def _on_progress(self, fraction: float, stage: str) -> None:
        if fraction < 0:
            self.progress.setRange(0, 0)  # busy: no estimate
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * fraction))
        self.progress_label.setText(stage)

    def _on_computed(self, method: str, result) -> None:
        self._update_controls()
        src, ref, xy = result
        if method == "umap":
            _umap["warm"] = True
        self._reference, self._projection = ref, method
        self._reference_title = source_title(src)
        self._reference_step = src.step if src.label.startswith("snapshot") else -1
        self._set_source(src, xy, fresh=True)

    def _on_compute_cancelled(self) -> None:
        self._update_controls()
        self._set_status()
        self.status.setText(self.status.text() + ("  —  cancelled; showing the previous map"
                                                  if self._source is not None else "cancelled"))

    def _on_compute_failed(self, message: str) -> None:
        self._update_controls()
        self.status.setText(f"⚠ {message}")

    # --- lifecycle ---------------------------------------------------------------------------
    def cancel_background(self) -> None:
        """Ask every background job (projection, placing, Health measurements, comparison) to stop.

        Each one reports back when it has, so is_busy() stays true until then.
        """
        self.stop()
        self._pending_place = None
        for slot in self._task_slots():
            slot.cancel()
        if self._compare_view is not None:
            self._compare_view.cancel()

    def _reset(self) -> None:
        self.cancel_background()
        # forget them: their late results describe a source no longer shown, and are ignored
        for slot in self._task_slots():
            slot.forget()
        self._clear_health()
        self._source, self._reference, self._reference_title = None, None, ""
        self._xy = np.zeros((0, 2), np.float32)
        self._clicked = -1
        self._colour_chosen = False
        self._gallery_indices = []
        self.scatter.set_points(np.zeros((0, 2)))
        self.scatter.set_highlight([])
        self.gallery.clear()
        self.gallery.set_title("")
        self.item_image.clear()
        self._update_controls()

    def showEvent(self, ev):
        super().showEvent(ev)
        if self._draw_pending:
            self._draw(reset_view=True)
        if self.warm_up_on_show and not self._warmed:
            self._warmed = True
            _warm_up_umap_once()

