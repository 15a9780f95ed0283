"""Start the desktop app: QApplication, theme, main window."""
from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from .theme import app_icon


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv)
    QCoreApplication.setOrganizationName("SSL Workbench")
    QCoreApplication.setApplicationName("SSL Workbench")
    app.setDesktopFileName("ssl-workbench")  # Wayland docks match the window to its .desktop entry by this
    app.setWindowIcon(app_icon())  # every window, the dock and the taskbar
    return app


OFFSCREEN_HINT = ("or run without a display: QT_QPA_PLATFORM=offscreen ssl-workbench gui (nothing is shown; "
                  "for scripts), or xvfb-run ssl-workbench gui")


def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None,
                    find_library=ctypes.util.find_library) -> str | None:
    """Why Qt could not open a window here, as one line saying what to do; None when it can.

    Qt aborts the whole process (no exception to catch) when its platform plugin fails, after
    several lines about plugins: this is checked before the QApplication exists."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    requested = env.get("QT_QPA_PLATFORM", "")
    if not platform.startswith("linux") or (requested and not requested.startswith("xcb")):
        return None  # macOS, Windows, offscreen, wayland…: Qt's own plugins need nothing extra
    if not requested and env.get("WAYLAND_DISPLAY"):
        return None
    if not env.get("DISPLAY"):
        return f"No display to open the window on (DISPLAY is not set): run it on a desktop session, {OFFSCREEN_HINT}."
    if find_library("xcb-cursor") is None:  # Qt ≥ 6.5 needs it for X11 and says only "could not load xcb"
        return ("Qt cannot open the X11 window: install libxcb-cursor0 (Debian/Ubuntu: sudo apt install "
                f"libxcb-cursor0; Fedora: sudo dnf install xcb-util-cursor), {OFFSCREEN_HINT}.")
    return None


def main(runs_root: Path | None = None) -> int:
    problem = display_problem()
    if problem:
        print(f"ssl-workbench: {problem}", file=sys.stderr)
        return 2
    app = make_app()
    from .main_window import MainWindow

    # pyqtgraph and the pages with plots come after the first paint (MainWindow.paintEvent)
    window = MainWindow(runs_root, antialias=True)
    window.show()
    # maps, neighbours and map quality run in their own process, which warms UMAP up now
    from .tasks import start_projection_service, stop_projection_service

    start_projection_service(app).host.restarted.connect(lambda message: window.statusBar().showMessage(message))
    app.aboutToQuit.connect(stop_projection_service)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
