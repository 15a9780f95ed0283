"""The run panel: pick a method and data, set it up from its Config, and Start / Pause / Stop."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QScrollArea, QSizePolicy, QSpinBox, QTreeWidgetItem, QVBoxLayout, QWidget)

from workbench.backbone_rules import BACKBONES, backbone_problem, method_backbone_problem
from workbench.config import RunConfig, absolute_data_root, new_run_config
from workbench.data import list_datasets
from workbench.devices import available_devices
from workbench.folder_check import image_folder_problem
from workbench.launch import gpu_count
from workbench.estimate import describe
from workbench.method_listing import listing

from . import theme
from .config_form import ConfigForm
from .method_tree import Collapsible, MethodTree, method_tooltip
from .run_summary import RunSummary

# RunConfig fields shown up front; the rest sit under "Advanced".
MAIN_FIELDS = ["epochs", "batch_size", "lr", "optimizer", "backbone", "seed"]
ADVANCED_FIELDS = ["weight_decay", "momentum", "warmup_epochs", "grad_clip", "amp", "image_size", "data_path",
                   "eval_every", "checkpoint_every", "probe_size", "preview_interval",
                   "linear_probe", "threads", "lr_scaling", "lr_base_batch", "sync_bn"]


class RunPanel(QWidget):
    """Everything needed to start a run; emits start_requested with a complete RunConfig."""

    start_requested = Signal(object)  # RunConfig
    measure_estimates = True  # False: only figures timed before are shown (GUI tests, screenshots)
    ESTIMATE_DELAY_MS = 1200  # after the last edit: a person trying settings does not start a measurement per keystroke
    pause_requested = Signal()
    resume_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._entries = listing()  # read without importing the plugins (and torch): the window paints first
        self._state = "idle"
        self.setMinimumWidth(290)

        # method picker, grouped by family; broken plugins greyed with their error
        self.methods = MethodTree()
        self._method_items = self.methods.fill(self._entries)
        self.methods.currentItemChanged.connect(self._on_method)
        self.method_info = QLabel()
        self.method_info.setWordWrap(True)
        self.method_info.setTextFormat(Qt.RichText)

        # dataset picker
        self.dataset = QComboBox()
        self.dataset.setObjectName("datasetPicker")
        for info in list_datasets():
            suffix = "" if info.embedded else " (needs a file)" if info.modality == "text" else " (needs a folder)"
            self.dataset.addItem(f"{info.title}{suffix}", info.name)
            self.dataset.setItemData(self.dataset.count() - 1, info.description, Qt.ToolTipRole)
        self._infos = {i.name: i for i in list_datasets()}
        self.dataset.currentIndexChanged.connect(self._on_dataset)
        self.root = QLineEdit()
        self.root.setPlaceholderText("folder holding the data")
        self.root.textChanged.connect(self._update_start)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_root)
        self.root_row = QWidget()
        row = QHBoxLayout(self.root_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.root)
        row.addWidget(browse)
        add_folder = QPushButton("Add image folder…")
        add_folder.setToolTip("Train on your own images (sub-folders become classes). "
                              "You can also drop a folder onto the window.")
        add_folder.clicked.connect(self._add_folder)

        # settings
        self.run_form = ConfigForm()
        self.advanced_form = ConfigForm()
        self.method_form = ConfigForm()
        for form in (self.run_form, self.advanced_form, self.method_form):
            form.changed.connect(self._update_start)
        self.device = QComboBox()
        self.device.setObjectName("devicePicker")
        for value, label in available_devices():
            self.device.addItem(label, value)
        # processes: one per GPU, or CPU processes; > 1 trains through torch.distributed.run
        self.gpus = gpu_count()
        self.processes = QSpinBox()
        self.processes.setObjectName("processesPicker")
        self.processes.setValue(1)
        self.processes_label = QLabel("Processes")
        self.processes.valueChanged.connect(self._update_start)
        self.device.currentIndexChanged.connect(self._update_processes)
        self._update_processes()

        # named recipes (workbench.recipes): choosing one fills the forms; edits made after it win
        self.recipe = QComboBox()
        self.recipe.setObjectName("recipePicker")
        self.recipe.activated.connect(self._apply_recipe)

        # buttons
        self.start_button = QPushButton(theme.icon("start"), "Start")
        self.start_button.setObjectName("startButton")
        self.start_button.setToolTip("Start training (Ctrl+R)")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(32)
        self.pause_button = QPushButton(theme.icon("pause"), "Pause")
        self.pause_button.setObjectName("pauseButton")
        self.stop_button = QPushButton(theme.icon("stop"), "Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop after the current step and keep a checkpoint (Ctrl+.)")
        self.start_button.clicked.connect(self._start)
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.stop_button.clicked.connect(self.stop_requested)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        theme.set_look(self.problem, tone="error")
        # how long the chosen run would take here (set_estimator): timed a moment after the last edit
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("runEstimate")
        self.estimate_label.setWordWrap(True)
        theme.set_look(self.estimate_label, tone="muted")
        self.estimate_label.hide()
        self.estimator = None
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(self.ESTIMATE_DELAY_MS)
        self._estimate_timer.timeout.connect(self._estimate)
        self._estimating: str | None = None  # setup key of the run the label speaks of

        # layout
        body = QWidget()
        v = QVBoxLayout(body)
        self.summary = RunSummary()
        self.summary.use_requested.connect(self.apply_config)
        v.addWidget(self.summary)
        method_box = QGroupBox("Method")
        mv = QVBoxLayout(method_box)
        mv.addWidget(self.methods)
        mv.addWidget(self.method_info)
        data_box = QGroupBox("Data")
        dv = QVBoxLayout(data_box)
        dv.addWidget(self.dataset)
        dv.addWidget(self.root_row)
        dv.addWidget(add_folder)
        self.add_folder_button = add_folder
        train_box = QGroupBox("Training")
        tv = QVBoxLayout(train_box)
        recipe_row = QHBoxLayout()
        recipe_row.addWidget(QLabel("Recipe"))
        recipe_row.addWidget(self.recipe, 1)
        tv.addLayout(recipe_row)
        tv.addWidget(self.run_form)
        device_row = QHBoxLayout()
        device_row.addWidget(QLabel("Device"))
        device_row.addWidget(self.device, 1)
        tv.addLayout(device_row)
        processes_row = QHBoxLayout()
        processes_row.addWidget(self.processes_label)
        processes_row.addWidget(self.processes, 1)
        tv.addLayout(processes_row)
        tv.addWidget(Collapsible("Advanced", self.advanced_form))
        self.method_box = QGroupBox("Method settings")
        QVBoxLayout(self.method_box).addWidget(self.method_form)
        for box in (method_box, data_box, train_box, self.method_box):
            v.addWidget(box)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addWidget(scroll, 1)
        outer.addWidget(self.problem)
        outer.addWidget(self.estimate_label)
        outer.addLayout(buttons)
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)

        self._on_dataset()
        self.select_method("simclr" if "simclr" in self._method_items else next(iter(self._method_items), ""))
        self.set_state("idle")

    # --- selection --------------------------------------------------------------------------
    def method_name(self) -> str:
        item = self.methods.currentItem()
        return item.data(0, Qt.UserRole) if item is not None and item.data(0, Qt.UserRole) else ""

    def dataset_name(self) -> str:
        return self.dataset.currentData()

    def select_method(self, name: str) -> None:
        item = self._method_items.get(name)
        if item is not None:
            self.methods.setCurrentItem(item)

    def select_dataset(self, name: str, root: str | None = None) -> None:
        i = self.dataset.findData(name)
        if i >= 0:
            self.dataset.setCurrentIndex(i)
        if root is not None:
            self.root.setText(root)

    def set_folder(self, path: str | Path) -> str | None:
        """Use an image folder (from 'Add image folder…' or a drop on the window). It is checked at
        once: a folder that cannot be trained on keeps Start disabled, with the reason on the problem
        line, which is also returned."""
        self.select_dataset("folder", str(path))
        return self._folder_problem(str(path).strip())

    def show_run(self, name: str, run: RunConfig) -> None:
        """Say which run the tabs show, with its method, data and settings."""
        entry = self._entries.get(run.method)
        info = self._infos.get(run.dataset)
        self.summary.show_run(name, run, entry.info.title if entry and entry.ok else run.method,
                              info.title if info else run.dataset,
                              has_backbone=not (info and info.modality == "text"))  # word methods own their tables

    def apply_config(self, run: RunConfig) -> None:
        """Fill the panel with a run's method, data and settings ("Use these settings")."""
        self.select_method(run.method)
        self.select_dataset(run.dataset, run.data_root or "")
        for form in (self.run_form, self.advanced_form):
            for name in form.values():
                form.set_value(name, getattr(run, name))
        for name, value in run.method_config.items():
            self.method_form.set_value(name, value)
        i = self.device.findData(run.device)
        if i >= 0:
            self.device.setCurrentIndex(i)
        self.processes.setValue(run.processes)
        self._update_start()

    def _on_method(self, current: QTreeWidgetItem | None, _previous=None) -> None:
        name = current.data(0, Qt.UserRole) if current is not None else None
        if not name:
            return
        cls = self._entries[name].info
        self.method_info.setText(f"{cls.summary}<br><span style='color: {theme.colors()['muted']}'>{cls.reference}</span>")
        defaults = RunConfig()
        values = {**{f: getattr(defaults, f) for f in MAIN_FIELDS + ADVANCED_FIELDS}, **cls.run_defaults}
        current_run = self.run_form.values() if hasattr(self, "_built") else {}
        # keep what the user chose for epochs/seed/backbone; take the method's preferences
        values.update({k: v for k, v in current_run.items() if k in ("epochs", "seed", "backbone")})
        self.run_form.set_dataclass(RunConfig, values, only=MAIN_FIELDS)
        if not hasattr(self, "_built"):
            self.advanced_form.set_dataclass(RunConfig, values, only=ADVANCED_FIELDS)
            self._built = True
        self.method_form.set_dataclass(cls.Config)
        self._show_for_modality()  # the rebuilt form shows every field again
        self.method_box.setTitle(f"{cls.title} settings")
        self._refresh_recipes()
        self._update_start()

    def _on_dataset(self, *_):
        info = self._infos.get(self.dataset_name())
        self.root_row.setVisible(bool(info and info.needs_root))
        self._show_for_modality()
        self._mark_methods(info.modality if info else None)
        self._refresh_recipes()
        self._update_start()

    def _show_for_modality(self) -> None:
        """Text data has no backbone (word methods own their tables) and no use for an image folder: neither is
        shown while it is chosen (the image-folder button and backbone field did nothing for a word run)."""
        info = self._infos.get(self.dataset_name())
        text = bool(info and info.modality == "text")
        self.add_folder_button.setVisible(not text)
        if hasattr(self, "_built"):
            self.run_form.set_row_visible("backbone", not text)

    def _refresh_recipes(self) -> None:
        """List the recipes shipped for the chosen method and data ("quick", "best")."""
        from workbench.recipes import recipes_for
        self.recipe.clear()
        self.recipe.addItem("Your settings", None)
        for name, recipe in recipes_for(self.method_name(), self.dataset_name() or "").items():
            self.recipe.addItem(name, name)
            self.recipe.setItemData(self.recipe.count() - 1, recipe.measured or name, Qt.ToolTipRole)
        self.recipe.setEnabled(self.recipe.count() > 1)
        self.recipe.setToolTip("Settings found by measurement for this method and data (docs/BENCHMARKS.md)"
                               if self.recipe.count() > 1 else "No recipe is shipped for this method and data")

    def _apply_recipe(self, *_) -> None:
        from workbench.recipes import find_recipe
        name, method = self.recipe.currentData(), self.method_name()
        if not name or not method:
            return
        recipe = find_recipe(name, method, self.dataset_name())
        for key, value in recipe.run_settings().items():
            (self.run_form if key in MAIN_FIELDS else self.advanced_form).set_value(key, value)
        for key, value in recipe.method_settings(self._entries[method].info.Config).items():
            self.method_form.set_value(key, value)
        self._update_start()

    def _modality_problem(self, cls, modality: str) -> str | None:
        """Why this method cannot train on data of `modality`, naming data it can use."""
        if cls.accepts(modality):
            return None
        kinds = cls.modalities or (cls.modality,)
        usable = [i.title for i in self._infos.values() if i.modality in kinds and i.embedded]
        hint = f": pick {' or '.join(usable[:2])}" if usable else ""
        return f"{cls.title} works on {' or '.join(kinds)} data, not {modality}{hint}."

    def _mark_methods(self, modality: str | None) -> None:
        """Grey the methods that cannot train on the chosen data; they stay selectable, so a
        click explains why (the problem line) instead of silently doing nothing."""
        muted = QBrush(QColor(theme.colors()["muted"]))
        for name, item in self._method_items.items():
            cls = self._entries[name].info
            problem = self._modality_problem(cls, modality) if modality else None
            item.setForeground(0, muted if problem else QBrush())
            tip = method_tooltip(cls)
            item.setToolTip(0, f"{problem}\n\n{tip}" if problem else tip)

    def _browse_root(self) -> None:
        if self.dataset_name() == "textfile":  # one text file, not a folder
            path, _ = QFileDialog.getOpenFileName(self, "Choose a text file", self.root.text(),
                                                  "Text files (*.txt *.text *.md);;All files (*)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Choose the data folder", self.root.text())
        if path:
            self.root.setText(path)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an image folder")
        if folder:
            self.set_folder(folder)  # a refused folder's reason shows on the problem line

    # --- config -----------------------------------------------------------------------------
    def problems(self) -> list[str]:
        out = []
        if not self.method_name():
            out.append("Pick a method.")
        info = self._infos.get(self.dataset_name())
        entry = self._entries.get(self.method_name())
        modality_problem = self._modality_problem(entry.info, info.modality) if info and entry and entry.ok else None
        if modality_problem:
            out.append(modality_problem)
        elif info and entry and entry.ok and info.modality == "image" and info.channels not in entry.info.input_channels:
            out.append(f"{entry.info.title} needs colour images: pick Shapes, CIFAR-10 or an image folder.")
        backbone = self.run_form.values().get("backbone") if hasattr(self, "_built") else None
        self._mark_backbones(entry.info if entry and entry.ok else None, info)
        backbone_problem = (method_backbone_problem(entry.info, backbone, info.modality, self._input_shape(info))
                            if info and backbone and entry and entry.ok else None)
        if backbone_problem:
            out.append(f"{backbone_problem}.")
        if info and info.needs_root and not self.root.text().strip():
            out.append(f"{info.title} needs a {'file' if info.modality == 'text' else 'folder'}: "
                       f"choose one with Browse….")
        elif info and info.name == "folder":
            out.extend(filter(None, [self._folder_problem(self.root.text().strip())]))
        for form in (self.run_form, self.advanced_form, self.method_form):
            out.extend(form.errors().values())
        batch = self.run_form.values().get("batch_size") if hasattr(self, "_built") else None
        n = self.processes.value()
        if n > 1 and isinstance(batch, int) and batch % n:
            out.append(f"Batch size {batch} does not split evenly over {n} "
                       f"{self.processes_label.text().lower()}: use a multiple of {n}.")
        return out

    def _folder_problem(self, root: str) -> str | None:
        """Why the chosen folder cannot be trained on (workbench.folder_check), checked once per path."""
        if getattr(self, "_folder_checked", (None,))[0] != root:
            self._folder_checked = (root, image_folder_problem(root))
        return self._folder_checked[1]

    def _input_shape(self, info) -> tuple[int, int, int] | None:
        """(C, side, side) the chosen image data will have (every image set is resized to
        image_size), or None for other data or before the forms exist."""
        if info is None or info.modality != "image" or not hasattr(self, "_built"):
            return None
        side = self.advanced_form.values().get("image_size")
        return (info.channels, int(side), int(side)) if side else None

    def _mark_backbones(self, cls, info) -> None:
        """Grey the backbones that cannot encode the chosen data (with this method); each
        item's tooltip says why. They stay selectable: the problem line explains the choice."""
        box = self.run_form.editor("backbone") if hasattr(self, "_built") else None
        if box is None or info is None:
            return
        muted = QBrush(QColor(theme.colors()["muted"]))
        shape = self._input_shape(info)
        for i in range(box.count()):
            name = box.itemData(i)
            problem = (method_backbone_problem(cls, name, info.modality, shape) if cls is not None
                       else backbone_problem(name, info.modality, shape))
            box.setItemData(i, muted if problem else None, Qt.ForegroundRole)
            box.setItemData(i, problem or BACKBONES.get(name, ""), Qt.ToolTipRole)

    def _on_gpus(self) -> bool:
        return self.gpus > 0 and self.device.currentData() in ("auto", "cuda")

    def _update_processes(self, *_) -> None:
        """"GPUs" (up to the count found) when training on CUDA, else CPU "Processes"."""
        on_gpus = self._on_gpus()
        self.processes_label.setText("GPUs" if on_gpus else "Processes")
        self.processes.setRange(1, self.gpus if on_gpus else max(1, os.cpu_count() or 1))
        self.processes.setToolTip(
            "Train on this many GPUs, one process each, through torch.distributed.run; the "
            "batch size is the global batch, split evenly." if on_gpus else
            "Train in this many CPU processes through torch.distributed.run (gloo); the batch "
            "size is the global batch, split evenly. 1 trains in one process.")

    def run_config(self) -> RunConfig:
        """The RunConfig the form describes (call only when problems() is empty)."""
        name = self.method_name()
        settings = {**self.run_form.values(), **self.advanced_form.values()}
        run = new_run_config(name, self.dataset_name(), device=self.device.currentData(), **settings)
        root = self.root.text().strip()
        run.data_root = root if root and self.root_row.isVisible() else None
        run.method_config = self.method_form.values()
        run.processes = self.processes.value()
        return absolute_data_root(run)

    def _update_start(self, *_):
        problems = self.problems()
        self.problem.setText(problems[0] if problems else "")
        self.problem.setVisible(bool(problems))
        self.start_button.setEnabled(self._state in ("idle", "finished", "stopped", "failed") and not problems)
        if self.estimator is not None:
            self._show_estimate(problems)

    # --- run-time estimate ------------------------------------------------------------------
    def set_estimator(self, estimator) -> None:
        """Say under the form how long the chosen run takes on this machine (ui.estimator: a few real steps
        timed in a subprocess, cached per setup), for every method, data and settings, before Start."""
        self.estimator = estimator
        estimator.estimated.connect(self._on_estimated)
        estimator.failed.connect(self._on_estimate_failed)
        self._update_start()

    def _show_estimate(self, problems: list[str]) -> None:
        """The figure at once when this setup was timed before (epochs rescale it), else time it a moment
        after the last edit; nothing while the form has a problem or a run is under way."""
        from .estimator import setup_key
        self._estimate_timer.stop()
        if problems or self._state not in ("idle", "finished", "stopped", "failed"):
            self._estimating = None
            self.estimate_label.hide()
            return
        run = self.run_config()
        self._estimating = setup_key(run)
        known = self.estimator.cached(run)
        if known is not None:
            self._say_estimate(known)
            return
        if not self.measure_estimates:
            self.estimate_label.hide()
            return
        self.estimate_label.setText("Run time: timing a few steps of this setup…")
        self.estimate_label.setToolTip("A few real training steps are timed in a separate process "
                                       "(workbench.estimate) once you stop editing.")
        self.estimate_label.show()
        self._estimate_timer.start()

    def _estimate(self) -> None:
        if self._estimating is not None and self.estimator is not None and not self.problems():
            self.estimator.estimate(self.run_config(), wait=True)

    def _say_estimate(self, seconds: float) -> None:
        self.estimate_label.setText(f"Run time: {describe(seconds)} on this machine.")
        self.estimate_label.setToolTip("From a few real steps of this method, data and settings timed here, "
                                       "extrapolated to the epochs and evaluations set above.")
        self.estimate_label.show()

    def _on_estimated(self, key: str, _seconds: float) -> None:
        if key == self._estimating:
            known = self.estimator.cached(self.run_config())  # for the epochs set now
            if known is not None:
                self._say_estimate(known)

    def _on_estimate_failed(self, key: str, why: str) -> None:
        if key == self._estimating:
            self.estimate_label.setText(f"Run time: could not be timed here ({why}).")
            self.estimate_label.show()

    def _start(self) -> None:
        if not self.problems():
            self.start_requested.emit(self.run_config())

    def _pause_or_resume(self) -> None:
        (self.resume_requested if self._state == "paused" else self.pause_requested).emit()

    def set_state(self, state: str) -> None:
        """Enable the buttons that make sense: idle/running/paused/stopping/finished/failed."""
        self._state = state
        active = state in ("starting", "running", "paused", "stopping")
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.pause_button.setIcon(theme.icon("resume" if state == "paused" else "pause"))
        self.pause_button.setToolTip("Continue training" if state == "paused" else "Pause after this step")
        self.stop_button.setEnabled(state in ("starting", "running", "paused"))
        if active and self.estimator is not None and self.estimator.is_measuring():
            self.estimator.cancel()  # steps timed beside a training run would be wrong, and slow it down
        for w in (self.methods, self.dataset, self.root_row, self.run_form, self.advanced_form,
                  self.method_form, self.device, self.processes):
            w.setEnabled(not active)
        self._update_start()


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    panel = RunPanel()
    panel.start_requested.connect(lambda run: print(run))
    panel.resize(380, 900)
    panel.show()
    sys.exit(app.exec())
