"""GUI test fixtures: a fresh main window per test, isolated settings, and a leak check."""
from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication


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
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, add_widget, tmp_path, settings):
    from ui.main_window import MainWindow
    win = MainWindow(runs_root=tmp_path / "runs", settings=settings)
    def stop_training():  # closing while training would ask whether to stop the run
        if win.client.is_running():
            win.client.kill()

    add_widget(win, before_close=stop_training,
               idle=lambda: not win.client.is_running() and not win.explorer.is_busy())
    win.show()
    return win
