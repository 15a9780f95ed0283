"""`python -m ui.screenshots [OUT]`: train an image, a word and a signals run offscreen and save every tab at 1280×720 and 1920×1080.

What it writes (about 70 PNGs): OUT/1280x720/{light,dark}/ and OUT/1920x1080/{light,dark}/, each with
welcome.png and, per run (image, words, signals), <run>-<tab>.png for the five tabs; plus
compare.png and export.png at 1280×720 (light). Both themes at both sizes: a colour that fades
into the dark ground shows at full HD as well as on a laptop.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

RUNS = {  # short real runs, one per modality: minutes on a busy CPU
    "image": dict(method="simclr", dataset="shapes", epochs=1, backbone="mlp", probe_size=500, linear_probe=False),
    "words": dict(method="word2vec", dataset="lee", epochs=1, linear_probe=False),
    "signals": dict(method="cpc_sequence", dataset="signals", epochs=1, probe_size=500, linear_probe=False),
}
SIZES = {"1280x720": (1280, 720, ("light", "dark")), "1920x1080": (1920, 1080, ("light", "dark"))}
TABS = ("dashboard", "inspector", "explorer", "analogies", "runs")


def wait(app, condition, timeout: float = 600.0, what: str = "") -> bool:
    """Let the event loop run until condition() holds (a script, not the GUI: it may wait); False on timeout."""
    from PySide6.QtCore import QEventLoop
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            print(f"warning: gave up waiting for {what or 'the app'} after {timeout:.0f} s", file=sys.stderr)
            return False
        app.processEvents(QEventLoop.AllEvents, 50)
        time.sleep(0.01)
    return True


def settle(app, seconds: float = 1.0) -> None:
    end = time.monotonic() + seconds
    wait(app, lambda: time.monotonic() > end)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--runs", default=",".join(RUNS), help="which runs to shoot (default: all three; '' for none)")
    parser.add_argument("--open", action="append", default=[], metavar="NAME=RUN_DIR",
                        help="also open a finished run (e.g. one trained with --nproc 2) and shoot its "
                             "dashboard and its previews as 1280x720/light/NAME-dashboard.png and "
                             "NAME-inspector.png (repeatable)")
    parser.add_argument("--tabs", default=",".join(TABS),
                        help=f"which tabs to shoot per run (default: all of {', '.join(TABS)})")
    parser.add_argument("--sizes", default=",".join(SIZES), help="which window sizes (default: all of "
                        f"{', '.join(SIZES)}); e.g. --runs image --tabs explorer --sizes 1280x720 after a fix")
    parser.add_argument("--themes", default="light,dark", help="which themes (default: light,dark)")
    parser.add_argument("--no-extras", action="store_true", help="skip the welcome page, comparison and export shots")
    args = parser.parse_args(argv)
    tabs_wanted = [t for t in args.tabs.split(",") if t]
    themes = [t for t in args.themes.split(",") if t]
    sizes = {k: (w, h, tuple(t for t in looks if t in themes))
             for k, (w, h, looks) in SIZES.items() if k in args.sizes.split(",")}
    unknown = (sorted(set(tabs_wanted) - set(TABS)) + sorted(set(args.sizes.split(",")) - set(SIZES))
               + sorted(set(themes) - {"light", "dark"}))
    if unknown:
        parser.error(f"unknown tab, size or theme: {', '.join(unknown)}")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings
    from .app import make_app
    app = make_app([sys.argv[0]])
    from workbench.config import new_run_config
    from .dashboard import MAX_REDRAW_MS
    from .main_window import MainWindow
    from .welcome import Welcome
    Welcome.measure_on_show = False  # the example's time is measured by a real window, not by this script
    from .run_panel import RunPanel
    RunPanel.measure_estimates = False

    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.IniFormat)
        window = MainWindow(runs_root=Path(tmp) / "runs", settings=settings)
        window.show()

        def shot(path: Path, widget=None) -> None:
            # past the dashboard's slowest redraw interval (MAX_REDRAW_MS): its legends are placed for the
            # plots' final sizes on the redraw after a resize, and an earlier grab caught them half-placed
            settle(app, MAX_REDRAW_MS / 1000 + 0.2)
            path.parent.mkdir(parents=True, exist_ok=True)
            (widget or window).grab().save(str(path))
            print(f"saved {path}")

        def each_look(action) -> None:
            for size, (w, h, themes) in sizes.items():
                window.resize(w, h)
                for name in themes:
                    window.set_theme(name)
                    settle(app, 0.3)
                    action(args.out / size / name)

        if not args.no_extras:
            each_look(lambda folder: shot(folder / "welcome.png"))
        window.set_theme("light")
        for name, _, run_dir in (item.partition("=") for item in args.open):
            window.resize(1280, 720)
            window.open_run(Path(run_dir))
            for tab, page in (("dashboard", window.dashboard), ("inspector", window.inspector)):
                window.tabs.setCurrentWidget(page)
                settle(app, 2.0)
                shot(args.out / "1280x720" / "light" / f"{name}-{tab}.png")
        for key in filter(None, args.runs.split(",")):
            spec = RUNS[key]
            settings_ = {k: v for k, v in spec.items() if k not in ("method", "dataset")}
            run = new_run_config(spec["method"], spec["dataset"], preview_interval=1.0, **settings_)
            window.panel.apply_config(run)
            window.panel.start_button.click()
            wait(app, lambda: window.client.state in ("finished", "failed", "stopped"), 1800, f"the {key} run")
            if window.client.state != "finished":
                print(f"{key}: training did not finish: {window.banner.text.text()}", file=sys.stderr)
                return 1
            window.browser.refresh()
            settle(app, 2.0)
            explorer, analogies = window.explorer, window.analogies
            window.tabs.setCurrentWidget(explorer)
            wait(app, lambda: explorer.scatter.count() > 0 and not explorer.is_computing()
                 and not explorer.is_picking_colour(), 300, "the map")
            explorer.scatter.clicked.emit(0)  # as if the user clicked the first point
            wait(app, lambda: explorer.map_quality is not None and explorer.embedding_health is not None, 120,
                 "the map's health")
            window.tabs.setCurrentWidget(analogies)
            if analogies.random_button.isEnabled():
                analogies.random_button.click()
                analogies.find_button.click()
                wait(app, lambda: len(analogies.results_indices()) > 0, 60, "the analogy")

            def tabs(folder: Path) -> None:
                for tab, page in zip(TABS, (window.dashboard, window.inspector, explorer, analogies, window.browser)):
                    if tab not in tabs_wanted:
                        continue
                    window.tabs.setCurrentWidget(page)
                    shot(folder / f"{key}-{tab}.png")
            each_look(tabs)
            window.set_theme("light")

            if key == "image" and not args.no_extras:  # the comparison view and the export dialog, once
                window.resize(1280, 720)
                window.tabs.setCurrentWidget(explorer)
                explorer.open_compare()  # the first trained snapshot against the last, coloured by neighbour change
                wait(app, lambda: explorer.compare_view.result is not None and not explorer.compare_view.is_computing(),
                     120, "the comparison")
                shot(args.out / "1280x720" / "light" / "image-compare.png")
                explorer.close_compare()
                window.export_dialog()
                dialog = window._export
                dialog.path.setText(str(Path(tmp) / "embeddings.h5"))
                dialog.export_button.click()
                wait(app, lambda: dialog.written is not None or dialog.task is None and "failed" in dialog.message.text(),
                     300, "the export")
                shot(args.out / "1280x720" / "light" / "image-export.png", dialog)
                dialog.close()
        window.close()
        from .floors import service
        service().stop()  # no app.exec() here, so aboutToQuit never comes to end a measurement
    return 0


if __name__ == "__main__":
    sys.exit(main())
