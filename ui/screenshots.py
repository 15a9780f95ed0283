"""`python -m ui.screenshots [OUT]`: drive the app offscreen through a short real run and save a PNG of each tab."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def wait(app, condition, timeout: float = 600.0) -> None:
    """Let the event loop run until condition() holds (a script, not the GUI: it may wait)."""
    from PySide6.QtCore import QEventLoop
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        app.processEvents(QEventLoop.AllEvents, 50)
        time.sleep(0.01)


def settle(app, seconds: float = 1.0) -> None:
    end = time.monotonic() + seconds
    wait(app, lambda: time.monotonic() > end)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings
    from .app import make_app
    app = make_app([sys.argv[0]])
    from .main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.IniFormat)
        window = MainWindow(runs_root=Path(tmp) / "runs", settings=settings)
        window.resize(1560, 980)
        window.show()
        panel = window.panel
        panel.select_method(args.method)
        panel.select_dataset(args.dataset)
        panel.run_form.set_value("epochs", args.epochs)
        panel.advanced_form.set_value("preview_interval", 1.0)

        def shot(name: str, widget=None) -> None:
            settle(app, 0.5)
            path = args.out / f"{name}.png"
            (widget or window).grab().save(str(path))
            print(f"saved {path}")

        panel.start_button.click()
        wait(app, lambda: window.client.state in ("finished", "failed", "stopped"))
        if window.client.state != "finished":
            print(f"training did not finish: {window.banner.text.text()}", file=sys.stderr)
            return 1
        settle(app, 2.0)
        window.tabs.setCurrentWidget(window.dashboard)
        shot("dashboard")
        window.tabs.setCurrentWidget(window.inspector)
        shot("inspector")

        explorer = window.explorer
        window.tabs.setCurrentWidget(explorer)
        wait(app, lambda: explorer.scatter.count() > 0 and not explorer.is_computing())
        by_colour = explorer.colour_combo.findText("colour")
        if by_colour >= 0:
            explorer.colour_combo.setCurrentIndex(by_colour)
        explorer.scatter.clicked.emit(0)  # as if the user clicked the first point
        wait(app, lambda: explorer.map_quality is not None and explorer.embedding_health is not None, timeout=120)
        shot("explorer")
        explorer.open_compare()  # the first trained snapshot against the last, coloured by neighbour change
        wait(app, lambda: explorer.compare_view.result is not None and not explorer.compare_view.is_computing(),
             timeout=120)
        shot("compare")
        explorer.close_compare()

        analogies = window.analogies
        window.tabs.setCurrentWidget(analogies)
        analogies.random_button.click()
        analogies.find_button.click()
        wait(app, lambda: len(analogies.results_indices()) > 0, timeout=60)
        shot("analogies")

        window.tabs.setCurrentWidget(window.browser)
        window.browser.refresh()
        settle(app, 2.5)
        shot("runs")

        window.export_dialog()
        dialog = window._export
        dialog.path.setText(str(Path(tmp) / "embeddings.h5"))
        dialog.projection_boxes["tsne"].setChecked(True)
        dialog.export_button.click()
        wait(app, lambda: dialog.written is not None or dialog.task is None and "failed" in dialog.message.text())
        shot("export", dialog)
        dialog.close()

        window.set_theme("dark")
        window.tabs.setCurrentWidget(window.dashboard)
        shot("dashboard-dark")
        window.set_theme("light")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
