"""GUI test fixtures: a fresh main window per test, isolated settings, and a leak check."""
from __future__ import annotations

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
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, tmp_path, settings):
    from ui.main_window import MainWindow
    win = MainWindow(runs_root=tmp_path / "runs", settings=settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.client.is_running():
        win.client.kill()
        qtbot.waitUntil(lambda: not win.client.is_running(), timeout=10_000)
