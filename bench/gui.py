"""GUI responsiveness: scatter frame time at 100k points, the cost of one dashboard redraw, and the
longest event-loop stall while a run streams events into the main window.

Stalls are measured with a 5 ms heartbeat timer: the largest gap between two beats, minus the
period, is the longest time the GUI thread was busy. Baseline in the same run: the same heartbeat
in an idle window. Two streams: a synthetic one (a run 30k steps in, 4 step events a second and
an evaluation every 5 s, fed to the window as the worker client would; no training competes for
the CPU) and a real training run. Dashboard redraw: one live tick (new step, redraw, paint) on a
long run, in thread CPU time so other processes on the machine count less; baseline in the same
run: a full repaint of the same plots with every item drawn anew (what a tick costs when the step
axis moves, which it used to do on every event).
First paint: in a fresh process, seconds from the interpreter's start to the main window's first
paint event (what ui.app.main does: app, theme, MainWindow, show), wall and CPU, and whether
torch was imported by then (`--first-paint` prints only this). The run panel lists methods from
workbench.method_listing's cache, which the first start after an install or an edit of the
workbench writes (importing every plugin, so torch, once); the figure is for a start after that.
Actions: the longest stall from pressing Start (a 1-epoch run), switching the theme each way and
opening the finished run (`--only-actions` measures only these).
The windows draw antialiased, as the app does.
Targets: < 50 ms per frame at 100k points, < 100 ms stall (none above 250 ms at an action), < 1 s to first paint. `--trace` names what the GUI thread
was doing during stalls (its Python stack, sampled from another thread).

Like the app, the bench starts the projection process first (`--no-service`: tasks on threads in
this process, as before). UMAP first use: an explorer opened `--open-seconds` before (the app's
UMAP warm-up runs meanwhile) asked for a UMAP map of 2,000 points; the figure is click → map,
with the longest stall meanwhile; baseline in the same run: the same in a second explorer with
no projection process (warm-up and UMAP on a thread here, as before), first-use in this process.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer  # noqa: E402

from ui.app import make_app  # noqa: E402

PERIOD_MS = 5


class Heartbeat:
    """Records the longest gap between ticks of a fast timer on the GUI thread.

    Also the GUI thread's own CPU time between ticks: the stall it would cause on an idle machine,
    whatever other processes (a busy CI box, the training worker) do to the wall-clock gaps.
    """

    def __init__(self):
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(PERIOD_MS)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.last_wall = time.monotonic()  # read by StallSampler from its own thread
        self.last_cpu = time.thread_time()
        self.gaps: list[float] = []
        self.cpu: list[float] = []

    def start(self):
        self.clock.start()
        self.last = self.clock.elapsed()
        self.last_wall = time.monotonic()
        self.last_cpu = time.thread_time()
        self.timer.start()

    def _tick(self):
        now = self.clock.elapsed()
        self.gaps.append(now - self.last - PERIOD_MS)
        self.last = now
        self.last_wall = time.monotonic()
        cpu = time.thread_time()
        self.cpu.append(1000 * (cpu - self.last_cpu))
        self.last_cpu = cpu

    def stop(self) -> dict:
        self.timer.stop()
        gaps, cpu = sorted(self.gaps) or [0.0], sorted(self.cpu) or [0.0]
        return {"max": gaps[-1], "p99": gaps[int(0.99 * (len(gaps) - 1))], "beats": len(gaps),
                "cpu_max": cpu[-1], "cpu_p99": cpu[int(0.99 * (len(cpu) - 1))]}


def stall_line(what: str, r: dict, extra: str = "") -> str:
    return (f"event loop, {what + ':':<24} longest stall {r['max']:.0f} ms, p99 {r['p99']:.0f} ms; "
            f"GUI-thread CPU between beats: max {r['cpu_max']:.0f} ms, p99 {r['cpu_p99']:.0f} ms{extra}")


class StallSampler(threading.Thread):
    """While a heartbeat is late, samples the GUI thread's Python stack every few ms and counts where it was."""

    def __init__(self, beat: Heartbeat, late_ms: float = 30.0):
        super().__init__(daemon=True)
        self.beat, self.late = beat, late_ms / 1000
        self.main = threading.main_thread().ident
        self.samples: collections.Counter = collections.Counter()
        self.stalls: dict[float, collections.Counter] = {}  # last beat before the stall -> its samples
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.004):
            since = self.beat.last_wall
            if time.monotonic() - since > self.late:
                frame = sys._current_frames().get(self.main)
                stack = traceback.extract_stack(frame)[-4:] if frame is not None else []
                where = " < ".join(f"{Path(f.filename).stem}.{f.name}" for f in reversed(stack))
                self.samples[where] += 1
                self.stalls.setdefault(since, collections.Counter())[where] += 1

    def report(self, top: int = 6) -> str:
        self.done.set()
        total = sum(self.samples.values()) or 1
        lines = [f"    {100 * n / total:4.0f}%  {where}" for where, n in self.samples.most_common(top)]
        if self.stalls:
            worst = max(self.stalls.values(), key=lambda c: sum(c.values()))
            n = sum(worst.values())
            lines.append(f"    the longest stall ({n} samples):")
            lines += [f"    {100 * k / n:4.0f}%  {where}" for where, k in worst.most_common(3)]
        return "\n".join(lines)


def pump(app, seconds: float, until=None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until and until()):
        app.processEvents(QEventLoop.AllEvents, 20)
        time.sleep(0.002)


def flush(app) -> None:
    for _ in range(3):  # posted events, then the paint they ask for
        app.processEvents(QEventLoop.AllEvents)


class SyntheticRun:
    """Events of a long contrastive run on shapes: steps with two logged terms, evals with scores."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.step = 0

    def started(self) -> dict:
        return {"type": "started", "t": time.time(), "step": 0, "epoch": 0, "method": "simclr", "title": "SimCLR",
                "dataset": "shapes", "device": "CPU", "total_steps": 200_000, "epochs": 400, "resumed": False}

    def next_step(self) -> dict:
        self.step += 1
        s, r = self.step, self.rng.random(4)
        return {"type": "step", "t": time.time(), "step": s, "epoch": s // 500, "progress": s / 200_000,
                "loss": float(3 * np.exp(-s / 4000) + 0.5 + 0.3 * r[0]), "lr": 1e-3 * min(1.0, s / 2000),
                "img_s": float(900 + 150 * r[1]), "logs": {"positive_cosine": 0.6 + 0.1 * r[2],
                                                          "uniformity": -2.5 + 0.2 * r[3]}}

    def evaluation(self) -> dict:
        s = self.step
        return {"type": "eval", "t": time.time(), "step": s, "epoch": s // 500, "knn_top1": 0.4 + s / 1e6,
                "knn_best": 0.4 + s / 1e6, "collapse_std_ratio": 0.5, "effective_rank": 60.0 + s / 1e4,
                "scores": {"analogy top-1": 0.2 + s / 2e6, "analogy top-1 · colour": 0.3 + s / 2e6}}

    def history(self, steps: int, eval_every: int = 500) -> list[dict]:
        out = [self.started()]
        for _ in range(steps):
            out.append(self.next_step())
            if self.step % eval_every == 0:
                out.append(self.evaluation())
        return out


def dashboard_tick_cost(app, steps: int, ticks: int = 120) -> dict:
    """CPU ms of one live tick (a new step, redraw, paint) on a run `steps` long, and of a full repaint."""
    from ui.dashboard import Dashboard
    dash = Dashboard()
    dash.resize(1300, 850)
    dash.show()
    run = SyntheticRun()
    for ev in run.history(steps):
        dash.add_event(ev)
    dash.redraw()
    flush(app)
    cpu = []
    for i in range(ticks):
        dash.add_event(run.next_step())
        if i % 40 == 39:
            dash.add_event(run.evaluation())
        dash._timer.stop()  # timed by hand here, not by the timer
        t0 = time.thread_time()
        dash.redraw()
        flush(app)
        cpu.append(1000 * (time.thread_time() - t0))
    full = []
    for _ in range(10):
        for item in dash.plots.scene().items():  # everything drawn anew, caches included
            item.update()
        t0 = time.thread_time()
        dash.plots.viewport().repaint()
        full.append(1000 * (time.thread_time() - t0))
    dash.close()
    dash.deleteLater()
    return {"median": float(np.median(cpu)), "max": max(cpu), "full": float(np.median(full))}


def _window(app, tmp: str):
    from ui.main_window import MainWindow
    settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.IniFormat)
    # curves drawn antialiased, as the app draws them (ui.app.main): without, a repaint cost a tenth
    window = MainWindow(runs_root=Path(tmp) / "runs", settings=settings, antialias=True)
    window.resize(1500, 950)
    window.show()
    pump(app, 2.0)
    pump(app, 60, until=window.pages_built)  # the pages built after the first paint (longer on a busy machine)
    return window


def stall_streamed(app, seconds: float, history: int, trace: bool) -> tuple[dict, str]:
    """The longest stall while synthetic events reach the window at the worker's rate."""
    with tempfile.TemporaryDirectory() as tmp:
        window = _window(app, tmp)
        window.pages.setCurrentWidget(window.tabs)  # the dashboard in view: hidden, it does not redraw
        window.tabs.setCurrentWidget(window.dashboard)
        run = SyntheticRun(1)
        window.dashboard.clear()
        for ev in run.history(history):
            window.dashboard.add_event(ev)
        pump(app, 1.0)
        feed = QTimer()
        feed.setInterval(250)  # the worker's rate limit: 4 step events a second

        def beat():
            window.client.event.emit(run.next_step())  # as the worker client would
            if run.step % 20 == 0:  # an evaluation every 5 s, far more often than real epochs
                window.client.event.emit(run.evaluation())
        feed.timeout.connect(beat)
        busy = Heartbeat()
        sampler = StallSampler(busy)
        busy.start()
        if trace:
            sampler.start()
        feed.start()
        pump(app, seconds)
        feed.stop()
        result = busy.stop()
        window.close()
        return result, sampler.report() if trace else ""


def stall_during_training(app, seconds: float, trace: bool) -> tuple[dict, dict, dict, int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        window = _window(app, tmp)
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
        sampler = StallSampler(busy)
        busy.start()
        if trace:
            sampler.start()
        pump(app, seconds)
        busy_result = busy.stop()
        report = sampler.report() if trace else ""
        window.client.kill()
        pump(app, 5, until=lambda: not window.client.is_running())
        after = Heartbeat()  # the same window and machine load, minus the training run
        after.start()
        pump(app, seconds / 2)
        after_result = after.stop()
        window.close()
        return idle_result, busy_result, after_result, len(events), report


def stall_at(app, action, settle: float = 2.0) -> dict:
    """The longest stall from posting `action` to the event loop until `settle` seconds later."""
    beat = Heartbeat()
    done = []
    beat.start()
    QTimer.singleShot(0, lambda: (action(), done.append(len(beat.gaps))))  # run by the event loop, as a click is
    pump(app, 60, until=lambda: bool(done))
    pump(app, settle)  # the beats after it, which see how long it held the loop, and the work it posted
    return beat.stop()


def stall_at_actions(app) -> dict[str, dict]:
    """Stalls when a person presses Start, switches the theme both ways and opens a finished run."""
    with tempfile.TemporaryDirectory() as tmp:
        window = _window(app, tmp)
        panel = window.panel
        panel.select_method("rotation")
        panel.select_dataset("digits")
        panel.run_form.set_value("epochs", 1)
        panel.run_form.set_value("batch_size", 64)
        events = []
        window.client.event.connect(events.append)
        out = {"press Start": stall_at(app, panel.start_button.click, settle=3.0)}
        pump(app, 180, until=lambda: not window.client.is_running())
        run_dir = window.run_dir
        out["switch to dark theme"] = stall_at(app, lambda: window.set_theme("dark"))
        out["switch to light theme"] = stall_at(app, lambda: window.set_theme("light"))
        window.tabs.setCurrentIndex(0)
        out["open a finished run"] = stall_at(app, lambda: window.open_run(run_dir))
        window.close()
        return out


def umap_first_use(app, open_seconds: float, service: bool, n: int = 2000) -> dict:
    """Seconds from asking an explorer, open `open_seconds`, for a UMAP map until it is drawn; longest stall."""
    from ui import tasks
    from ui.explorer.view import Explorer
    from workbench.explore import EmbeddingSource

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 32)) * 4
    labels = rng.integers(0, 10, n)
    emb = (centres[labels] + rng.standard_normal((n, 32))).astype(np.float32)
    if service:
        tasks.start_projection_service()
    else:  # a fresh start for the in-process baseline: this process has not warmed UMAP up
        import ui.explorer.view as view

        view._umap.update(warm=False, task=None)
    with tempfile.TemporaryDirectory() as tmp:
        explorer = Explorer()
        explorer.resize(1200, 800)
        explorer.show()
        pump(app, open_seconds)
        source = EmbeddingSource(run_dir=Path(tmp), label="bench", step=0, embeddings=emb, labels=labels,
                                 indices=np.arange(n), images=np.zeros((n, 8, 8, 3), np.uint8),
                                 class_names=[str(i) for i in range(10)])
        beat = Heartbeat()
        beat.start()
        t0 = time.monotonic()
        explorer.show_source(source, "umap")
        pump(app, 900, until=lambda: not explorer.is_computing())
        seconds = time.monotonic() - t0
        result = beat.stop()
        drawn = len(explorer._xy) == n
        explorer.close()
    tasks.stop_projection_service()
    return {"seconds": seconds, "drawn": drawn, **result}
FIRST_PAINT = """
import json, sys, tempfile, time
from pathlib import Path
from PySide6.QtCore import QEvent, QObject
from ui.app import make_app  # first, as `ssl-workbench gui` does
app = make_app([sys.argv[0]])
from ui.main_window import MainWindow
painted = []
class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Paint and not painted:
            painted.append(time.perf_counter())
        return False
watch = Watch()
app.installEventFilter(watch)
window = MainWindow(Path(tempfile.mkdtemp(prefix="bench-runs-")), antialias=True)
window.show()
while not painted:
    app.processEvents()
print(json.dumps({"wall": painted[0] - T0, "cpu": time.process_time(), "torch": "torch" in sys.modules}))
"""


def first_paint() -> dict:
    """Wall seconds from a fresh interpreter's start to the main window's first paint, its CPU
    seconds (interpreter start included) and whether torch was imported by then."""
    import json
    import subprocess

    root = Path(__file__).resolve().parent.parent
    code = "import time; T0 = time.perf_counter()\n" + FIRST_PAINT
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")})
    if done.returncode != 0:
        sys.exit(f"first-paint child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="how long to measure while training")
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--trace", action="store_true", help="name what the GUI thread did during stalls")
    p.add_argument("--no-service", action="store_true", help="no projection process: tasks on threads here")
    p.add_argument("--open-seconds", type=float, default=30.0, help="how long the explorer is open before UMAP")
    p.add_argument("--only-umap", action="store_true", help="measure only UMAP's first use")
    p.add_argument("--first-paint", action="store_true", help="measure only the time to first paint")
    p.add_argument("--only-actions", action="store_true",
                   help="measure only the stalls at Start, theme switches and opening a run")
    args = p.parse_args()
    paint = min((first_paint() for _ in range(3)), key=lambda r: r["wall"])
    print(f"first paint: {paint['wall']:.2f} s wall, {paint['cpu']:.2f} s CPU from interpreter start, "
          f"best of 3 (target < 1 s); torch imported by then: {'yes' if paint['torch'] else 'no'}")
    if args.first_paint:
        return
    app = make_app([sys.argv[0]])
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    if not args.no_service and not args.only_actions:
        ours = umap_first_use(app, args.open_seconds, service=True)
        before = umap_first_use(app, args.open_seconds, service=False)
        for what, r in (("projection process", ours), ("thread in the GUI (before)", before)):
            print(f"UMAP first use, {what}, app open {args.open_seconds:.0f} s: click → map {r['seconds']:.1f} s "
                  f"(target ≤ 10; drawn {r['drawn']}), longest stall meanwhile {r['max']:.0f} ms "
                  f"(GUI thread's own CPU in it {r['cpu_max']:.0f} ms)")
    if args.only_umap:
        return
    if not args.no_service:
        import atexit

        from ui.tasks import start_projection_service, stop_projection_service

        start_projection_service()  # as the app does, before the window
        # stopped before multiprocessing's exit handler ends it: its watcher took that for a crash and started
        # another, which outlived the bench
        atexit.register(stop_projection_service)
    for what, r in stall_at_actions(app).items():
        print(stall_line(what, r, "   (target: none above 250 ms)"))
    if args.only_actions:
        return
    import scatter as scatter_bench
    xy, cats = scatter_bench.clustered(args.points)
    frame = scatter_bench.ours(app, xy, cats, frames=20, queries=200)
    print(f"scatter, {args.points:,} points: {frame['frame']:.1f} ms per frame (target < 50), "
          f"hover hit-test {frame['hover']:.0f} µs")
    for steps in (3_000, 30_000, 100_000):
        cost = dashboard_tick_cost(app, steps)
        print(f"dashboard tick at {steps:>7,} steps: median {cost['median']:.1f} ms, max {cost['max']:.1f} ms CPU; "
              f"full repaint {cost['full']:.1f} ms ({cost['full'] / max(cost['median'], 0.1):.1f}× a tick)")
    streamed, report = stall_streamed(app, args.seconds / 2, 30_000, args.trace)
    print(stall_line("synthetic stream", streamed, "   (30k steps shown, 4 events/s; target < 100)"))
    if report:
        print(report)
    idle, busy, after, n, report = stall_during_training(app, args.seconds, args.trace)
    print(stall_line("idle window", idle))
    print(stall_line("after the run", after))
    print(stall_line("while training", busy, f"   ({n} events streamed; target < 100)"))
    if report:
        print(report)


if __name__ == "__main__":
    main()
