"""Numbers with the context to read them, and plots that do not mislead: floors on the evaluation plot and in the
Runs table, noise notes, units per modality, clean axes on a new run, a single point visible, one colour per name."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QColor

from ui import theme
from ui.dashboard import WORDS_TITLE, Dashboard
from ui.floors import FloorsService, service
from workbench.config import RunConfig, save_run_config
from workbench.floors import floors_key, floors_path

pytestmark = pytest.mark.timeout(60)


def started(dataset: str = "digits", total: int = 500, test_size: int = 2000) -> dict:
    return {"type": "started", "t": 1000.0, "step": 0, "epoch": 0, "method": "simclr", "title": "SimCLR",
            "dataset": dataset, "device": "CPU", "steps_per_epoch": 100, "total_steps": total, "epochs": total // 100,
            "batch_size": 64, "resumed": False, "test_size": test_size}


def step(s: int, loss: float = 1.0, logs: dict | None = None, lr: float = 1e-3) -> dict:
    return {"type": "step", "t": 1000.0 + s / 4, "step": s, "epoch": s // 100, "loss": loss, "lr": lr,
            "img_s": 500.0, "logs": logs or {}}


def image_run(knn0: float = 0.6, rank0: float = 30.0) -> list[dict]:
    evs = [started()]
    for s in range(1, 501):
        evs.append(step(s, 2.0 - s / 500))
        if s % 100 == 0:
            evs.append({"type": "eval", "t": 1000 + s / 4, "step": s, "epoch": s // 100, "knn_top1": knn0 + s / 2000,
                        "knn_best": knn0 + s / 2000, "collapse_std_ratio": 0.3, "effective_rank": rank0 + s / 100})
    return evs


def make_run(folder: Path, events: list[dict], dataset: str = "digits", **settings) -> Path:
    folder.mkdir(parents=True)
    cfg = RunConfig(method=settings.pop("method", "simclr"), dataset=dataset, **settings)
    save_run_config(cfg, folder / "config.json")
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return folder


def cache_floors(run_dir: Path, floors: list[dict], coverage: dict | None = None) -> Path:
    """What `ssl-workbench floors` leaves in the cache, written the way it writes it."""
    from workbench.config import load_run_config
    key = floors_key(load_run_config(run_dir / "config.json"))
    path = floors_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "floors": floors, "coverage": coverage or {}, "test_size": 359,
                                "measured": time.time(), "seconds": 1.0}))
    return path


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("ui.floors._service", None)  # a fresh service: nothing remembered from other tests


@pytest.fixture
def dash(qtbot):
    d = Dashboard()
    qtbot.addWidget(d)
    d.resize(1200, 800)
    d.show()
    return d


def settle(dash, qtbot) -> None:
    dash.redraw()
    qtbot.waitUntil(lambda: not dash._x_behind, timeout=2000)  # the step axis has reached every plot (_sync_x)
    qtbot.wait(20)
    dash.redraw()


def test_a_new_run_starts_from_clean_axes(dash, qtbot):
    for ev in image_run(knn0=0.6, rank0=30.0):
        dash.add_event(ev)
    settle(dash, qtbot)
    assert dash.knn_plot.vb.viewRange()[1][1] > 80 and dash.rank_view.viewRange()[1][1] > 30
    # The next run: started and a first step, no evaluation yet.
    dash.clear("next-run")
    dash.add_event(started(total=100))
    dash.add_event(step(1, loss=5.0))
    settle(dash, qtbot)
    knn_lo, knn_hi = dash.knn_plot.vb.viewRange()[1]
    rank_lo, rank_hi = dash.rank_view.viewRange()[1]
    assert knn_hi <= 1.0 and rank_lo == 0 and rank_hi <= 1.0, "the last run's kNN / effective-rank ranges stayed"


def test_effective_rank_is_drawn_from_zero_so_small_changes_stay_small(dash, qtbot):
    for ev in [started(), step(100), {"type": "eval", "t": 1, "step": 100, "epoch": 1, "knn_top1": 0.9,
                                       "collapse_std_ratio": 0.15, "effective_rank": 55.4},
               step(200), {"type": "eval", "t": 2, "step": 200, "epoch": 2, "knn_top1": 0.9,
                           "collapse_std_ratio": 0.15, "effective_rank": 55.8}]:
        dash.add_event(ev)
    settle(dash, qtbot)
    lo, hi = dash.rank_view.viewRange()[1]
    assert lo == 0 and hi >= 55.8 * 1.2  # 55.4 → 55.8 is not stretched over the whole plot


def test_a_single_point_is_visible(dash, qtbot):
    dash.add_event(started())
    dash.add_event(step(1, loss=4.2, lr=1e-3))
    settle(dash, qtbot)
    for curve in (dash.loss_curve, dash.ema_curve, dash.speed_curve, dash.lr_curve):
        assert curve.opts["symbol"] is not None, "one point and no marker: nothing is drawn"
    lo, hi = dash.lr_plot.vb.viewRange()[1]
    assert 0.8e-3 < lo < 1e-3 < hi < 1.2e-3  # around the value, not −400…400 (×0.001)
    for s in range(2, 12):
        dash.add_event(step(s, loss=4.2 - s / 10, lr=1e-3 * (1 - s / 20)))
    settle(dash, qtbot)
    assert dash.loss_curve.opts["symbol"] is None  # a line once there are enough points


def test_a_loss_that_barely_moves_is_not_stretched_over_the_plot(dash, qtbot):
    # a word2vec loss wobbling by 0.1 % (and its terms at 0.4999 ± 0.0001) looked like training under auto-range
    dash.add_event(started())
    for s in range(1, 40):
        wobble = 0.002 * (-1) ** s
        dash.add_event(step(s, loss=4.15 + wobble, logs={"p_context": 0.5 + wobble / 20}))
    settle(dash, qtbot)
    lo, hi = dash.loss_plot.vb.viewRange()[1]
    assert lo < 4.148 and 4.152 < hi and hi - lo >= 0.02 * 4.15
    lo, hi = dash.terms_plot.vb.viewRange()[1]
    assert hi - lo >= 0.02 * 0.5
    for s in range(40, 60):  # a real fall in the loss gets auto-range back
        dash.add_event(step(s, loss=4.15 - (s - 39) / 10))
    settle(dash, qtbot)
    lo, hi = dash.loss_plot.vb.viewRange()[1]
    assert lo < 2.2 and hi < 4.5


def test_floors_are_drawn_on_the_evaluation_plot(dash, qtbot, tmp_path):
    run = make_run(tmp_path / "below-raw", image_run(knn0=0.5))
    cache_floors(run, [{"name": "raw pixels", "knn_top1": 0.946}, {"name": "random init", "knn_top1": 0.312}])
    dash.load_run(run)
    settle(dash, qtbot)
    assert set(dash.floor_lines) == {"raw pixels", "random init"}
    raw = dash.floor_lines["raw pixels"]
    assert raw.value() == pytest.approx(94.6) and "raw pixels 94.6 %" in dash.line_labels.texts()
    assert dash.floor_lines["random init"].value() == pytest.approx(31.2)
    lo, hi = dash.knn_plot.vb.viewRange()[1]
    assert lo < 31.2 and hi > 94.6  # both floors in view, the run's kNN (50–75 %) below raw pixels
    assert "measuring" not in dash.knn_plot.getAxis("bottom").labelText


def test_floors_say_they_are_being_measured_then_appear(dash, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_WORKBENCH_FLOORS", "on")
    run = make_run(tmp_path / "fresh", image_run())
    from workbench.config import load_run_config
    path = floors_path(floors_key(load_run_config(run / "config.json")))
    payload = json.dumps({"key": floors_key(load_run_config(run / "config.json")), "coverage": {}, "test_size": 9,
                          "floors": [{"name": "raw pixels", "knn_top1": 0.9}, {"name": "random init",
                                                                                 "knn_top1": 0.2}]})
    # A stand-in for `ssl-workbench floors RUN --json` (which needs torch): waits, then writes the cache file.
    child = ("import pathlib, sys, time; time.sleep(1.0); p = pathlib.Path(sys.argv[1]); "
             "p.parent.mkdir(parents=True, exist_ok=True); p.write_text(sys.argv[2])")
    monkeypatch.setattr(FloorsService, "command", staticmethod(lambda run_dir: [sys.executable, "-c", child,
                                                                                 str(path), payload]))
    dash.load_run(run)
    settle(dash, qtbot)
    label = dash.knn_plot.getAxis("bottom").labelText
    assert "measuring…" in label and not dash.floor_lines, (label, service().state(run), service().floors(run))
    qtbot.waitUntil(lambda: "raw pixels" in dash.floor_lines, timeout=20_000)
    assert "measuring" not in dash.knn_plot.getAxis("bottom").labelText
    assert service().floors(run)["floors"][0]["knn_top1"] == 0.9


def test_a_word_run_reads_in_words_and_rho_and_says_what_is_noise(dash, qtbot):
    dash.add_event(started(dataset="lee", total=48, test_size=1750))
    dash.add_event(dict(step(1), img_s=11661.0))
    dash.add_event({"type": "eval", "t": 1010.0, "step": 48, "epoch": 1,
                    "scores": {"wordsim353 ρ": 0.1426, "simlex999 ρ": -0.0895},
                    "coverage": {"wordsim353": [60, 353], "simlex999": [96, 999]},
                    "collapse_std_ratio": 0.5, "effective_rank": 97.9})
    settle(dash, qtbot)
    assert dash.speed_label.text() == "11,661 words/s"
    assert dash.speed_plot.getAxis("left").labelText == "words / s"
    assert dash.knn_plot.titleLabel.text == WORDS_TITLE and dash.knn_plot.getAxis("left").labelText == "ρ"
    names = [label.text for _, label in dash.knn_legend.items]
    assert "last" not in names and "wordsim353 ρ" in names  # no kNN legend entries on a word run
    assert "wordsim353 on 60 pairs: ±0.26 is noise" in dash.knn_plot.getAxis("bottom").labelText
    log = dash.log_view.toPlainText()
    assert "wordsim353 on 60 pairs: ±0.26 is noise" in log and "kNN –" not in log


def test_a_sequence_run_counts_sequences(dash, qtbot):
    dash.add_event(started(dataset="signals"))
    dash.add_event(step(1))
    settle(dash, qtbot)
    assert dash.speed_label.text() == "500 sequences/s"


def test_a_small_test_split_says_its_noise(dash, qtbot):
    dash.add_event(started(test_size=359))
    dash.add_event(step(1))
    settle(dash, qtbot)
    assert "±5 pts is noise (359 test items)" in dash.knn_plot.getAxis("bottom").labelText
    assert "±5 pts is noise" in dash.log_view.toPlainText()


def test_a_term_keeps_its_colour_whatever_came_before_it(dash, qtbot, tmp_path):
    def colours(logs_keys):
        dash.clear()
        dash.add_event(started())
        for s in range(1, 4):
            dash.add_event(step(s, logs={k: 0.5 for k in logs_keys}))
        settle(dash, qtbot)
        return {k: c.opts["pen"].color().name() for k, c in dash._term_curves.items()}

    vicreg = colours(["invariance", "variance", "covariance"])
    alone = colours(["variance"])
    assert alone["variance"] == vicreg["variance"]
    assert len(set(vicreg.values())) == 3  # still one colour each within a plot
    # and a replay of a run draws each term in the colour it had live
    events = [started()] + [step(s, logs={"invariance": 1.0, "variance": 0.5}) for s in range(1, 30)]
    run = make_run(tmp_path / "replayed", events)
    dash.load_run(run)
    replay = {k: c.opts["pen"].color().name() for k, c in dash._term_curves.items()}
    assert replay["variance"] == vicreg["variance"] and replay["invariance"] == vicreg["invariance"]


def test_runs_table_shows_a_run_below_raw_pixels(qtbot, tmp_path):
    from ui.runs_browser import COL, RunsBrowser
    below = make_run(tmp_path / "runs" / "below", image_run(knn0=0.5) + [
        {"type": "finished", "t": 2000.0, "step": 500, "epoch": 5, "stopped": False, "seconds": 9.0,
         "message": "done", "knn_top1": 0.75, "knn_best": 0.75}])
    cache_floors(below, [{"name": "raw pixels", "knn_top1": 0.946}, {"name": "random init", "knn_top1": 0.312}])
    browser = RunsBrowser(tmp_path / "runs")
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.model.rowCount() == 1, timeout=10_000)
    index = browser.model.index(0, COL["vs floor"])
    assert index.data() == "−19.6 pts vs raw pixels"
    assert QColor(index.data(9)) == QColor(theme.colors()["bad_text"])  # Qt.ForegroundRole
    assert "raw pixels 94.6 % · random init 31.2 %" in index.data(3)   # Qt.ToolTipRole


def test_health_panel_verdict_keeps_its_reading_near_the_line(qtbot):
    from ui.health_panel import EmbeddingHealth, HealthPanel
    panel = HealthPanel()
    qtbot.addWidget(panel)
    knn = np.ma.masked_array(np.ones(10), mask=np.zeros(10, bool))
    for ratio, expected in ((0.31, "Healthy"), (0.28, "Healthy"), (0.25, "Bunched"), (0.32, "Bunched"),
                            (0.35, "Healthy")):
        panel.set_embedding_health(EmbeddingHealth(dim=128, std_ratio=ratio, effective_rank=40.0, knn_k=20,
                                                   knn_correct=knn))
        assert panel.verdict.text().startswith(expected), (ratio, panel.verdict.text())
        assert f"std ratio {ratio:.2f}" in panel.verdict.text()  # the number and its band are shown
    assert "neighbour-label agreement 100%" in panel.embedding_text.text()
    assert "kNN correct" not in panel.embedding_text.text()


def test_a_legend_never_covers_the_curve(dash, qtbot):
    """A loss that swings over its whole range fills every corner: the plot makes room for the legend."""
    from PySide6.QtCore import QPointF
    dash.add_event(started())
    for s in range(1, 401):
        dash.add_event(step(s, loss=1.0 + (s % 2)))
    for _ in range(4):
        settle(dash, qtbot)
    rect = dash.loss_legend.sceneBoundingRect()
    x, y = dash.loss_curve.xData, dash.loss_curve.yData
    under = [i for i in range(len(x)) if rect.contains(dash.loss_plot.vb.mapViewToScene(QPointF(x[i], y[i])))]
    assert not under, f"{len(under)} loss points under the legend"


def eval_run_with_scores() -> list[dict]:
    """An image run whose evaluation plot carries kNN, best, an analogy score per factor: a tall legend."""
    evs = [started(dataset="shapes")]
    for s in range(1, 201):
        evs.append(step(s, 2.0 - s / 200))
        if s % 20 == 0:
            evs.append({"type": "eval", "t": 1000 + s / 4, "step": s, "epoch": s // 100, "knn_top1": 0.3 + s / 1000,
                        "knn_best": 0.3 + s / 1000, "collapse_std_ratio": 0.55, "effective_rank": 90.0,
                        "scores": {"analogy top-1": 0.09 + s / 2000, "analogy top-1 · colour": 0.1,
                                   "analogy top-1 · shape": 0.11, "analogy top-1 · size": 0.06}})
    return evs


def test_a_cramped_evaluation_legend_goes_under_the_plot_not_over_its_points(qtbot, tmp_path):
    """At 1280×720 the evaluation plot is ~90 px tall: its legend box covered the last points. Too tall for
    the plot, it becomes coloured names under the step axis; a box in an empty corner again when it fits."""
    dash = Dashboard()
    qtbot.addWidget(dash)
    dash.resize(940, 600)  # the dashboard's share of a 1280×720 window
    dash.show()
    dash.factors_check.setChecked(True)  # each factor's score too: six names
    for ev in eval_run_with_scores():
        dash.add_event(ev)
    for _ in range(4):
        settle(dash, qtbot)
    assert not dash.knn_legend.isVisible(), "the legend box still sits over the data"
    label = dash.knn_plot.getAxis("bottom").labelText
    names = [l.text for _, l in dash.knn_legend.items]
    assert len(names) >= 6 and all(f"■ {n}" in label for n in names)
    colour = dash.knn_curve.opts["pen"].color().name()
    # each name in its curve's colour, as dark (light) as small text needs on the plot's ground
    assert f"color:{theme.readable_on_plot(colour)}'>■ last<" in label
    view = dash.knn_plot.vb.sceneBoundingRect()
    assert view.height() > 30  # the text does not squeeze the plot away
    import re
    from PySide6.QtGui import QFontMetricsF
    from PySide6.QtWidgets import QApplication
    font = QApplication.font()
    font.setPointSizeF(8)
    for line in label.split("<br>")[1:]:  # each line of names fits under the plot, none is cut at its ends
        text = re.sub(r"<[^>]+>", "", line).replace("&nbsp;", " ")
        assert QFontMetricsF(font).horizontalAdvance(text) <= view.width(), text
    # a new score adds an entry, a theme switch re-renders: still text, with the new name
    dash.add_event({"type": "eval", "t": 1100.0, "step": 200, "epoch": 2, "knn_top1": 0.5, "knn_best": 0.5,
                    "scores": {"analogy top-1": 0.2, "online probe top-1": 0.4}})
    dash.apply_theme()
    for _ in range(4):
        settle(dash, qtbot)
    assert not dash.knn_legend.isVisible() and "■ online probe top-1" in dash.knn_plot.getAxis("bottom").labelText
    dash.resize(1600, 1400)  # room again: back to a box in an empty corner
    for _ in range(4):
        settle(dash, qtbot)
    assert dash.knn_legend.isVisible() and "■" not in dash.knn_plot.getAxis("bottom").labelText


def test_floor_labels_close_together_do_not_overlap(qtbot, tmp_path):
    """Floors a point apart and the linear probe: their names stack right of the plot, none over another or
    over the data, each in the column beside its line's height."""
    dash = Dashboard()
    qtbot.addWidget(dash)
    dash.resize(940, 600)
    dash.show()
    events = image_run(knn0=0.2)
    events.append({"type": "eval", "t": 1200.0, "step": 500, "epoch": 5, "linear_top1": 0.425})
    run = make_run(tmp_path / "close", events)
    cache_floors(run, [{"name": "raw pixels", "knn_top1": 0.43}, {"name": "random init", "knn_top1": 0.42}])
    dash.load_run(run)
    for _ in range(3):
        settle(dash, qtbot)
    assert dash.line_labels.texts() == ["raw pixels 43.0 %", "linear probe 42.5 %", "random init 42.0 %"]
    rects = dash.line_labels.label_rects()
    view = dash.knn_plot.vb.sceneBoundingRect()
    plot = dash.knn_plot.sceneBoundingRect()
    for i, a in enumerate(rects):
        assert a.left() >= view.right() and a.right() <= plot.right() + 1, (a, view, plot)  # beside the data
        assert a.top() >= view.top() - 1 and a.bottom() <= view.bottom() + 1, (a, view)
        for b in rects[i + 1:]:
            assert not a.intersects(b), (a, b)


def test_the_evenly_spread_label_is_inside_the_collapse_plot(qtbot):
    dash = Dashboard()
    qtbot.addWidget(dash)
    dash.resize(940, 600)
    dash.show()
    for ev in image_run():
        dash.add_event(ev)
    for _ in range(3):
        settle(dash, qtbot)
    label, view = dash.even_line.label.sceneBoundingRect(), dash.collapse_plot.vb.sceneBoundingRect()
    assert view.contains(label), (label, view)


def two_family_run() -> list[dict]:
    """kNN, best, analogy top-1 with three factors, an online probe with six and a linear probe: 14 names."""
    evs = [started(dataset="shapes")]
    for s in range(1, 201):
        evs.append(step(s, 2.0 - s / 200))
        if s % 20 == 0:
            scores = {"analogy top-1": 0.09 + s / 2000}
            scores |= {f"analogy top-1 · {f}": 0.05 + i / 20 for i, f in enumerate(("colour", "shape", "size"))}
            scores["online probe top-1"] = 0.4
            scores |= {f"online probe top-1 · {f}": 0.3 + i / 10
                       for i, f in enumerate(("colour", "rotation", "shape", "size", "x", "y"))}
            evs.append({"type": "eval", "t": 1000 + s / 4, "step": s, "epoch": s // 100, "knn_top1": 0.3 + s / 1000,
                        "knn_best": 0.3 + s / 1000, "collapse_std_ratio": 0.55, "effective_rank": 90.0,
                        "scores": scores})
    evs.append({"type": "eval", "t": 1100.0, "step": 200, "epoch": 2, "linear_top1": 0.6})
    return evs


def test_the_evaluation_legend_keeps_most_of_the_plot_at_720_px(qtbot):
    """Thirteen names took three lines under a plot ~130 px tall at 1280×720. Each family's mean is listed; its
    factors on demand, each family then on a line of its own, and the legend still leaves most of the plot."""
    dash = Dashboard()
    qtbot.addWidget(dash)
    dash.resize(940, 600)  # the dashboard's share of a 1280×720 window
    dash.show()
    for ev in two_family_run():
        dash.add_event(ev)
    for _ in range(4):
        settle(dash, qtbot)

    def plot_share() -> float:
        """The evaluation view's height against the collapse plot's beside it (same row, no legend)."""
        return dash.knn_plot.vb.sceneBoundingRect().height() / dash.collapse_plot.vb.sceneBoundingRect().height()

    names = [label.text for _, label in dash.knn_legend.items]
    assert names == ["last", "best", "analogy top-1", "online probe top-1"]
    assert dash.factors_check.isVisible() and not dash.factors_check.isChecked()
    hidden = [c for k, c in dash._score_curves.items() if " · " in k]
    assert len(hidden) == 9 and not any(c.isVisible() for c in hidden)
    assert plot_share() > 0.8, plot_share()

    dash.factors_check.setChecked(True)
    for _ in range(4):
        settle(dash, qtbot)
    names = [label.text for _, label in dash.knn_legend.items]
    assert names[:6] == ["last", "best", "analogy top-1", "· colour", "· shape", "· size"]
    assert names[-1] == "· y" and all(c.isVisible() for c in hidden)
    label = dash.knn_plot.getAxis("bottom").labelText
    if "■" in label:  # written under the plot: each family starts its own line
        import re
        lines = [re.sub(r"<[^>]+>", "", line).replace("&nbsp;", " ") for line in label.split("<br>")[1:]]
        assert any(line.startswith("■ analogy top-1") for line in lines), lines
        assert any(line.startswith("■ online probe top-1") for line in lines), lines
    dash.factors_check.setChecked(False)
    for _ in range(4):
        settle(dash, qtbot)
    assert plot_share() > 0.8 and not any(c.isVisible() for c in hidden)


def test_the_evaluation_legend_box_keeps_off_the_floor_lines(qtbot, tmp_path):
    """At full HD the legend box fits in a corner: it sat in the top corner, over the floors' lines there."""
    from PySide6.QtCore import QPointF
    dash = Dashboard()
    qtbot.addWidget(dash)
    dash.resize(1600, 1000)
    dash.show()
    events = [started(dataset="shapes")] + [step(s, 2.0 - s / 50) for s in range(1, 24)]
    events.append({"type": "eval", "t": 1010.0, "step": 23, "epoch": 1, "knn_top1": 0.378, "knn_best": 0.378,
                   "scores": {"analogy top-1": 0.086, "online probe top-1": 0.386}})
    run = make_run(tmp_path / "floors-on-top", events, dataset="shapes")
    cache_floors(run, [{"name": "raw pixels", "knn_top1": 0.44}, {"name": "random init", "knn_top1": 0.43}])
    dash.load_run(run)
    for _ in range(4):
        settle(dash, qtbot)
    assert dash.knn_legend.isVisible()
    box = dash.knn_legend.sceneBoundingRect()
    for v in (44.0, 43.0):
        y = dash.knn_plot.vb.mapViewToScene(QPointF(10.0, v)).y()
        assert not box.top() - 2 <= y <= box.bottom() + 2, (v, y, box)


def test_room_made_for_a_legend_box_goes_when_the_legend_goes_under_the_plot(qtbot):
    """A run trained in a full-HD window made room above its points for the legend box; at 1280×720 the legend
    went under the plot but the room stayed, and the evaluation plot read 0–170 % with its points squeezed low."""
    dash = Dashboard()
    qtbot.addWidget(dash)
    dash.resize(1600, 1000)
    dash.show()
    dash.factors_check.setChecked(True)
    for ev in eval_run_with_scores():
        dash.add_event(ev)
    for _ in range(4):
        settle(dash, qtbot)
    dash.resize(940, 600)
    for _ in range(4):
        settle(dash, qtbot)
    assert not dash.knn_legend.isVisible()  # under the plot
    top = dash.knn_plot.vb.viewRange()[1][1]
    assert top < 60, top  # the highest point is kNN 50 %: no empty band above it
