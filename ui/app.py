"""Start the desktop app: QApplication, theme, main window."""
from __future__ import annotations

import sys
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


def main(runs_root: Path | None = None) -> int:
    import pyqtgraph as pg

    app = make_app()
    pg.setConfigOptions(antialias=True)
    from .main_window import MainWindow

    window = MainWindow(runs_root)
    window.show()
    # maps, neighbours and map quality run in their own process, which warms UMAP up now
    from .tasks import start_projection_service, stop_projection_service

    start_projection_service(app).host.restarted.connect(lambda message: window.statusBar().showMessage(message))
    app.aboutToQuit.connect(stop_projection_service)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
