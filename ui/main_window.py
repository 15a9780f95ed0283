"""The main window: run panel, live dashboard, inspector, explorer, analogies and the runs browser."""
from __future__ import annotations

import importlib
import threading
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QFrame, QHBoxLayout, QLabel,
                               QMainWindow, QMessageBox, QProgressBar, QPushButton, QStackedWidget,
                               QVBoxLayout, QWidget)

from workbench.config import ConfigError, load_run_config
from workbench.folder_check import image_folder_problem
from workbench.runs import RunDir, create_run_dir, default_runs_root, is_run_dir, worker_alive

from . import theme
from .caption_search import CaptionSearch
from .estimator import Estimator
from .inspector import Inspector
from .page_tabs import PageTabs
from .run_follower import RunFollower
from .run_panel import RunPanel
from .runs_browser import RunsBrowser
from .welcome import Welcome
from .worker_client import WorkerClient

TABS = ("Dashboard", "Inspector", "Explorer", "Analogies", "Runs")
# Pages built after the first paint (the first screen, the welcome page, shows none of them), one per turn
# of the event loop, or at once when something asks for one: name -> tab index.
LATER = {"dashboard": 0, "explorer": 2, "analogies": 3}
# What those pages import, imported on a thread after the first paint: pyqtgraph alone is ~0.4 s of CPU
# (it copies every PySide6 class), which the GUI thread then does not spend. No Qt objects are made there.
LATER_IMPORTS = ("numpy.ma", "pyqtgraph", "workbench.curves", "workbench.analysis", "workbench.explore")


class Banner(QFrame):
    """A non-modal message strip above the tabs, e.g. when the worker died."""

    resume_clicked = Signal()

    def __init__(self):
        super().__init__()
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.resume = QPushButton("Resume from last checkpoint")
        self.resume.clicked.connect(self.resume_clicked)
        dismiss = QPushButton("Dismiss")
        dismiss.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.text, 1)
        row.addWidget(self.resume)
        row.addWidget(dismiss)
        self.hide()

    def show_message(self, message: str, kind: str = "error", resumable: bool = False) -> None:
        theme.set_look(self, kind="error" if kind == "error" else "warning")  # coloured by resources/style.qss
        self.text.setText(message)
        self.resume.setVisible(resumable)
        self.show()


class MainWindow(QMainWindow):
    _imported = Signal()  # LATER_IMPORTS are in (emitted from the importing thread)

    def __init__(self, runs_root: Path | None = None, settings: QSettings | None = None,
                 antialias: bool = False):
        super().__init__()
        self._antialias = antialias  # pyqtgraph's option, set before the first plot is built
        self.settings = settings or QSettings()
        self.setWindowTitle("SSL Workbench")
        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        root = runs_root or self.settings.value("runs_root") or default_runs_root()
        self.runs_root = Path(root)
        self.run_dir: Path | None = None  # the run shown in the tabs
        self._close_when_idle = False

        self.client = WorkerClient(self)
        self.follower = RunFollower(self)
        self.panel = RunPanel()
        self.inspector = Inspector()
        self._built: dict[str, QWidget] = {}  # the LATER pages built so far
        self._later_started = False
        self.browser = RunsBrowser()
        self.browser.set_root(self.runs_root)
        self.banner = Banner()
        self.estimator = Estimator(self.settings, self)
        self.welcome = Welcome(self.estimator)
        self.panel.set_estimator(self.estimator)

        self.tabs = PageTabs()  # pages scroll rather than widen the window (it fits 1280×720)
        self.tabs.setDocumentMode(True)
        for index, name in enumerate(TABS):  # a LATER page's tab holds an empty page until it is built
            self.tabs.addTab(self.inspector if name == "Inspector" else self.browser if name == "Runs"
                             else QWidget(), name)
        self.caption_search = CaptionSearch()  # image–text runs (clip); others get a one-line note
        self.tabs.addTab(self.caption_search, "Captions")
        central = QWidget()
        v = QVBoxLayout(central)
        v.setContentsMargins(6, 6, 6, 0)
        v.addWidget(self.banner)
        # the first screen offers a ready example instead of empty plots, until a run is shown
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.tabs)
        v.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.dock = dock = QDockWidget("New run", self)
        dock.setObjectName("runDock")
        dock.setWidget(self.panel)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                         | QDockWidget.DockWidgetClosable)  # closes to give the tabs the whole width
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)

        self.state_label = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.statusBar().addWidget(self.state_label, 1)
        self.statusBar().addPermanentWidget(self.progress)

        self._wire()
        self._menus()
        self._restore_settings()

    # --- wiring -----------------------------------------------------------------------------
    def _wire(self) -> None:
        p, c = self.panel, self.client
        p.start_requested.connect(self.start_run)
        p.pause_requested.connect(c.pause)
        p.resume_requested.connect(c.resume)
        p.stop_requested.connect(c.stop)
        c.event.connect(self._on_event)
        c.state_changed.connect(self._on_state)
        c.run_failed.connect(self._on_failed)
        self.follower.event.connect(self._on_event)
        self.banner.resume_clicked.connect(self.resume_run)
        self.browser.open_run.connect(self.open_run)
        self.browser.compare_runs.connect(self.compare_runs)
        self.browser.resume_run.connect(self.resume_run)
        self.browser.root_changed.connect(self._set_root)
        self.tabs.currentChanged.connect(self._tab_shown)
        self.pages.currentChanged.connect(lambda: self._tab_shown(self.tabs.currentIndex()))
        self._imported.connect(self._build_next)
        self.tabs.page_requested.connect(lambda: self.pages.setCurrentWidget(self.tabs))
        self.welcome.start_example.connect(self._start_example)
        self.welcome.open_requested.connect(self.open_run_dialog)
        self.welcome.runs_requested.connect(lambda: self.tabs.setCurrentWidget(self.browser))

    # --- pages built after the first paint ---------------------------------------------------
    @property
    def dashboard(self):
        return self._page("dashboard")

    @property
    def explorer(self):
        return self._page("explorer")

    @property
    def analogies(self):
        return self._page("analogies")

    def _page(self, name: str) -> QWidget:
        """A LATER page, built now if it is not yet (a tab clicked, a run shown, a theme switched before the
        idle build came to it)."""
        page = self._built.get(name)
        if page is None:
            self._plots_ready()
            page = self._built[name] = getattr(self, f"_build_{name}")()
            self.tabs.put(LATER[name], page)
        return page

    def _plots_ready(self) -> None:
        if self._antialias:
            import pyqtgraph as pg

            pg.setConfigOptions(antialias=True)
            self._antialias = False  # once

    def _build_dashboard(self) -> QWidget:
        from .dashboard import Dashboard

        return Dashboard()

    def _build_explorer(self) -> QWidget:
        from .explorer import Explorer

        explorer = Explorer()
        # through the properties: the analogies page is built when the explorer first has something for it
        explorer.source_changed.connect(lambda source: self.analogies.set_source(source))
        explorer.point_clicked.connect(lambda index: self.analogies.pick(index))
        return explorer

    def _build_analogies(self) -> QWidget:
        from .analogy_panel import AnalogyPanel

        analogies = AnalogyPanel()
        analogies.pick_prompt.connect(lambda text: self.explorer.set_pick_prompt(text))
        analogies.query_made.connect(self._highlight_analogy)
        return analogies

    def pages_built(self) -> bool:
        """Whether every LATER page, the dashboard's plot grid included, is built."""
        return len(self._built) == len(LATER) and self._built["dashboard"]._plots_built

    def _tab_shown(self, index: int) -> None:
        if self.pages.currentWidget() is self.tabs:
            for name, at in LATER.items():
                if at == index:
                    self._page(name)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._later_started:  # once this paint is done (the next turn): the pages it does not show yet
            self._later_started = True
            QTimer.singleShot(0, self, lambda: threading.Thread(target=self._import_later, name="page imports",
                                                                daemon=True).start())

    def _import_later(self) -> None:
        """LATER_IMPORTS, on a thread: the GUI thread stays free meanwhile (a click on a tab imports what
        its page needs itself, waiting for the thread's import of the same module if it is under way)."""
        for module in LATER_IMPORTS:
            importlib.import_module(module)
        try:
            self._imported.emit()  # queued to the GUI thread
        except RuntimeError:  # the window was deleted meanwhile
            pass

    def _build_next(self) -> None:
        """Build one more LATER page (the dashboard's plot grid as a step of its own), then yield to the event
        loop: no single turn holds it for long, and Start finds the dashboard ready."""
        for name in LATER:
            if name not in self._built:
                self._page(name)
                break
            if name == "dashboard" and self.dashboard.build_plots():
                break
        else:
            return
        QTimer.singleShot(0, self, self._build_next)

    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open run…", self.open_run_dialog, QKeySequence.Open, "open")
        self.export_action = self._action(file, "&Export embeddings to HDF5…", self.export_dialog, "Ctrl+E", "export")
        self.export_action.setEnabled(False)  # until a run is shown
        self._action(file, "&Save plots…", self.dashboard_save, "Ctrl+Shift+S", "save")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.Quit)
        run = bar.addMenu("&Run")
        self._action(run, "&Start", self.panel.start_button.click, "Ctrl+R", "start")
        self._action(run, "&Pause / Resume", self.panel.pause_button.click, "Ctrl+P", "pause")
        self._action(run, "S&top", self.panel.stop_button.click, "Ctrl+.", "stop")
        self._action(run, "Take an embedding &snapshot now", self.client.snapshot, "Ctrl+Shift+E", "snapshot")
        view = bar.addMenu("&View")
        for i, name in enumerate(TABS):
            self._action(view, name, lambda i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
        view.addSeparator()
        panel_action = self.dock.toggleViewAction()
        panel_action.setText("Run &panel")
        panel_action.setShortcut(QKeySequence("Ctrl+Shift+R"))
        view.addAction(panel_action)
        self.dark_action = self._action(view, "&Dark theme", self.toggle_theme, "Ctrl+Shift+D", "theme")
        self.dark_action.setCheckable(True)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self._shortcuts_help)
        self._action(help_menu, "&About SSL Workbench", self._about)

    def _action(self, menu, text, slot, shortcut=None, icon: str | None = None) -> QAction:
        action = QAction(theme.icon(icon), text, self) if icon else QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    # --- runs -------------------------------------------------------------------------------
    def start_run(self, run) -> None:
        """Create the run directory and start its worker; the tabs follow it live."""
        problem = image_folder_problem(run.data_root) if run.dataset == "folder" else None
        if problem:  # said before a run folder exists, not by a worker that fails on it
            self.banner.show_message(problem, "warning")
            return
        try:
            run_dir = create_run_dir(run, root=self.runs_root)
        except (ConfigError, OSError) as exc:
            self.banner.show_message(f"Could not create the run: {exc}")
            return
        self.settings.setValue("last_method", run.method)
        self.settings.setValue("last_dataset", run.dataset)
        self._show_run(run_dir, replay=False, switch=False)
        self.banner.hide()
        self.client.start(run_dir)
        # The tabs' first look lays out and paints the whole plot grid (~100 ms): on the next turn of the event
        # loop, so that it and the worker's spawn are two short stalls rather than one long one after the click
        QTimer.singleShot(0, self, lambda: self._show_tabs(run_dir))

    def _show_tabs(self, run_dir: Path) -> None:
        if self.run_dir == run_dir:  # not if another run was opened meanwhile
            self.pages.setCurrentWidget(self.tabs)
            self.tabs.setCurrentWidget(self.dashboard)

    def resume_run(self, run_dir: Path | None = None) -> None:
        run_dir = Path(run_dir) if run_dir else self.run_dir
        if run_dir is None or self.client.is_running():
            return
        if RunDir(run_dir).resume_checkpoint() is None:
            self.banner.show_message(f"{run_dir.name} has no complete checkpoint to resume from.")
            return
        self._show_run(run_dir, replay=True)
        self.banner.hide()
        self.client.start(run_dir, resume=True)
        self.tabs.setCurrentWidget(self.dashboard)

    def open_run(self, run_dir: Path) -> None:
        """Show a finished or running run: replay its events, follow it if a worker is alive."""
        run_dir = Path(run_dir)
        if not is_run_dir(run_dir):
            self.banner.show_message(f"{run_dir} is not a run directory (no config.json).")
            return
        try:  # a damaged config.json is said here, once, not by every tab that reads it
            load_run_config(run_dir / "config.json")
        except ConfigError as exc:
            self.banner.show_message(f"Cannot open {run_dir.name}: {exc}")
            return
        if self.client.is_running() and self.client.run_dir == run_dir:
            self.tabs.setCurrentWidget(self.dashboard)
            return
        self._show_run(run_dir, replay=True)
        if worker_alive(run_dir):
            self.follower.follow(run_dir, replay=False)
            self.state_label.setText(f"Following {run_dir.name} (trained by another process)")
        self.tabs.setCurrentWidget(self.dashboard)

    def _show_run(self, run_dir: Path, replay: bool, switch: bool = True) -> None:
        self.follower.stop()
        self.run_dir = run_dir
        self.dashboard.clear(run_dir)
        self.inspector.clear()
        if replay:
            self.dashboard.load_run(run_dir)
            self.inspector.load_run(run_dir)
        self.explorer.set_run(run_dir)
        self.caption_search.set_run(run_dir)
        if switch:
            self.pages.setCurrentWidget(self.tabs)
        self.export_action.setEnabled(True)
        self.settings.setValue("last_run", str(run_dir))
        try:
            run = load_run_config(run_dir / "config.json")
        except ConfigError:
            run = None
        what = f"{run.method} on {run.dataset}" if run else ""
        self.setWindowTitle(f"{run_dir.name} ({what}) — SSL Workbench" if what else f"{run_dir.name} — SSL Workbench")
        self.state_label.setText(f"Showing {run_dir.name}" + (f": {what}" if what else ""))
        if run is not None:
            self.panel.show_run(run_dir.name, run)

    def _start_example(self, run) -> None:
        """The welcome screen's one-click example: the panel shows its settings, then it starts."""
        self.panel.apply_config(run)
        self.start_run(run)

    def compare_runs(self, run_dirs: list) -> None:
        if not run_dirs:
            return
        first = Path(run_dirs[0])
        if self.run_dir != first:
            self.open_run(first)
        self.dashboard.clear_overlays()
        for other in run_dirs[1:]:
            self.dashboard.add_overlay(Path(other), Path(other).name)
        if len(run_dirs) > 1:  # Explorer → Compare… then sets the two runs' embeddings side by side
            self.explorer.compare_with(Path(run_dirs[1]))
        self.tabs.setCurrentWidget(self.dashboard)

    def open_run_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run directory", str(self.runs_root))
        if folder:
            self.open_run(Path(folder))

    def export_dialog(self) -> None:
        if self.run_dir is None:
            self.banner.show_message("Open or train a run first, then export its embeddings.", "warning")
            return
        from .export_dialog import ExportDialog  # here: it brings h5py, which start-up does not need

        dialog = ExportDialog(self.run_dir, self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.open()
        self._export = dialog

    def dashboard_save(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Save plots", "curves.png", "PNG (*.png);;SVG (*.svg)")
        if path:
            if not Path(path).suffix:
                path += ".svg" if "svg" in chosen.lower() else ".png"
            self.dashboard.save_plots(path)

    def _set_root(self, root: Path) -> None:
        self.runs_root = Path(root)
        self.settings.setValue("runs_root", str(root))

    def _highlight_analogy(self, a: int, b: int, c: int, answers) -> None:
        """Mark the query (a, b, c) and its answers on the map."""
        answers = [int(i) for i in list(answers)[:5]]
        colours = [theme.series_color(0)] * 3 + [theme.series_color(3)] * len(answers)
        self.explorer.scatter.set_highlight([a, b, c, *answers], colours)

    # --- events -----------------------------------------------------------------------------
    def _on_event(self, ev: dict) -> None:
        self.dashboard.add_event(ev)
        if self.run_dir is not None:
            if ev["type"] == "preview":
                self.inspector.add_event(ev, self.run_dir)
            self.explorer.on_event(ev)
        kind = ev["type"]
        if kind == "step":
            self.progress.show()
            self.progress.setValue(int(ev.get("progress", 0) * 100))
        elif kind == "log" and ev.get("level") == "warning":
            self.banner.show_message(ev["message"], "warning")
        elif kind in ("finished", "failed"):
            self.browser.refresh()

    def _on_state(self, state: str) -> None:
        self.panel.set_state(state)
        name = self.client.run_dir.name if self.client.run_dir else ""
        text = {"starting": f"Starting {name}…", "running": f"Training {name}",
                "paused": f"Paused {name}", "stopping": "Stopping: saving a checkpoint…",
                "finished": f"Finished {name}", "stopped": f"Stopped {name} (checkpoint kept)",
                "failed": f"{name} failed", "idle": "Ready"}.get(state, state)
        self.state_label.setText(text)
        if state in ("finished", "stopped", "failed", "idle"):
            self.progress.hide()
            self.browser.refresh()
            if self._close_when_idle:
                QTimer.singleShot(0, self.close)

    def _on_failed(self, message: str) -> None:
        run_dir = self.client.run_dir
        resumable = bool(run_dir and RunDir(run_dir).resume_checkpoint() is not None)
        self.banner.show_message(f"Training failed: {message}", "error", resumable=resumable)

    # --- theme, settings, closing -----------------------------------------------------------
    def toggle_theme(self) -> None:
        self.set_theme("dark" if theme.current() == "light" else "light")

    def set_theme(self, name: str) -> None:
        """Palette and style sheet now, the pages' plots at the next turn of the event loop, the window not
        painted in between (no frame shows half a switch): two turns of ~0.1 s of the GUI thread, not one of 0.2."""
        theme.apply_theme(QApplication.instance(), name)
        self.dark_action.setChecked(name == "dark")
        self.settings.setValue("theme", name)
        if self.isVisible():
            self.setUpdatesEnabled(False)
            QTimer.singleShot(0, self, self._theme_pages)
        else:
            self._theme_pages()

    def _theme_pages(self) -> None:
        for w in (self.inspector, self.browser, *self._built.values()):  # the others are built in this theme
            w.apply_theme()
        self.setUpdatesEnabled(True)  # and one paint of the whole window

    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        state = self.settings.value("window_state")
        if state is not None:
            self.restoreState(state)
        method = self.settings.value("last_method")
        if method:
            self.panel.select_method(str(method))
        dataset = self.settings.value("last_dataset")
        if dataset and dataset != "folder":
            self.panel.select_dataset(str(dataset))
        self.set_theme(str(self.settings.value("theme", "light")))
        last = self.settings.value("last_run")
        if last and is_run_dir(Path(last)):  # relaunching shows the run last shown
            self.open_run(Path(last))

    def _shortcuts_help(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", (
            "Ctrl+R  start training\nCtrl+P  pause / resume\nCtrl+.  stop (keeps a checkpoint)\n"
            "Ctrl+1…5  switch tabs\nCtrl+E  export embeddings to HDF5\nCtrl+O  open a run\n"
            "Ctrl+Shift+D  dark / light theme"))

    def _about(self) -> None:
        QMessageBox.about(self, "About SSL Workbench", (
            "<b>SSL Workbench</b><br>Train self-supervised models by point and click and see what "
            f"they learn.<br><br>Runs folder: {self.runs_root.resolve()}"))

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        folder = Path(event.mimeData().urls()[0].toLocalFile())
        if is_run_dir(folder):
            self.open_run(folder)
        else:
            self.use_folder(folder)
        event.acceptProposedAction()

    def use_folder(self, folder: Path) -> None:
        """Train on a dropped image folder, or say at once why it cannot be used."""
        problem = self.panel.set_folder(folder)
        if problem:
            self.banner.show_message(problem, "warning")
        else:
            self.banner.hide()

    def closeEvent(self, event) -> None:
        if self.client.is_running():
            box = QMessageBox(QMessageBox.Question, "Training is running",
                              f"{self.client.run_dir.name} is still training.", parent=self)
            box.setInformativeText("Stop it (a checkpoint is kept), or leave it running in the "
                                   "background? You can open it again from the Runs tab.")
            stop = box.addButton("Stop the run", QMessageBox.DestructiveRole)
            leave = box.addButton("Leave it running", QMessageBox.AcceptRole)
            box.addButton(QMessageBox.Cancel)
            box.exec()
            clicked = box.clickedButton()
            if clicked is stop:
                # Close once the worker has saved its checkpoint and exited; never block here.
                self._close_when_idle = True
                self.client.stop()
                self.state_label.setText("Stopping: saving a checkpoint, then closing…")
                event.ignore()
                return
            if clicked is leave:
                self.client.detach()
            else:
                event.ignore()
                return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.follower.stop()
        self.estimator.cancel(wait=True)
        super().closeEvent(event)
