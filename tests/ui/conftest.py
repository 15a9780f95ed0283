"""GUI test fixtures: a fresh main window or explorer per test, a real finished run, isolated settings, a leak check."""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from workbench.config import new_run_config
from workbench.runs import create_run_dir
from workbench.worker import run_worker


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    """Fail a test that leaves a visible top-level window behind (napari's habit).

    Set up before qtbot, so it checks after qtbot has closed the widgets it was given.
    """
    before = {id(w) for w in QApplication.topLevelWidgets() if w.isVisible()}
    yield
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets()
              if w.isVisible() and id(w) not in before]
    for w in leaked:
        w.close()
    assert not leaked, f"leaked top-level widgets: {[type(w).__name__ for w in leaked]}"


@pytest.fixture(autouse=True)
def no_umap_warm_up(monkeypatch):
    """No background numba compile of UMAP when an Explorer is first shown: it outlived the test
    that showed it and crashed the interpreter in a later test's teardown (test_explorer turns it
    back on, with a stand-in for the compile, to test it)."""
    from ui.explorer import Explorer
    monkeypatch.setattr(Explorer, "warm_up_on_show", False)


@pytest.fixture
def add_widget(qtbot):
    """qtbot.addWidget that first lets the widget's background work end: add_widget(w, idle=callable).

    pytest-qt closes and deleteLater()s the widgets it was given in its own teardown hook, before the
    code after a fixture's `yield` runs; waiting there waits on a widget being deleted, whose
    background tasks die with it and never report back. `before_close_func` runs in time.
    """
    def add(widget, idle: Callable[[], bool] | None = None, before_close: Callable[[], None] | None = None,
            timeout: int = 20_000):
        def settle(_):
            if before_close is not None:
                before_close()
            if idle is not None:
                qtbot.waitUntil(idle, timeout=timeout)
        qtbot.addWidget(widget, before_close_func=settle)
        return widget
    return add


@pytest.fixture
def explorer(qtbot, add_widget, monkeypatch):
    """An Explorer on screen; at the end it waits for its background jobs to report back."""
    from ui.explorer import Explorer
    w = add_widget(Explorer(), before_close=lambda: w.stop(), idle=lambda: not w.is_busy())
    w.resize(1100, 700)
    w.show()
    return w


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> Path:
    """A real, finished training run (rotation, MLP, digits, 2 epochs: ~6 s): 3 snapshots, best and last."""
    run = new_run_config("rotation", "digits", epochs=2, batch_size=64, device="cpu", probe_size=200,
                         preview_interval=0.0, linear_probe=False, threads=1, backbone="mlp")
    run_dir = create_run_dir(run, path=tmp_path_factory.mktemp("real") / "run")
    assert run_worker(run_dir, stream=io.StringIO()) == 0
    return run_dir


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, add_widget, tmp_path, settings, monkeypatch):
    from ui.main_window import MainWindow
    from ui.welcome import Welcome
    monkeypatch.setattr(Welcome, "measure_on_show", False)  # no subprocess timing the example in tests
    from ui.run_panel import RunPanel
    monkeypatch.setattr(RunPanel, "measure_estimates", False)  # nor the run panel's choice
    win = MainWindow(runs_root=tmp_path / "runs", settings=settings)
    def stop_training():  # closing while training would ask whether to stop the run
        if win.client.is_running():
            win.client.kill()

    add_widget(win, before_close=stop_training,
               idle=lambda: not win.client.is_running() and not win.explorer.is_busy())
    win.show()
    return win
