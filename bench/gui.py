"""GUI responsiveness: scatter frame time at 100k points, and the longest event-loop stall while a
real training run streams events into the main window.

The stall is measured with a 5 ms heartbeat timer: the largest gap between two beats, minus the
period, is the longest time the GUI thread was busy. Baseline in the same run: the same heartbeat
in an idle window. Targets: < 50 ms per frame at 100k points, < 100 ms stall.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer  # noqa: E402

from ui.app import make_app  # noqa: E402

PERIOD_MS = 5


class Heartbeat:
    """Records the longest gap between ticks of a fast timer on the GUI thread."""

    def __init__(self):
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(PERIOD_MS)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.gaps: list[float] = []

    def start(self):
        self.clock.start()
        self.last = self.clock.elapsed()
        self.timer.start()

    def _tick(self):
        now = self.clock.elapsed()
        self.gaps.append(now - self.last - PERIOD_MS)
        self.last = now

    def stop(self) -> dict:
        self.timer.stop()
        gaps = sorted(self.gaps) or [0.0]
        return {"max": gaps[-1], "p99": gaps[int(0.99 * (len(gaps) - 1))], "beats": len(gaps)}


def pump(app, seconds: float, until=None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until and until()):
        app.processEvents(QEventLoop.AllEvents, 20)
        time.sleep(0.002)


def stall_during_training(app, seconds: float) -> tuple[dict, dict, int]:
    from ui.main_window import MainWindow
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.IniFormat)
        window = MainWindow(runs_root=Path(tmp) / "runs", settings=settings)
        window.resize(1500, 950)
        window.show()
        pump(app, 2.0)
        idle = Heartbeat()
        idle.start()
        pump(app, 3.0)
        idle_result = idle.stop()
        panel = window.panel
        panel.select_method("rotation")
        panel.select_dataset("digits")
        panel.run_form.set_value("epochs", 200)
        panel.run_form.set_value("batch_size", 32)
        panel.advanced_form.set_value("preview_interval", 0.5)
        events = []
        window.client.event.connect(events.append)
        panel.start_button.click()
        pump(app, 120, until=lambda: any(e["type"] == "step" for e in events))  # worker start-up
        busy = Heartbeat()
        busy.start()
        pump(app, seconds)
        busy_result = busy.stop()
        window.client.kill()
        pump(app, 5, until=lambda: not window.client.is_running())
        after = Heartbeat()  # the same window and machine load, minus the training run
        after.start()
        pump(app, seconds / 2)
        after_result = after.stop()
        window.close()
        return idle_result, busy_result, after_result, len(events)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="how long to measure while training")
    p.add_argument("--points", type=int, default=100_000)
    args = p.parse_args()
    app = make_app([sys.argv[0]])
    import scatter as scatter_bench
    xy, cats = scatter_bench.clustered(args.points)
    frame = scatter_bench.ours(app, xy, cats, frames=20, queries=200)
    print(f"scatter, {args.points:,} points: {frame['frame']:.1f} ms per frame (target < 50), "
          f"hover hit-test {frame['hover']:.0f} µs")
    idle, busy, after, n = stall_during_training(app, args.seconds)
    print(f"event loop, idle window:        longest stall {idle['max']:.0f} ms, p99 {idle['p99']:.0f} ms")
    print(f"event loop, after the run:      longest stall {after['max']:.0f} ms, p99 {after['p99']:.0f} ms")
    print(f"event loop, while training:     longest stall {busy['max']:.0f} ms, p99 {busy['p99']:.0f} ms "
          f"({n} events streamed)   (target < 100)")


if __name__ == "__main__":
    main()
