"""The embedding explorer: a run's probe snapshots or checkpoints as a 2-D map with neighbours, selection, timeline,
live updates, how honest the map is (Health panel, false neighbours) and a side-by-side comparison of two embeddings."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSlider,
                               QSplitter, QStackedWidget, QVBoxLayout, QWidget)

from ui import theme
from ui.compare_view import CompareView
from ui.gallery import Gallery, thumbnail
from ui.health_panel import EmbeddingHealth, HealthPanel
from ui.map_colours import DIFFERENT, SAME, category_colours, knn_categories
from ui.marked_scatter import MarkedScatter
from ui.tasks import Task, run_task
from workbench.embeddings import ReferenceMap, nearest_neighbours, warm_up_umap
from workbench.explore import (EmbeddingSource, categories, colour_options, embed_checkpoint, list_snapshots,
                               load_snapshot, snapshot_like)
from workbench import neighbourhoods
from workbench.runs import CHECKPOINTS

PROJECTION_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
NEIGHBOURS = 15
MAX_GALLERY = 200  # thumbnails shown for a rectangle selection
FRAME_MS = 500  # timeline playback: two snapshots a second (slower when placing takes longer)
QUALITY_K = 10  # neighbourhood size for trustworthiness, continuity and false neighbours
KNN_K = 20  # leave-one-out kNN vote, as the trainer's kNN monitor (k = 20, T = 0.1)
FALSE_BELOW = 0.5  # a point is a false-neighbour point when fewer than half its map neighbours are true ones
PER_POINT_LIMIT = 20_000  # above this, false neighbours are checked on the summary's sample only
KNN_CORRECT = "kNN correct"  # the colour-by entry
COLLAPSE_SAMPLE = 20_000  # rows the collapse metrics are computed from

# UMAP compiles (numba) on its first use in a process; one warm-up for all explorers.
_umap = {"warm": False, "task": None}


def _warm_up_umap_once() -> None:
    if _umap["warm"] or _umap["task"] is not None:
        return
    task = run_task(lambda progress, cancel: warm_up_umap(), name="warm-up-umap")
    task.done.connect(lambda _: _umap.update(warm=True))
    task.ended.connect(lambda: _umap.update(task=None))
    _umap["task"] = task


def source_title(src: EmbeddingSource) -> str:
    """'snapshot step 93' / 'checkpoint best.pt (step 93)' for status lines and menus."""
    return f"snapshot step {src.step}" if src.label.startswith("snapshot") else src.label


class Explorer(QWidget):
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
        self._compute_task: Task | None = None
        self._place_task: Task | None = None
        self._pending_place: Path | None = None
        self._placed_at = 0.0
        self._playing = False
        self._clicked = -1
        self._gallery_indices: list[int] = []
        self._warmed = False
        self._map_task: Task | None = None  # trustworthiness, continuity, false neighbours of the shown map
        self._emb_task: Task | None = None  # kNN correctness and collapse metrics of the shown embeddings
        self._quality = None  # MapQuality of (self._source, self._xy)
        self._quality_for: tuple = (None, None)
        self._health: EmbeddingHealth | None = None
        self._health_for = None  # the embeddings array self._health describes
        self._emb_measuring = None  # the embeddings array self._emb_task measures

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
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedWidth(140)
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
        self.compare_open_button = QPushButton("Compare…")
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

        self.play_button = QPushButton("▶ Play")
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
        side.setMinimumWidth(280)

        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.scatter)
        splitter.addWidget(side)
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

        self.compare_view = CompareView()
        self.compare_view.back_requested.connect(self.close_compare)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.map_page)
        self.pages.addWidget(self.compare_view)
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
        self._snapshots = list_snapshots(self._run_dir) if self._run_dir else []
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
        self._run_dir, self._snapshots, self._given = None, [], source
        self._fill_sources()
        self.projection_combo.setCurrentIndex(self.projection_combo.findData(projection))
        self.compute()

    def compute(self) -> None:
        """Project the chosen source with the chosen method, off the GUI thread, replacing the reference map."""
        entry = self.source_combo.currentData()
        if entry is None:
            return
        method = self.projection_combo.currentData()
        self.stop()
        if self._compute_task is not None:
            self._compute_task.cancel()  # the newer request wins
        run_dir, base, given = self._run_dir, self._source, self._given
        cold_umap = method == "umap" and not _umap["warm"]

        def work(progress, cancel):
            kind, arg = entry
            share = 0.0  # fraction of the bar taken by getting the embeddings
            if kind == "snapshot":
                progress(-1, f"loading snapshot step {arg[0]}")
                # same run: reuse the shown items' images (snapshot_like reloads if the items differ)
                same_run = base is not None and base.run_dir == run_dir
                src = snapshot_like(base, arg[1]) if same_run else load_snapshot(run_dir, arg[1])
            elif kind == "checkpoint":
                share = 0.5
                stage = f"embedding with {arg}.pt"
                progress(0.0, stage)
                src = embed_checkpoint(run_dir, arg, cancel=cancel,
                                       progress=lambda f: progress(share * f, stage))
            else:
                src = given
            stage = "compiling UMAP (first use only)…" if cold_umap else PROJECTION_NAMES[method]
            # only t-SNE reports progress while it runs; the others show a busy bar
            progress(share if method == "tsne" else -1, stage)
            ref = ReferenceMap(method, seed=0)
            xy = ref.fit(src.embeddings, cancel=cancel,
                         progress=(lambda f: progress(share + (1 - share) * f, stage)) if method == "tsne" else None)
            return src, ref, xy

        task = run_task(work, self, name=f"explorer-{method}")
        self._compute_task = task
        task.progress.connect(self._on_progress)
        task.done.connect(lambda result, m=method: self._on_computed(task, m, result))
        task.failed.connect(lambda msg: self._on_task_failed(task, msg))
        task.cancelled.connect(lambda: self._on_compute_cancelled(task))
        self._on_progress(-1, "starting")
        self._update_controls()

    def cancel(self) -> None:
        """Stop the projection in progress; the previous map stays."""
        if self._compute_task is not None:
            self._compute_task.cancel()
            self.progress_label.setText("cancelling…")

    def is_computing(self) -> bool:
        return self._compute_task is not None

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
            self._snapshots = sorted([*self._snapshots, (step, path)])
            self._fill_sources(keep=True)
        if not self.live_check.isChecked():
            return
        # A map fitted on the untrained (step 0) snapshot says nothing about what training
        # builds, so the first trained snapshot gets a fresh map; later ones are placed into it.
        untrained_reference = self._reference is not None and self._reference_step == 0 and step > 0
        if self._reference is None or untrained_reference:
            if self._compute_task is None:
                self._select_source(("snapshot", (step, path)))
                self.compute()
            return
        self._request_place(path)

    def toggle_play(self) -> None:
        if self._playing:
            self.stop()
            return
        if len(self._snapshots) < 2 or self._reference is None:
            return
        self._playing = True
        self.play_button.setText("❚❚ Pause")
        if self.timeline.value() >= self.timeline.maximum():
            self.timeline.setValue(0)  # from the start; placing it continues the playback
        else:
            self._advance()

    def stop(self) -> None:
        """Stop timeline playback."""
        self._playing = False
        self.play_button.setText("▶ Play")

    def is_playing(self) -> bool:
        return self._playing

    def open_compare(self) -> None:
        """Show the comparison page for this run; the first time, compare two of its snapshots with PCA."""
        if self._run_dir is None:
            return
        self.stop()
        view = self.compare_view
        view.set_run(self._run_dir)
        self.pages.setCurrentWidget(view)
        if view.result is None and not view.is_computing():
            view.compare()

    def close_compare(self) -> None:
        self.pages.setCurrentWidget(self.map_page)

    def compare_with(self, other_run: Path | str) -> None:
        """Make another run (same data) the comparison's B, e.g. after choosing two runs in the runs browser."""
        if self._run_dir is not None:
            self.compare_view.set_run(self._run_dir)
            self.compare_view.set_other_run(Path(other_run))

    def is_busy(self) -> bool:
        """Whether any background job (projection, placing, Health, comparison) is still running."""
        return (self.is_computing() or self.is_measuring() or self._place_task is not None
                or self.compare_view.is_computing())

    def is_measuring(self) -> bool:
        """Whether the Health panel's numbers are still being computed."""
        return self._map_task is not None or self._emb_task is not None

    @property
    def map_quality(self):
        """MapQuality of the shown map, once computed (None before)."""
        src, xy = self._quality_for
        return self._quality if src is self._source and xy is self._xy else None

    @property
    def embedding_health(self) -> EmbeddingHealth | None:
        src = self._source
        return self._health if src is not None and self._health_for is src.embeddings else None

    def apply_theme(self) -> None:
        c = theme.colors()
        self.scatter.apply_theme()
        self.gallery.apply_theme()
        self.health.apply_theme()
        self.compare_view.apply_theme()
        if self._source is not None and self.colour_combo.currentText() == KNN_CORRECT:
            self._draw(reset_view=False)  # the muted "unlabelled" colour follows the theme
        self.status.setStyleSheet(f"color: {c['muted']};")
        self.progress_label.setStyleSheet(f"color: {c['muted']};")
        self.item_text.setStyleSheet(f"color: {c['text']};")

    # --- sources -----------------------------------------------------------------------------
    def _fill_sources(self, keep: bool = False) -> None:
        current = self.source_combo.currentData() if keep else None
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for step, path in reversed(self._snapshots):  # newest first
            self.source_combo.addItem(f"snapshot step {step}", ("snapshot", (step, path)))
        if self._run_dir is not None:
            for which in ("best", "last"):
                if (self._run_dir / CHECKPOINTS / f"{which}.pt").is_file():
                    self.source_combo.addItem(f"checkpoint: {which}", ("checkpoint", which))
        if self._given is not None:
            self.source_combo.addItem(source_title(self._given), ("given", None))
        if current is not None:
            self._select_source(current)
        self.source_combo.blockSignals(False)
        self.timeline.blockSignals(True)
        self.timeline.setRange(0, max(0, len(self._snapshots) - 1))
        self.timeline.blockSignals(False)
        self._sync_timeline()
        self._update_controls()

    def _select_source(self, entry) -> None:
        for i in range(self.source_combo.count()):
            data = self.source_combo.itemData(i)
            if data[0] == entry[0] and (data[1] == entry[1] or (data[0] == "snapshot" and data[1][1] == entry[1][1])):
                self.source_combo.blockSignals(True)
                self.source_combo.setCurrentIndex(i)
                self.source_combo.blockSignals(False)
                return

    def _on_source_chosen(self, _index: int) -> None:
        entry = self.source_combo.currentData()
        if entry is None:
            return
        if entry[0] == "snapshot" and self._reference is not None:
            self._request_place(entry[1][1])  # cheap, and keeps the map where it is
        else:
            self.compute()

    def _set_source(self, src: EmbeddingSource, xy: np.ndarray, fresh: bool = False) -> None:
        """Show src at xy: move the points when they are the same items, else redraw (fresh: a new map)."""
        old = self._source
        self._source, self._xy = src, np.asarray(xy)
        same_items = old is not None and old.indices.shape == src.indices.shape and np.array_equal(old.indices, src.indices)
        if old is None or old.factors.keys() != src.factors.keys():
            self._fill_colour_options(src)
        if not same_items:
            self._clicked = -1
            self._gallery_indices = []
            self.gallery.clear()
            self.gallery.set_title("")
            self.scatter.set_highlight([])
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

    def _select_current_in_combo(self) -> None:
        src = self._source
        if src is None or self._given is not None:
            return
        if src.label.startswith("snapshot"):
            path = next((p for s, p in self._snapshots if s == src.step), None)
            if path is not None:
                self._select_source(("snapshot", (src.step, path)))

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
            colours = category_colours(names)
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

    def _sync_timeline(self) -> None:
        src = self._source
        steps = [s for s, _ in self._snapshots]
        if src is not None and src.label.startswith("snapshot") and src.step in steps:
            self.timeline.blockSignals(True)
            self.timeline.setValue(steps.index(src.step))
            self.timeline.blockSignals(False)
        if steps:
            i = self.timeline.value()
            self.timeline_label.setText(f"step {steps[i]} ({i + 1}/{len(steps)})")
        else:
            self.timeline_label.setText("no snapshots")

    def _update_controls(self) -> None:
        computing = self._compute_task is not None
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

    def _finish_compute(self, task: Task) -> bool:
        """Whether task is still the current computation (a superseded one is ignored)."""
        if task is not self._compute_task:
            return False
        self._compute_task = None
        self._update_controls()
        return True

    def _on_computed(self, task: Task, method: str, result) -> None:
        if not self._finish_compute(task):
            return
        src, ref, xy = result
        if method == "umap":
            _umap["warm"] = True
        self._reference, self._projection = ref, method
        self._reference_title = source_title(src)
        self._reference_step = src.step if src.label.startswith("snapshot") else -1
        self._set_source(src, xy, fresh=True)

    def _on_compute_cancelled(self, task: Task) -> None:
        if self._finish_compute(task):
            self._set_status()
            self.status.setText(self.status.text() + ("  —  cancelled; showing the previous map"
                                                      if self._source is not None else "cancelled"))

    def _on_task_failed(self, task: Task, message: str) -> None:
        if task is self._compute_task:
            self._finish_compute(task)
        elif task is self._place_task:
            self._place_task = None
            self.stop()
        self.status.setText(f"⚠ {message}")

    # --- health: how honest the map is, and how healthy the embeddings ---------------------------
    def _measure(self) -> None:
        """Start (or restart) the Health computations for the shown map, off the GUI thread."""
        src, xy = self._source, self._xy
        if src is None or len(xy) != len(src):
            return
        projection = PROJECTION_NAMES[self._projection]
        if self._map_task is not None:
            self._map_task.cancel()  # a newer map (the timeline moved on) makes it moot
        n = len(src)
        k = min(QUALITY_K, (n - 1) // 2)  # trustworthiness needs k < N/2
        if k < 1:
            self._map_task = None
            self._quality, self._quality_for = None, (src, xy)
            self.health.set_map_quality(projection, None, FALSE_BELOW)
        else:
            emb = src.embeddings

            def measure_map(progress, cancel):
                return neighbourhoods.map_quality(emb, xy, k, metric="cosine", per_point=n <= PER_POINT_LIMIT,
                                                  progress=progress, cancel=cancel)

            map_task = run_task(measure_map, self, name="explorer-map-quality")
            self._map_task = map_task
            map_task.done.connect(lambda q: self._on_map_measured(map_task, src, xy, q))
            map_task.failed.connect(lambda msg: self._on_measure_failed(map_task, msg))
            map_task.cancelled.connect(lambda: self._on_measure_ended(map_task))
            if self._quality is None or not self._playing:  # during playback keep the last figures up
                self.health.set_map_busy(projection)
        if self.embedding_health is not None or (self._emb_task is not None and self._emb_measuring is src.embeddings):
            return
        if self._emb_task is not None:
            self._emb_task.cancel()
        emb, labels = src.embeddings, src.labels

        def measure_embeddings(progress, cancel):
            import torch

            from workbench.evaluate import collapse_metrics

            # a fixed 20,000-row sample estimates both metrics closely and keeps this torch call short
            # (a torch op still running in a daemon thread when the app quits aborts the process)
            rows = emb if len(emb) <= COLLAPSE_SAMPLE else emb[np.sort(
                np.random.default_rng(0).choice(len(emb), COLLAPSE_SAMPLE, replace=False))]
            metrics = collapse_metrics(torch.from_numpy(np.ascontiguousarray(rows)))
            correct = neighbourhoods.knn_correct(emb, labels, k=KNN_K, progress=progress, cancel=cancel)
            return EmbeddingHealth(dim=emb.shape[1], std_ratio=float(metrics["std_ratio"]),
                                   effective_rank=float(metrics["effective_rank"]), knn_k=KNN_K,
                                   knn_correct=correct)

        emb_task = run_task(measure_embeddings, self, name="explorer-embedding-health")
        self._emb_task, self._emb_measuring = emb_task, emb  # the same embeddings are not measured twice
        emb_task.done.connect(lambda h: self._on_embeddings_measured(emb_task, emb, h))
        emb_task.failed.connect(lambda msg: self._on_measure_failed(emb_task, msg))
        emb_task.cancelled.connect(lambda: self._on_measure_ended(emb_task))
        if self._health is None or not self._playing:
            self.health.set_embedding_busy()

    def _on_map_measured(self, task: Task, src, xy, quality) -> None:
        self._on_measure_ended(task)
        if src is not self._source or xy is not self._xy:
            return  # the map moved on meanwhile; its own measurement follows
        self._quality, self._quality_for = quality, (src, xy)
        self.health.set_map_quality(PROJECTION_NAMES[self._projection], quality, FALSE_BELOW)
        self._show_marks()

    def _on_embeddings_measured(self, task: Task, emb: np.ndarray, health: EmbeddingHealth) -> None:
        self._on_measure_ended(task)
        self._health, self._health_for = health, emb
        if self._source is not None and self._source.embeddings is emb:
            self.health.set_embedding_health(health)
            if self.colour_combo.currentText() == KNN_CORRECT:
                self._draw(reset_view=False)

    def _on_measure_failed(self, task: Task, message: str) -> None:
        self._on_measure_ended(task)
        self.health.verdict.setText(f"⚠ {message}")

    def _on_measure_ended(self, task: Task) -> None:
        if task is self._map_task:
            self._map_task = None
        elif task is self._emb_task:
            self._emb_task = None

    def _show_marks(self) -> None:
        quality = self.map_quality
        if self.marks_check.isChecked() and quality is not None:
            self.scatter.set_marked(quality.false_neighbours(FALSE_BELOW))
        elif not self.marks_check.isChecked():
            self.scatter.set_marked([])

    # --- placing snapshots into the reference map (timeline, live) ----------------------------
    def _request_place(self, path: Path) -> None:
        if self._reference is None or self._source is None:
            return
        if self._place_task is not None:
            self._pending_place = Path(path)  # newest request wins; placed when the current one ends
            return
        base, ref, path = self._source, self._reference, Path(path)

        def work(progress, cancel):
            src = snapshot_like(base, path)
            progress(-1, "placing")
            return src, ref.place(src.embeddings)

        self._placed_at = time.monotonic()
        task = run_task(work, self, name="explorer-place")
        self._place_task = task
        task.done.connect(lambda result: self._on_placed(task, ref, result))
        task.failed.connect(lambda msg: self._on_task_failed(task, msg))
        task.cancelled.connect(lambda: self._on_place_ended(task))

    def _on_placed(self, task: Task, ref: ReferenceMap, result) -> None:
        if task is not self._place_task:
            return
        if ref is self._reference:  # a map computed meanwhile makes this placement stale
            src, xy = result
            self._set_source(src, xy)
            self.scatter.keep_in_view()
        self._on_place_ended(task)

    def _on_place_ended(self, task: Task) -> None:
        if task is not self._place_task:
            return
        self._place_task = None
        if self._pending_place is not None:
            path, self._pending_place = self._pending_place, None
            self._request_place(path)
        elif self._playing:
            wait = max(0, int(FRAME_MS - 1000 * (time.monotonic() - self._placed_at)))
            QTimer.singleShot(wait, self._advance)

    def _on_timeline(self, value: int) -> None:
        if 0 <= value < len(self._snapshots):
            step, path = self._snapshots[value]
            self.timeline_label.setText(f"step {step} ({value + 1}/{len(self._snapshots)})")
            self._request_place(path)

    def _advance(self) -> None:
        if not self._playing:
            return
        if self.timeline.value() >= self.timeline.maximum():
            self.stop()
            return
        self.timeline.setValue(self.timeline.value() + 1)

    # --- hover, click, select ----------------------------------------------------------------
    def _show_item(self, i: int) -> None:
        src = self._source
        if src is None or not 0 <= i < len(src):
            return
        self.item_image.setPixmap(thumbnail(src.images[i], 160))
        lines = [f"<b>{src.describe(i)}</b>"]
        if src.factors:
            lines.append(" · ".join(f"{k}: {src.factor_values[k][int(v[i])]}" for k, v in src.factors.items()))
        elif src.labels[i] >= 0:
            name = src.class_names[int(src.labels[i])] if src.class_names else str(int(src.labels[i]))
            lines.append(f"label: {name}")
        self.item_text.setText("<br>".join(lines))

    def _on_hover(self, i: int) -> None:
        if i >= 0:
            self._show_item(i)
        elif self._clicked >= 0:
            self._show_item(self._clicked)  # back to the item whose neighbours are shown

    def _on_click(self, i: int) -> None:
        if self._source is None:
            return
        self._clicked = i
        self._show_item(i)
        self._show_neighbours(i)
        self.point_clicked.emit(i)

    def _show_neighbours(self, i: int) -> None:
        src = self._source
        idx, scores = nearest_neighbours(src.embeddings, int(i), k=NEIGHBOURS, metric="cosine")
        labelled = src.labels[i] >= 0
        items = []
        for j, s in zip(idx, scores):
            frame = (SAME if src.labels[j] == src.labels[i] else DIFFERENT) if labelled else None
            items.append((src.images[j], f"cos {s:.2f}", src.describe(int(j)), frame))
        self._gallery_indices = [int(j) for j in idx]
        self.gallery.set_title(f"{len(idx)} nearest neighbours of {src.describe(i)} (cosine, "
                               f"{src.embeddings.shape[1]}-d)")
        self.gallery.set_items(items)
        self._highlight_neighbours()

    def _highlight_neighbours(self) -> None:
        i = self._clicked
        if i < 0 or not self._gallery_indices:
            return
        c = theme.colors()
        self.scatter.set_highlight([i, *self._gallery_indices], [c["text"]] + [c["accent"]] * len(self._gallery_indices))

    def _on_selected(self, indices: np.ndarray) -> None:
        src = self._source
        if src is None:
            return
        self._clicked = -1
        shown = [int(j) for j in indices[:MAX_GALLERY]]
        self._gallery_indices = shown
        self.scatter.set_highlight([])
        title = f"{len(indices):,} selected"
        if len(indices) > len(shown):
            title += f" (showing the first {len(shown)})"
        self.gallery.set_title(title)
        self.gallery.set_empty_text("No points inside the rectangle.")
        self.gallery.set_items([(src.images[j], src.describe(j).split(" · ")[0], src.describe(j), None) for j in shown])

    def _on_gallery_clicked(self, row: int) -> None:
        if 0 <= row < len(self._gallery_indices):
            self._on_click(self._gallery_indices[row])  # walk from neighbour to neighbour

    # --- lifecycle ---------------------------------------------------------------------------
    def cancel_background(self) -> None:
        """Ask every background job (projection, placing, Health measurements) to stop.

        Each one reports back when it has, so is_computing() / is_measuring() stay true until then.
        """
        self.stop()
        self._pending_place = None
        for task in (self._compute_task, self._place_task, self._map_task, self._emb_task):
            if task is not None:
                task.cancel()
        self.compare_view.cancel()

    def _reset(self) -> None:
        self.cancel_background()
        # forget them: their late results name tasks that are no longer current, and are ignored
        self._compute_task = self._place_task = self._map_task = self._emb_task = None
        self._quality, self._quality_for, self._health, self._health_for = None, (None, None), None, None
        self.health.clear()
        self.scatter.set_marked([])
        self._source, self._reference, self._reference_title = None, None, ""
        self._xy = np.zeros((0, 2), np.float32)
        self._clicked = -1
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


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    explorer = Explorer()
    if len(sys.argv) > 1:
        explorer.set_run(Path(sys.argv[1]))
    else:  # no run: a synthetic 100k-point source, to feel how the map copes with size
        from workbench.explore import EmbeddingSource as _Source
        rng = np.random.default_rng(0)
        n, k = 100_000, 10
        labels = rng.integers(0, k, n)
        emb = (rng.normal(0, 3, (k, 64))[labels] + rng.normal(0, 1, (n, 64))).astype(np.float32)
        imgs = np.repeat((labels * 25).astype(np.uint8)[:, None, None, None], 8, 1).repeat(8, 2).repeat(3, 3)
        explorer.show_source(_Source(Path("."), "synthetic 100k", 0, emb, labels, np.arange(n), imgs,
                                     [f"class {i}" for i in range(k)]))
    explorer.resize(1200, 800)
    explorer.show()
    sys.exit(app.exec())
