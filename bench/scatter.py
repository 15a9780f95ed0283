"""Embedding-map speed: ui.scatter.ScatterView against a naive pyqtgraph scatter, in the same run.

Naive baseline: one ScatterPlotItem given a separate pg.mkBrush per point, hover answered by
ScatterPlotItem.pointsAt. Ours: one shared brush per category, numpy restyling, KD-tree
hit-testing, a density image past ui.scatter.DENSITY_THRESHOLD points.
Past the threshold an extra row, "points", times our scatter with the density image turned off.
Frame time = one full repaint of an offscreen 1000×800 view (widget.grab()) after a one-pixel
pan, averaged over --frames frames after warm-up. "zoom ms" = the repaint after each zoom step (×0.8
towards a cluster for half the frames, then back out); "refresh ms" (beside it, not in it) = the
refresh the view runs once a zoom pauses: re-binning the density image over the new view, or
resolving it into the points in view; "close ms" = a pan frame zoomed in on a
cluster, where a density map draws the points in view as dots. Target: < 50 ms per frame at 100k
and at 1M points. The naive baseline is skipped past --naive-max points (minutes of set-up).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from ui import theme  # noqa: E402
from ui.scatter import DENSITY_THRESHOLD, ScatterView  # noqa: E402

WIDTH, HEIGHT = 1000, 800
CATEGORIES = 10


def clustered(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points in CATEGORIES Gaussian clusters, like a trained embedding map."""
    rng = np.random.default_rng(seed)
    cats = rng.integers(0, CATEGORIES, n)
    centres = rng.normal(0, 6, (CATEGORIES, 2))
    return centres[cats] + rng.normal(0, 1, (n, 2)), cats


def frame_ms(app: QApplication, widget: pg.PlotWidget, frames: int) -> float:
    vb = widget.getPlotItem().getViewBox()
    px = vb.viewPixelSize()[0]
    for _ in range(3):  # warm-up: atlas pixmap, caches
        widget.grab()
    t0 = time.perf_counter()
    for i in range(frames):
        # pan by a pixel so each frame is a real repaint with a new transform, as while dragging;
        # no processEvents here: that would also paint the (offscreen) window, counting two frames
        vb.translateBy(x=px if i % 2 else -px)
        widget.grab()
    return 1000 * (time.perf_counter() - t0) / frames


def zoom_ms(app: QApplication, widget: pg.PlotWidget, xy: np.ndarray, frames: int, refresh=None) -> tuple[float, float]:
    """Zoom in on a cluster a step (×0.8) per frame, then back out: mean ms per repaint, and per refresh."""
    vb = widget.getPlotItem().getViewBox()
    widget.grab()
    centre = pg.Point(*xy[0])
    paint = work = 0.0
    for i in range(frames):
        s = 0.8 if i < frames // 2 else 1.25
        vb.scaleBy(s=(s, s), center=centre)
        t0 = time.perf_counter()
        if refresh is not None:
            refresh()  # what the view's own timer runs once a zoom pauses (re-binning, resolving into points)
        t1 = time.perf_counter()
        widget.grab()
        work += t1 - t0
        paint += time.perf_counter() - t1
    vb.autoRange()
    return 1000 * paint / frames, 1000 * work / frames


def close_ms(app: QApplication, widget: pg.PlotWidget, xy: np.ndarray, frames: int, refresh=None) -> float:
    """Pan frames zoomed in on one cluster (a tenth of the map's width)."""
    vb = widget.getPlotItem().getViewBox()
    centre = xy[0]
    w = (xy[:, 0].max() - xy[:, 0].min()) / 10
    vb.setRange(xRange=(centre[0] - w / 2, centre[0] + w / 2), yRange=(centre[1] - w / 2, centre[1] + w / 2),
                padding=0)
    if refresh is not None:
        refresh()
    out = frame_ms(app, widget, frames)
    vb.autoRange()
    return out


def hover_us(query, xy: np.ndarray, queries: int) -> float:
    rng = np.random.default_rng(1)
    pts = xy[rng.integers(0, len(xy), queries)] + rng.normal(0, 0.05, (queries, 2))
    query(*pts[0])  # first call builds the tree / SpotItems; not a per-query cost
    t0 = time.perf_counter()
    for x, y in pts:
        query(x, y)
    return 1e6 * (time.perf_counter() - t0) / queries


def ours(app, xy, cats, frames, queries, density: bool = True) -> dict:
    view = ScatterView()
    if not density:  # what the density image saves: the same points drawn one by one
        view.density_threshold = len(xy)
    view.resize(WIDTH, HEIGHT)
    view.show()
    app.processEvents()
    t0 = time.perf_counter()
    view.set_points(xy, cats, [f"class {i}" for i in range(CATEGORIES)],
                    [theme.series_color(i) for i in range(CATEGORIES)])
    setup = 1000 * (time.perf_counter() - t0)
    app.processEvents()
    t0 = time.perf_counter()
    view.update_positions(xy + 0.01, animate=False)
    move = 1000 * (time.perf_counter() - t0)
    out = dict(setup=setup, move=move, frame=frame_ms(app, view, frames),
               zoom=zoom_ms(app, view, xy, frames, view.refresh_view), close=close_ms(app, view, xy, frames, view.refresh_view),
               hover=hover_us(view.index_at, xy, queries), density=view.is_density())
    view.close()
    view.deleteLater()
    return out


def naive(app, xy, cats, frames, queries) -> dict:
    widget = pg.PlotWidget()
    widget.resize(WIDTH, HEIGHT)
    widget.show()
    app.processEvents()
    colours = [theme.series_color(i) for i in range(CATEGORIES)]
    t0 = time.perf_counter()
    brushes = [pg.mkBrush(colours[c]) for c in cats]  # a new QBrush for every point
    item = pg.ScatterPlotItem(pos=xy, brush=brushes, size=3 if len(xy) > 20_000 else 5, pen=None)
    widget.addItem(item)
    setup = 1000 * (time.perf_counter() - t0)
    app.processEvents()
    t0 = time.perf_counter()
    item.setData(pos=xy + 0.01, brush=brushes)  # the public way to move points
    move = 1000 * (time.perf_counter() - t0)
    out = dict(setup=setup, move=move, frame=frame_ms(app, widget, frames), zoom=zoom_ms(app, widget, xy, frames),
               close=close_ms(app, widget, xy, frames),
               hover=hover_us(lambda x, y: item.pointsAt(QPointF(x, y)), xy, queries), density=False)
    widget.close()
    widget.deleteLater()
    return out


def empty_frame_ms(app: QApplication, frames: int) -> float:
    """The floor: one repaint of an empty plot of the same size (what the machine's load alone costs a frame)."""
    widget = pg.PlotWidget()
    widget.resize(WIDTH, HEIGHT)
    widget.show()
    app.processEvents()
    out = frame_ms(app, widget, frames)
    widget.close()
    widget.deleteLater()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated point counts")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--queries", type=int, default=200, help="hover queries timed per size")
    parser.add_argument("--naive-max", type=int, default=200_000,
                        help="largest size the naive baseline is timed at (its set-up takes minutes at 1M)")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"offscreen {WIDTH}×{HEIGHT}, {args.frames} frames per figure, {args.queries} hover queries; "
          f"pyqtgraph {pg.__version__}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")
    header = (f"{'points':>9} | {'':6} | {'set ms':>8} | {'move ms':>8} | {'frame ms':>8} | {'zoom ms':>8} | "
              f"{'refresh ms':>10} | {'close ms':>8} | {'hover µs':>9} | note")
    print(header)
    print("-" * len(header))
    print(f"{0:>9} | {'empty':6} | {'':>8} | {'':>8} | {empty_frame_ms(app, args.frames):8.1f} | "
          f"{'':>8} | {'':>10} | {'':>8} | {'':>9} | an empty plot: the floor this machine's load sets")
    rows = []
    for n in sizes:
        xy, cats = clustered(n)
        a = ours(app, xy, cats, args.frames, args.queries)
        b = naive(app, xy, cats, args.frames, args.queries) if n <= args.naive_max else None
        rows.append((n, a))
        shown = [("ours", a)] + ([("naive", b)] if b else [])
        if n > DENSITY_THRESHOLD:
            shown.insert(1, ("points", ours(app, xy, cats, args.frames, args.queries, density=False)))
        for name, r in shown:
            note = "density image, points in view when zoomed in" if r["density"] else ""
            print(f"{n:>9,} | {name:6} | {r['setup']:8.1f} | {r['move']:8.1f} | {r['frame']:8.1f} | "
                  f"{r['zoom'][0]:8.1f} | {r['zoom'][1]:10.1f} | {r['close']:8.1f} | {r['hover']:9.1f} | {note}")
        if b:
            print(f"{'':>9} | {'ratio':6} | {b['setup'] / a['setup']:7.1f}× | {b['move'] / a['move']:7.1f}× | "
                  f"{b['frame'] / a['frame']:7.1f}× | {b['zoom'][0] / a['zoom'][0]:7.1f}× | {'':>10} | {b['close'] / a['close']:7.1f}× | "
                  f"{b['hover'] / a['hover']:8.1f}× | naive / ours")
        else:
            print(f"{'':>9} | naive baseline skipped (over --naive-max {args.naive_max:,} points)")
    for n, a in rows:
        worst = max(a["frame"], a["zoom"][0], a["close"])
        verdict = "meets" if worst < 50 else "MISSES"
        print(f"target < 50 ms per frame at {n:,}: pan {a['frame']:.1f}, zoom {a['zoom'][0]:.1f}, "
              f"zoomed-in pan {a['close']:.1f} ms ({verdict}); refresh once a zoom pauses {a['zoom'][1]:.1f} ms")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

if __name__ == "__main__":
    main()
