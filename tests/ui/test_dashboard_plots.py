"""Dashboard plots: legends that never cover a line, method terms split by scale, notes that fit, readable colours."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from ui import theme
from ui.dashboard import Dashboard
from workbench.term_units import FRACTION, PERPLEXITY, term_scale

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def dash(qtbot):
    d = Dashboard()
    qtbot.addWidget(d)
    d.resize(1200, 800)
    d.show()
    return d


def started(steps: int, dataset: str = "lee") -> dict:
    return {"type": "started", "t": 1000.0, "step": 0, "epoch": 0, "method": "bert_lite", "title": "BERT-lite",
            "dataset": dataset, "device": "CPU", "steps_per_epoch": steps, "total_steps": steps, "epochs": 1,
            "batch_size": 64, "resumed": False}


def step(s: int, logs: dict | None = None) -> dict:
    return {"type": "step", "t": 1000.0 + s, "step": s, "epoch": 0, "loss": 7.0 - s / 100, "lr": 1e-3,
            "img_s": 300.0, "logs": logs or {}}


def points_along(curve, n: int = 400) -> np.ndarray:
    """Scene positions along a curve's drawn line (its vertices and the segments between them)."""
    x, y = curve.xData, curve.yData
    at = np.linspace(0, len(x) - 1, n)
    xs, ys = np.interp(at, np.arange(len(x)), x), np.interp(at, np.arange(len(x)), y)
    return np.array([[p.x(), p.y()] for p in (curve.mapToScene(QPointF(a, b)) for a, b in zip(xs, ys))])


def covered(legend, curves) -> int:
    rect = legend.sceneBoundingRect()
    return sum(int(rect.contains(QPointF(*p))) for c in curves for p in points_along(c))


def test_a_legend_never_covers_a_line_between_two_points(dash, qtbot):
    """No vertex lies in the top-right corner, but the line from the peak down to the last point crosses it:
    counting vertices alone put the legend over that line."""
    dash.add_event(started(200))
    term_a = {1: 0.5, 130: 1.0, 200: 0.7}
    term_b = {1: 0.0, 200: 0.0}
    for s in range(1, 201):
        logs = {**({"term a": term_a[s]} if s in term_a else {}), **({"term b": term_b[s]} if s in term_b else {})}
        dash.add_event(step(s, logs))
    qtbot.waitUntil(lambda: len(dash._term_curves) == 2 and dash._term_curves["term a"].xData is not None
                    and len(dash._term_curves["term a"].xData) == 3, timeout=3000)
    for _ in range(3):  # ranges settle (the room made for the legend) over a redraw or two
        dash.redraw()
        QApplication.processEvents()
    assert dash.terms_legend.isVisible()
    assert covered(dash.terms_legend, dash._term_curves.values()) == 0


def bert_events() -> list[dict]:
    """A masked language model's run: its train accuracy each step, then perplexities and accuracies."""
    evs = [started(96)]
    evs += [step(s, {"masked-word accuracy (train)": min(0.09, s / 1000)}) for s in range(1, 97)]
    evs.append({"type": "eval", "t": 2000.0, "step": 96, "epoch": 1,
                "measures": {"masked-word perplexity": 474.6, "unigram perplexity": 461.1,
                             "masked-word accuracy": 0.0868, "most-frequent-word accuracy": 0.0868}})
    return evs


def drawn_height(curve) -> float:
    ys = points_along(curve)[:, 1]
    return float(ys.max() - ys.min())


def test_fractions_beside_perplexities_get_their_own_axis(dash, qtbot):
    for ev in bert_events():
        dash.add_event(ev)
    qtbot.waitUntil(lambda: len(dash._term_curves) == 5, timeout=3000)
    dash.redraw()
    QApplication.processEvents()
    plot_height = dash.terms_plot.vb.sceneBoundingRect().height()
    # the train accuracy (0 → 0.09) spans much of the plot instead of lying flat under 470 on one axis
    assert drawn_height(dash._term_curves["masked-word accuracy (train)"]) > 0.4 * plot_height
    assert dash.terms_plot.getAxis("right").isVisible()
    assert dash.terms_plot.getAxis("left").labelText == "perplexity"
    assert "fraction" in dash.terms_plot.getAxis("right").labelText
    names = [label.text for _, label in dash.terms_legend.items]
    assert "masked-word perplexity" in names and "masked-word accuracy (right)" in names
    # a new run without a second scale: one axis again, the left one
    dash.clear()
    dash.redraw()
    assert not dash.terms_plot.getAxis("right").isVisible()


def test_one_scale_stays_on_one_axis(dash, qtbot):
    """word2vec's two probabilities: no second axis for a plot of one scale."""
    dash.add_event(started(20))
    for s in range(1, 21):
        dash.add_event(step(s, {"p_context": 0.4 - s / 100, "p_noise": 0.4 - s / 90}))
    qtbot.waitUntil(lambda: len(dash._term_curves) == 2, timeout=3000)
    dash.redraw()
    assert not dash.terms_plot.getAxis("right").isVisible()
    assert not any(c.on_right for c in dash._term_curves.values())


def test_term_scale_reads_names_then_values():
    assert term_scale("masked-word perplexity") == PERPLEXITY
    assert term_scale("test NLL (nats/image)") == "nats/image"
    assert term_scale("masked-word accuracy (train)") == FRACTION
    assert term_scale("p_noise", [0.2, 0.4]) == FRACTION
    assert term_scale("invariance", [3.0, 1.2]) == ""


def test_notes_under_the_evaluation_plot_fit_its_width(dash, qtbot):
    """The word benchmarks' noise notes, one line once, ran past a narrow plot under its neighbour."""
    dash.resize(900, 700)
    dash.add_event(started(12))
    for s in range(1, 13):
        dash.add_event(step(s))
    dash.add_event({"type": "eval", "t": 1100.0, "step": 12, "epoch": 1,
                    "scores": {"wordsim353 ρ": 0.1, "simlex999 ρ": 0.05},
                    "coverage": {"wordsim353": [60, 353], "simlex999": [96, 999]}})
    qtbot.waitUntil(lambda: len(dash._score_curves) == 2, timeout=3000)
    dash.redraw()
    QApplication.processEvents()
    label = dash.knn_plot.getAxis("bottom").label
    assert "simlex999 on 96 pairs" in label.toPlainText()
    assert label.boundingRect().width() <= dash.knn_plot.vb.sceneBoundingRect().width()


def test_curves_stay_readable_on_the_dark_ground(dash, qtbot):
    """The palette's dark green and wine are kept for the light ground and lifted on the dark one, also for
    curves drawn before the switch."""
    app = QApplication.instance()
    for ev in bert_events():
        dash.add_event(ev)
    qtbot.waitUntil(lambda: len(dash._term_curves) == 5, timeout=3000)
    try:
        theme.apply_theme(app, "dark")
        dash.apply_theme()
        bg = theme.colors()["plot_bg"]
        for curve in dash._term_curves.values():
            assert theme.contrast(curve.opts["pen"].color().name(), bg) >= theme.CURVE_CONTRAST
        assert all(theme.contrast(theme.curve_color(i), bg) >= theme.CURVE_CONTRAST for i in range(10))
    finally:
        theme.apply_theme(app, "light")
        dash.apply_theme()
    bg = theme.colors()["plot_bg"]
    assert all(theme.contrast(theme.curve_color(i), bg) >= theme.CURVE_CONTRAST for i in range(10))


def test_a_word_run_shows_no_empty_legend_before_its_first_scores(dash, qtbot):
    dash.add_event(started(20))
    for s in range(1, 11):
        dash.add_event(step(s))
    qtbot.waitUntil(lambda: dash.loss_curve.xData is not None and len(dash.loss_curve.xData) == 10, timeout=3000)
    dash.redraw()
    assert not dash.knn_legend.items and not dash.knn_legend.isVisible()


def test_names_written_under_a_cramped_plot_are_readable_after_a_theme_switch(qtbot):
    import re
    dash = Dashboard()
    qtbot.addWidget(dash)
    dash.resize(940, 600)  # the dashboard's share of a 1280×720 window: legends go under their plots
    dash.show()
    for ev in bert_events():
        dash.add_event(ev)
    qtbot.waitUntil(lambda: len(dash._term_curves) == 5, timeout=3000)
    app = QApplication.instance()
    try:
        theme.apply_theme(app, "dark")
        dash.apply_theme()
        bg = theme.colors()["plot_bg"]

        def readable() -> bool:
            colours = re.findall(r"color:(#[0-9a-fA-F]{6})'>■", dash.terms_plot.getAxis("bottom").labelText)
            return len(colours) == 5 and all(theme.contrast(c, bg) >= theme.TEXT_CONTRAST for c in colours)
        qtbot.waitUntil(readable, timeout=3000)
    finally:
        theme.apply_theme(app, "light")
        dash.apply_theme()


def test_a_dashboard_shown_again_redraws_at_once(dash, qtbot):
    """Redraws slow down when they are costly (streaming); showing the tab again must not wait for that."""
    dash.hide()
    dash._redraw_ms = 800.0  # a costly last redraw: the next would come a second later
    dash.add_event(started(10))
    for s in range(1, 11):
        dash.add_event(step(s))
    dash.show()
    qtbot.waitUntil(lambda: dash.loss_curve.xData is not None and len(dash.loss_curve.xData) == 10, timeout=400)


def test_the_collapse_plots_axis_label_sits_by_its_own_ticks(dash, qtbot):
    """'std ratio ●' touched the evaluation plot on its left, 35 px from the collapse plot itself."""
    dash.resize(940, 600)
    dash.add_event(started(20, dataset="shapes"))
    for s in range(1, 21):
        dash.add_event(step(s))
    dash.add_event({"type": "eval", "t": 1100.0, "step": 20, "epoch": 1, "knn_top1": 0.6, "knn_best": 0.6,
                    "collapse_std_ratio": 0.8, "effective_rank": 20.0})
    qtbot.waitUntil(lambda: dash.std_curve.xData is not None and len(dash.std_curve.xData) == 1, timeout=3000)
    dash.redraw()
    QApplication.processEvents()
    label = dash.collapse_plot.getAxis("left").label.sceneBoundingRect()
    to_neighbour = label.left() - dash.knn_plot.vb.sceneBoundingRect().right()
    to_own_plot = dash.collapse_plot.vb.sceneBoundingRect().left() - label.right()
    assert to_neighbour >= 12 and to_own_plot <= 36  # its ticks' labels (~20 px) and their offsets between


def y_range(plot) -> tuple[float, float]:
    return tuple(plot.vb.viewRange()[1])


def loss_step(s: int, loss: float) -> dict:
    return {"type": "step", "t": 1000.0 + s, "step": s, "epoch": 0, "loss": loss, "lr": 1e-3, "img_s": 300.0,
            "logs": {}}


def stream(dash, events) -> None:
    for ev in events:
        dash.add_event(ev)
    dash.redraw()
    dash.catch_up_x()  # the step axis's jump reaches the other plots a few turns later (see _sync_x)
    QApplication.processEvents()


def test_a_y_range_holds_while_new_values_stay_inside_it_and_steps_when_they_leave(dash):
    """A loss that falls a little on each tick: the y axis (its ticks, its grid) stays put until the values
    leave its range; it then moves to round bounds with room beyond them."""
    stream(dash, [started(1000)] + [loss_step(s, 3.0 - s / 100) for s in range(1, 51)])  # 2.99 … 2.5
    held = y_range(dash.loss_plot)
    assert held[0] < 2.5 and held[1] > 2.99
    for s in range(51, 55):  # new lows, 2.49 … 2.46: inside the range shown
        stream(dash, [loss_step(s, 3.0 - s / 100)])
        assert y_range(dash.loss_plot) == held
    stream(dash, [loss_step(56, 1.0)])  # far below
    lo, hi = y_range(dash.loss_plot)
    assert lo < 1.0 < 2.99 < hi and (lo, hi) != held
    bounds = dash.loss_plot.vb.held_y
    step = (bounds[1] - bounds[0]) / round((bounds[1] - bounds[0]) / 0.1)
    assert bounds[0] / step == pytest.approx(round(bounds[0] / step))  # round numbers


def test_overlays_count_in_the_stepped_y_range(dash, tmp_path):
    import json
    other = tmp_path / "other"
    other.mkdir()
    evs = [started(100)] + [loss_step(s, 9.0) for s in range(1, 60)]
    (other / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evs))
    stream(dash, [started(1000)] + [loss_step(s, 3.0 - s / 100) for s in range(1, 51)])
    assert y_range(dash.loss_plot)[1] < 9.0
    dash.add_overlay(other)
    stream(dash, [loss_step(51, 2.49)])
    stream(dash, [])  # the legend, now naming the other run, settles in its corner
    assert y_range(dash.loss_plot)[1] > 9.0  # the other run's EMA (9.0) is in view
    held = y_range(dash.loss_plot)
    stream(dash, [loss_step(52, 2.48)])
    assert y_range(dash.loss_plot) == held


def test_a_new_run_gets_a_y_range_of_its_own(dash):
    stream(dash, [started(1000)] + [loss_step(s, 300.0 - s) for s in range(1, 51)])
    dash.clear()
    stream(dash, [started(1000)] + [loss_step(s, 3.0 - s / 100) for s in range(1, 51)])
    lo, hi = y_range(dash.loss_plot)
    assert hi < 4.0 and lo > 2.0


def test_stepped_range_holds_grows_and_shrinks():
    from ui.dashboard_plots import stepped_range
    lo, hi = stepped_range(2.5, 2.99)
    assert lo < 2.5 and hi > 2.99 and hi - lo < 1.5 * 0.49
    assert stepped_range(2.45, 2.99, (lo, hi)) == (lo, hi) or 2.45 < lo
    assert stepped_range(2.55, 2.95, (lo, hi)) == (lo, hi)
    assert stepped_range(0.0, 2.99, (lo, hi))[0] < 0.0
    shrunk = stepped_range(2.9, 2.99, (lo, hi))  # the values now spread over a fifth of it: made anew
    assert shrunk[1] - shrunk[0] < 0.2
    assert stepped_range(1.0, 1.0) == (1.0, 1.0)


def test_a_long_curve_on_the_right_axis_is_drawn_from_a_few_points_per_pixel(dash):
    """The terms' right axis is a ViewBox of its own, which does not thin out its curves as a plot does: a
    fraction there painted all of a long run's steps on every tick."""
    n = 6000
    evs = [started(n)] + [step(s, {"masked-word accuracy (train)": 0.05 + 0.04 * np.sin(s / 7)}) for s in range(1, n + 1)]
    evs.append({"type": "eval", "t": 9000.0, "step": n, "epoch": 1, "measures": {"masked-word perplexity": 474.6}})
    stream(dash, evs)
    stream(dash, [])
    curve = dash._term_curves["masked-word accuracy (train)"]
    assert curve.on_right
    shown = len(curve.curve.xData)
    width = dash.terms_plot.vb.boundingRect().width()
    assert shown <= 4 * width < n  # a min and a max per pixel column, not every step


def test_a_nearly_flat_curve_keeps_its_y_range_while_it_wobbles_inside_it(dash):
    """Throughput wobbling by under 1 %: drawn around its value (not stretched by auto-range), and the range
    stays put while new values stay inside it, so its axis is not laid out and painted again on every tick."""
    def speed_step(s: int, img_s: float) -> dict:
        return {**loss_step(s, 3.0 - s / 100), "img_s": img_s}

    stream(dash, [started(1000)] + [speed_step(s, 745.0 + (-1) ** s) for s in range(1, 21)])
    held = y_range(dash.speed_plot)
    assert held[0] < 744.0 and 746.0 < held[1] and held[1] - held[0] >= 0.02 * 745  # noise drawn as noise
    for s in range(21, 30):  # a new value each tick, inside the range shown
        stream(dash, [speed_step(s, 745.0 + 2.5 * (-1) ** s * (s % 3) / 2)])
        assert y_range(dash.speed_plot) == held
    stream(dash, [speed_step(30, 700.0)])  # a real drop: the range follows
    lo, hi = y_range(dash.speed_plot)
    assert lo < 700.0 < 746.0 < hi


def test_a_term_can_leave_the_right_axis_and_come_back(dash):
    """A fraction beside a perplexity goes on the right axis (thinned and clipped to the view there); when its
    values leave 0…1 it moves left, and back when they return. pyqtgraph's ViewBox.addItem puts a curve in the
    scene before inside the ViewBox, and a curve that clips to its view looked for one there and failed, so the
    redraw stopped half-way (a theme switch after it left the dashboard half in the old palette)."""
    evs = [started(400)] + [step(s, {"share": 0.5 + 0.1 * np.sin(s)}) for s in range(1, 60)]
    evs.append({"type": "eval", "t": 1100.0, "step": 59, "epoch": 0, "measures": {"masked-word perplexity": 400.0}})
    stream(dash, evs)
    curve = dash._term_curves["share"]
    assert curve.on_right
    stream(dash, [step(s, {"share": 40.0 + s}) for s in range(60, 200)])  # no longer a fraction: to the left
    assert curve.on_right is False and curve.getViewBox() is dash.terms_plot.vb
    stream(dash, [step(s, {"share": 0.5}) for s in range(200, 2000)])  # mostly a fraction again
    dash.apply_theme()
    assert curve.getViewBox() in (dash.terms_plot.vb, dash.terms_right)


def x_range(plot) -> tuple[float, float]:
    return tuple(plot.vb.viewRange()[0])


def test_a_step_axis_jump_reaches_the_other_plots_a_group_per_turn(dash, qtbot):
    """A jump of the shared step axis repaints every plot's bottom axis and grid: in one turn, the longest stall
    while a run streamed. The loss plot jumps in the redraw; the others follow a group per turn, and then every
    curve is drawn to its newest point."""
    stream(dash, [started(10_000)] + [step(s, {"acc": 0.5}) for s in range(1, 201)])
    qtbot.waitUntil(lambda: not dash._x_behind, timeout=2000)
    before = x_range(dash.loss_plot)
    assert all(x_range(p) == pytest.approx(before) for p in dash._followers)
    for s in range(201, 241):  # past the step ceiling: the axis jumps
        dash.add_event(step(s, {"acc": 0.5}))
    dash.redraw()
    jumped = x_range(dash.loss_plot)
    assert jumped[1] > before[1]
    assert x_range(dash.speed_plot) == pytest.approx(before)  # not in this turn
    caught = set()
    while dash._x_behind:  # one group each time the timer fires
        behind = len(dash._x_behind)
        qtbot.waitUntil(lambda: len(dash._x_behind) < behind, timeout=2000)
        now = {p for p in dash._followers if x_range(p) == pytest.approx(jumped)}
        assert len(now - caught) <= 3
        caught = now
    assert all(x_range(p) == pytest.approx(jumped) for p in dash._followers)
    QApplication.processEvents()
    for series, curve in dash._bindings:  # every curve ends at its series' last point, inside its view
        if series.n and curve is not dash.gpu_curve:
            x, _ = curve.getData()
            assert x[-1] == series.x[series.n - 1]


def test_a_runs_first_steps_reach_every_plot_at_once(dash, qtbot):
    """From a new run's empty axes the step range grows many times over: a plot left behind would clip away most
    of its points and fit its y range to the few left, then fit it again."""
    for ev in [started(10_000)] + [step(s) for s in range(1, 41)]:
        dash.add_event(ev)
    dash.redraw()
    assert not dash._x_behind
    assert all(x_range(p) == pytest.approx(x_range(dash.loss_plot)) for p in dash._followers)


def test_a_zoom_reaches_every_plot_at_once(dash, qtbot):
    stream(dash, [started(1000)] + [step(s) for s in range(1, 101)])
    dash.speed_plot.vb.setXRange(20, 60, padding=0)  # as a wheel over the throughput plot does
    assert all(x_range(p) == pytest.approx((20, 60)) for p in (dash.loss_plot, *dash._followers))


def test_a_saved_image_shows_every_plot_on_the_same_steps(dash, qtbot, tmp_path):
    stream(dash, [started(10_000)] + [step(s) for s in range(1, 201)])
    for s in range(201, 241):
        dash.add_event(step(s))
    dash.redraw()
    assert dash._x_behind  # the jump to 240 steps has not reached every plot yet
    dash.save_plots(tmp_path / "curves.png")
    assert all(x_range(p) == pytest.approx(x_range(dash.loss_plot)) for p in dash._followers)


def test_long_curves_are_painted_as_segments_with_an_opaque_faint_loss(dash, qtbot):
    """Antialiased (the app's setting), one path of a long zig-zagging step loss took Qt's stroker ~250 ms to paint:
    long solid curves are drawn as separate segments, whose overlapping ends need opaque pens."""
    stream(dash, [started(1000)] + [step(s, {"acc": 0.5}) for s in range(1, 101)])
    curves = [dash.loss_curve, dash.ema_curve, dash.speed_curve, dash.lr_curve, dash.gpu_curve,
              *dash._term_curves.values()]
    for curve in curves:
        item = curve.curve
        if curve is not dash.ema_curve:  # step-by-step values are drawn aliased (a band of noise; ~10-20 ms a curve)
            assert item.opts["antialias"] is False
        item.opts["antialias"] = True
        assert item._shouldUseDrawLineSegments(item.opts["pen"])
    for name in ("light", "dark"):
        theme.apply_theme(QApplication.instance(), name)
        dash.apply_theme()
        faint = dash.loss_curve.opts["pen"].color()
        assert faint.alpha() == 255
        ground, colour = theme.colors()["plot_bg"], theme.series_color(0)
        between = [min(a, b) <= c <= max(a, b) for a, b, c in
                   zip(pg_rgb(ground), pg_rgb(colour), faint.getRgb()[:3])]
        assert all(between) and faint.getRgb()[:3] != pg_rgb(colour)
    theme.apply_theme(QApplication.instance(), "light")


def pg_rgb(colour) -> tuple[int, int, int]:
    import pyqtgraph as pg

    return pg.mkColor(colour).getRgb()[:3]


def test_a_runs_first_points_get_their_markers_in_one_update(dash, monkeypatch):
    """Markers on a line-only curve's first points are set in one update, not one per setter (symbol, size, brush,
    pen), each of which re-made every point's marker on the run's first redraw."""
    import pyqtgraph as pg

    calls = []
    original = pg.ScatterPlotItem.setData
    monkeypatch.setattr(pg.ScatterPlotItem, "setData", lambda self, *a, **k: (calls.append(self), original(self, *a, **k))[1])
    stream(dash, [started(1000)] + [step(s) for s in range(1, 4)])
    for curve in (dash.loss_curve, dash.speed_curve, dash.lr_curve):
        assert curve.opts["symbol"] == "o" and curve.scatter.isVisible()
        # the data, the markers, and the range's first fits redraw them (7 with a call per setter)
        assert calls.count(curve.scatter) <= 4
    # the step loss's line is faint (its colour blended with the ground), its first points' markers are not
    assert dash.loss_curve.opts["symbolBrush"].color().name() == pg.mkColor(theme.series_color(0)).name()
    stream(dash, [step(s) for s in range(4, 12)])
    assert dash.loss_curve.opts["symbol"] is None and not dash.loss_curve.scatter.isVisible()


def rgb_of(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)])


def tick_pens(axis) -> list:
    from PySide6.QtGui import QPainter, QPicture
    picture = QPicture()
    painter = QPainter(picture)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [pen for pen, _, _ in specs[1]]


@pytest.mark.parametrize("theme_name", ["light", "dark"])
def test_the_grid_is_opaque_in_the_colour_its_faint_lines_showed_and_behind_the_curves(dash, theme_name):
    # semi-transparent lines sent Qt's blending to its thread pool: ~75 ms a full repaint on two cores
    app = QApplication.instance()
    theme.apply_theme(app, theme_name)
    dash.apply_theme()
    try:
        dash.add_event(started(400))
        for s in range(1, 300, 7):
            dash.add_event(step(s))
        dash.redraw()
        ground, fg = rgb_of(theme.colors()["plot_bg"]), rgb_of(theme.colors()["plot_fg"])
        for plot in (dash.loss_plot, dash.terms_plot, dash.knn_plot, dash.speed_plot, dash.lr_plot):
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                assert axis.zValue() < plot.vb.zValue()  # drawn first: the curves cross the grid, not it them
                pens = tick_pens(axis)
                assert pens, f"{name} axis of {plot.titleLabel.text} drew no grid"
                for pen in pens:
                    c = pen.color()
                    assert c.alpha() == 255
                    rgb = np.array([c.red(), c.green(), c.blue()])
                    # on the segment from the ground to the axis colour: what the faint line looked like there
                    share = np.dot(rgb - ground, fg - ground) / np.dot(fg - ground, fg - ground)
                    assert 0.0 < share < 1.0
                    assert np.abs(ground + share * (fg - ground) - rgb).max() <= 2
                # the grid lines are faint: nearer the ground than the axis colour
                assert min(np.abs(np.array([p.color().red() for p in pens]) - ground[0])) < abs(fg[0] - ground[0]) / 2
    finally:
        theme.apply_theme(app, "light")
        dash.apply_theme()


def test_only_the_left_and_bottom_axes_show_until_a_plot_asks_for_its_right_one(dash):
    for plot in (dash.loss_plot, dash.speed_plot, dash.lr_plot):
        assert plot.getAxis("left").isVisible() and plot.getAxis("bottom").isVisible()
        assert not plot.getAxis("top").isVisible() and not plot.getAxis("right").isVisible()
