"""Dashboard: live curves from streamed events, replay of a real run, overlays, resume, export."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from ui import theme
from ui.dashboard import (EVAL_TITLE, KNN_TITLE, MAX_REDRAW_MS, PLOT_PARTS, REDRAW_MS, TERMS_EMPTY, Dashboard,
                          step_ceiling)
from workbench.events import read_events

pytestmark = pytest.mark.timeout(120)


def make_image_folder(root: Path) -> Path:
    """Three classes of 16×16 images: enough for a two-epoch run that takes seconds."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for k, name in enumerate(["bars", "blobs", "rings"]):
        (root / name).mkdir(parents=True)
        for i in range(40):
            a = (rng.random((16, 16, 3)) * 60).astype(np.uint8)
            if k == 0:
                a[:, 4 + i % 6: 8 + i % 6] = 230
            elif k == 1:
                a[4:10, 5:11] = (40, 200, 90)
            else:
                a[3:13, 3:13], a[6:10, 6:10] = 200, 20
            Image.fromarray(a).save(root / name / f"{i:03d}.png")
    return root


def train_tiny(run_dir: Path, data: Path, method: str = "rotation") -> subprocess.Popen:
    """Start the CLI on a tiny image folder (the same entry point a user runs)."""
    cmd = [sys.executable, "-m", "workbench.cli", "train", "--method", method, "--dataset", "folder",
           "--data-root", str(data), "--epochs", "2", "--batch-size", "32", "--device", "cpu",
           "--run-dir", str(run_dir), "--set", "image_size=16", "--set", "probe_size=24",
           "--set", "preview_interval=0", "--set", "threads=1", "--quiet"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("dashboard")
    run_dir = base / "tiny-rotation"
    proc = train_tiny(run_dir, make_image_folder(base / "images"))
    _, err = proc.communicate(timeout=110)
    assert proc.returncode == 0, err
    return run_dir


def synthetic_events(steps: int = 500, logs: bool = True, eval_every: int = 100, scores: bool = False) -> list[dict]:
    rng = np.random.default_rng(1)
    evs = [{"type": "started", "t": 1000.0, "step": 0, "epoch": 0, "method": "rotation", "title": "RotNet",
            "dataset": "digits", "device": "CPU (2 threads)", "steps_per_epoch": 100, "total_steps": steps,
            "epochs": steps // 100, "batch_size": 64, "resumed": False}]
    for s in range(1, steps + 1):
        ev = {"type": "step", "t": 1000.0 + s / 4, "step": s, "epoch": (s - 1) // 100,
              "loss": float(2.0 * np.exp(-s / 150) + 0.3 * rng.random()), "lr": 1e-3, "img_s": 500.0 + s,
              "progress": s / steps, "logs": {}}
        if logs:
            ev["logs"] = {"rotation_acc": min(1.0, s / steps + 0.05), "aux_term": 0.5}
        evs.append(ev)
        if s % eval_every == 0:
            evs.append({"type": "epoch", "t": ev["t"], "step": s, "epoch": s // 100 - 1, "loss": 1.0,
                        "seconds": 25.0, "img_s": 500.0})
            evs.append({"type": "eval", "t": ev["t"], "step": s, "epoch": s // 100, "knn_top1": 0.5 + s / 2000,
                        "knn_top1_k200": 0.4, "knn_best": 0.5 + s / 2000, "collapse_std_ratio": 0.3,
                        "effective_rank": 40.0 + s / 100})
            if scores:
                evs[-1]["scores"] = {"analogy top-1": s / 1000, "analogy top-1 · colour": -0.1}
    evs.append({"type": "eval", "t": 1200.0, "step": steps, "epoch": steps // 100, "linear_top1": 0.97})
    evs.append({"type": "finished", "t": 1200.0, "step": steps, "epoch": steps // 100, "stopped": False,
                "seconds": 200.0, "message": "training finished", "knn_top1": 0.75, "knn_best": 0.75,
                "linear_top1": 0.97})
    return evs


def write_run(folder: Path, events: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return folder


def xy(curve):
    """The data a curve holds (getData() would give only what is in view after clipping)."""
    return curve.xData, curve.yData


def curve_len(curve) -> int:
    return 0 if curve.xData is None else len(curve.xData)


def legend_names(legend) -> list[str]:
    return [label.text for _, label in legend.items]


@pytest.fixture
def dash(qtbot):
    d = Dashboard()
    qtbot.addWidget(d)
    d.resize(1200, 800)
    d.show()  # the redraw timer skips a hidden dashboard (another tab); showing it catches up
    return d


def test_plot_parts_name_exactly_what_building_the_grid_makes(qtbot):
    """Dashboard.__getattr__ builds the grid when one of PLOT_PARTS is asked for: a part the list
    misses would be an AttributeError on a dashboard never shown, a name it keeps after a rename a
    grid built for nothing."""
    d = Dashboard()
    qtbot.addWidget(d)
    before = set(d.__dict__)
    d._ensure_plots()
    assert set(d.__dict__) - before == PLOT_PARTS


def test_streamed_events_reach_the_curves_on_the_timer(dash, qtbot):
    events = synthetic_events()
    for ev in events:
        dash.add_event(ev)
    assert curve_len(dash.loss_curve) == 0  # nothing is drawn per event: the timer batches redraws
    qtbot.waitUntil(lambda: curve_len(dash.loss_curve) == 500, timeout=3000)
    assert curve_len(dash.ema_curve) == 500
    assert curve_len(dash.speed_curve) == 500 and curve_len(dash.lr_curve) == 500
    raw = xy(dash.loss_curve)[1]
    ema = xy(dash.ema_curve)[1]
    assert ema.max() < raw.max()  # smoothing flattens the noise peaks
    assert sorted(legend_names(dash.terms_legend)) == ["aux_term", "rotation_acc"]
    assert not dash.terms_text.isVisible()
    x, y = xy(dash.knn_curve)
    np.testing.assert_allclose(x, [100, 200, 300, 400, 500])
    np.testing.assert_allclose(y, [55.0, 60.0, 65.0, 70.0, 75.0])  # fractions shown as %
    assert curve_len(dash.best_curve) == 5
    assert curve_len(dash.std_curve) == 5 and curve_len(dash.rank_curve) == 5
    mx, my = dash.linear_marker.getData()
    assert list(my) == [97.0] and list(mx) == [500]
    assert dash.linear_line.isVisible() and "linear probe 97.0 %" in dash.line_labels.texts()
    assert dash.state_label.text() == "finished"
    assert dash.position_label.text() == "epoch 5 / 5 · step 500 / 500"
    assert dash.progress_bar.value() == dash.progress_bar.maximum()
    log = dash.log_view.toPlainText()
    assert "started RotNet on digits" in log and "linear probe 97.0%" in log


def test_method_without_terms_says_so(dash, qtbot):
    for ev in synthetic_events(steps=50, logs=False, eval_every=1000):
        dash.add_event(ev)
    qtbot.waitUntil(lambda: curve_len(dash.loss_curve) == 50, timeout=3000)
    assert dash.terms_text.isVisible() and dash.terms_text.toPlainText() == TERMS_EMPTY
    assert legend_names(dash.terms_legend) == []


def test_live_header_shows_rate_and_eta(dash, qtbot):
    events = [e for e in synthetic_events(steps=200) if e["type"] != "step" or e["step"] <= 117]
    for ev in events[:-2]:  # mid-run: neither the final eval nor finished yet
        dash.add_event(ev)
    qtbot.waitUntil(lambda: dash.state_label.text() == "running", timeout=3000)
    assert dash.position_label.text() == "epoch 2 / 2 · step 117 / 200"
    assert dash.speed_label.text() == "617 img/s"
    assert dash.eta_label.text() == "ETA 21 s"  # 83 steps left at 4 steps per second
    assert dash.progress_bar.value() == 585
    assert not dash.line_labels.texts() and not dash.linear_line.isVisible()


def test_resumed_run_drops_points_past_its_checkpoint(dash, qtbot):
    events = synthetic_events(steps=300)[:-2]  # killed at step 300 without finishing
    events.append({"type": "started", "t": 2000.0, "step": 200, "epoch": 2, "method": "rotation",
                   "dataset": "digits", "total_steps": 400, "epochs": 4, "resumed": True})
    events += [{"type": "step", "t": 2000.0 + s, "step": s, "epoch": 2, "loss": 0.5, "lr": 1e-3,
                "img_s": 100.0, "logs": {"rotation_acc": 0.9}} for s in range(201, 251)]
    for ev in events:
        dash.add_event(ev)
    qtbot.waitUntil(lambda: curve_len(dash.loss_curve) == 250, timeout=3000)
    x, _ = xy(dash.loss_curve)
    assert np.all(np.diff(x) > 0), "curve zigzags back after the resume"
    assert list(xy(dash.knn_curve)[0]) == [100, 200]  # the eval at 300 came after the checkpoint
    assert curve_len(dash._term_curves["rotation_acc"]) == 250
    assert "resumed RotNet" not in dash.log_view.toPlainText()
    assert "resumed rotation on digits from step 200" in dash.log_view.toPlainText()


def test_replaying_a_file_with_a_resume_matches_streaming_it(dash, qtbot, tmp_path):
    events = synthetic_events(steps=300)[:-2]
    events.append({"type": "started", "t": 2000.0, "step": 150, "epoch": 1, "total_steps": 300,
                   "epochs": 3, "resumed": True})
    events += [{"type": "step", "t": 2000.0 + s, "step": s, "epoch": 1, "loss": 0.5, "lr": 1e-3,
                "img_s": 100.0, "logs": {"rotation_acc": 0.9}} for s in range(151, 301)]
    dash.load_run(write_run(tmp_path / "resumed", events))
    replayed = xy(dash.ema_curve)
    other = Dashboard()
    qtbot.addWidget(other)
    for ev in events:
        other.add_event(ev)
    other.redraw()
    streamed = xy(other.ema_curve)
    np.testing.assert_array_equal(replayed[0], streamed[0])
    np.testing.assert_allclose(replayed[1], streamed[1])
    assert len(replayed[0]) == 300 and np.all(np.diff(replayed[0]) > 0)


@pytest.mark.slow  # trains a run in a CLI subprocess
def test_load_run_matches_a_real_run(dash, tiny_run):
    events = list(read_events(tiny_run))
    dash.load_run(tiny_run)
    steps = [e for e in events if e["type"] == "step"]
    evals = [e for e in events if e["type"] == "eval" and "knn_top1" in e]
    x, y = xy(dash.loss_curve)
    assert list(x) == [e["step"] for e in steps]
    np.testing.assert_allclose(y, [e["loss"] for e in steps])
    np.testing.assert_allclose(xy(dash.knn_curve)[1], [100 * e["knn_top1"] for e in evals])
    assert legend_names(dash.terms_legend) == ["rotation_acc"]
    assert dash.name_label.text() == "tiny-rotation"
    assert dash.state_label.text() == "finished"
    started = events[0]
    assert dash.info_label.text() == f"{started['title']}  ·  folder  ·  {started['device']}  ·  data: memory"
    assert curve_len(dash.gpu_curve) == 0 and not dash._gpu_shown  # a CPU run has no GPU plot
    finished = next(e for e in events if e["type"] == "finished")
    assert list(dash.linear_marker.getData()[1]) == [pytest.approx(100 * finished["linear_top1"])]
    log = dash.log_view.toPlainText()
    assert "checkpoint checkpoints/last.pt" in log and "finished in" in log


@pytest.mark.slow  # trains a run in a CLI subprocess
def test_overlays_are_named_after_their_runs(dash, qtbot, tiny_run, tmp_path):
    dash.load_run(tiny_run)
    other = write_run(tmp_path / "20250101-simclr-digits", synthetic_events(steps=200))
    label = dash.add_overlay(other)
    assert label == "20250101-simclr-digits"
    dash.add_overlay(tiny_run, "same run again")
    names = legend_names(dash.loss_legend)
    assert names == ["step loss", "EMA", "20250101-simclr-digits", "same run again"]
    first, second = dash._overlays
    assert curve_len(first["loss"]) == 200 and curve_len(first["knn"]) == 2
    assert first["loss"].opts["pen"].color() != second["loss"].opts["pen"].color()
    assert first["knn"].opts["name"] == "20250101-simclr-digits"
    dash.clear_overlays()
    assert legend_names(dash.loss_legend) == ["step loss", "EMA"]
    assert first["loss"] not in dash.loss_plot.listDataItems()


def test_gpu_memory_plot_appears_only_with_gpu_events(dash, qtbot):
    events = synthetic_events(steps=20, eval_every=1000)
    for ev in events:
        dash.add_event(ev)
    dash.redraw()
    assert not dash._gpu_shown and dash.gpu_plot.scene() is None
    for ev in events[1:21]:
        dash.add_event({**ev, "step": ev["step"] + 20, "gpu_mem_mb": 1200.0 + ev["step"]})
    qtbot.waitUntil(lambda: dash._gpu_shown, timeout=3000)
    assert curve_len(dash.gpu_curve) == 20 and dash.gpu_plot.scene() is dash.plots.scene()
    dash.clear()
    dash.redraw()
    assert not dash._gpu_shown


def test_gpu_label_shows_memory_and_utilisation_of_the_last_step(dash):
    events = synthetic_events(steps=5, eval_every=1000)
    for ev in events:
        dash.add_event(ev)
    dash.redraw()
    assert dash.gpu_label.text() == ""  # a CPU run
    dash.add_event({**events[5], "step": 6, "gpu_mem_mb": 300.0, "gpu_mem_alloc_mb": 212.4,
                    "gpu_mem_reserved_mb": 1536.0, "gpu_util": 87.0})
    dash.redraw()
    assert dash.gpu_label.text() == "GPU 212 / 1,536 MB · 87%"
    dash.add_event({**events[5], "step": 7, "gpu_mem_alloc_mb": 220.0, "gpu_mem_reserved_mb": 1536.0})
    dash.redraw()
    assert dash.gpu_label.text() == "GPU 220 / 1,536 MB"  # no nvidia-ml-py: memory only


def test_log_pane_colours_warnings_and_failures(dash):
    c = theme.colors()
    dash.add_event({"type": "log", "t": 1000.0, "step": 3, "epoch": 0, "level": "warning",
                    "message": "skipped 2 unreadable images"})
    dash.add_event({"type": "failed", "t": 1001.0, "step": 3, "epoch": 0, "message": "loss is NaN",
                    "detail": "Traceback...\nFloatingPointError: nan"})
    assert "warning: skipped 2 unreadable images" in dash.log_view.toPlainText()
    assert "failed at step 3: loss is NaN (FloatingPointError: nan)" in dash.log_view.toPlainText()
    html = dash.log_view.document().toHtml().lower()
    assert c["warning_text"].lower() in html and c["error_text"].lower() in html
    dash.redraw()
    assert dash.state_label.text() == "failed"


@pytest.mark.slow  # trains a run in a CLI subprocess
def test_save_plots_writes_images(dash, qtbot, tiny_run, tmp_path, monkeypatch):
    dash.load_run(tiny_run)
    dash.show()
    qtbot.waitExposed(dash)
    png = dash.save_plots(tmp_path / "curves.png")
    image = QImage(str(png))
    assert png.stat().st_size > 0 and not image.isNull() and image.width() > 300
    svg = dash.save_plots(tmp_path / "curves.svg")
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    assert svg.read_text().count("<text") > 50  # tick labels as text, not the axes' on-screen pixmaps
    # The button, as a user clicks it: a file dialog, then the file.
    target = tmp_path / "from-button"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG image (*.png)"))
    qtbot.mouseClick(dash.save_button, Qt.LeftButton)
    assert (tmp_path / "from-button.png").stat().st_size > 0
    assert "plots saved to" in dash.log_view.toPlainText()


def test_theme_switch_restyles_plots(dash):
    app = QApplication.instance()
    try:
        theme.apply_theme(app, "dark")
        dash.apply_theme()
        assert dash.plots.backgroundBrush().color().name().upper() == theme.THEMES["dark"]["plot_bg"]
        axis = dash.loss_plot.getAxis("bottom")
        assert axis.textPen().color().name().upper() == theme.THEMES["dark"]["plot_fg"]
    finally:
        theme.apply_theme(app, "light")
        dash.apply_theme()
    assert dash.plots.backgroundBrush().color().name().upper() == theme.THEMES["light"]["plot_bg"]


def test_eval_scores_are_plotted_with_knn(dash, qtbot, tmp_path):
    assert dash.knn_plot.titleLabel.text == KNN_TITLE
    for ev in synthetic_events(scores=True):
        dash.add_event(ev)
    qtbot.waitUntil(lambda: len(dash._score_curves) == 2 and curve_len(dash.loss_curve) == 500, timeout=3000)
    top, colour = dash._score_curves["analogy top-1"], dash._score_curves["analogy top-1 · colour"]
    np.testing.assert_allclose(xy(top)[0], [100, 200, 300, 400, 500])
    np.testing.assert_allclose(xy(top)[1], [10, 20, 30, 40, 50])  # ×100, like kNN top-1 (%)
    np.testing.assert_allclose(xy(colour)[1], [-10] * 5)
    assert top.opts["pen"].color() != colour.opts["pen"].color() != dash.knn_curve.opts["pen"].color()
    assert legend_names(dash.knn_legend) == ["last", "best", "analogy top-1"]  # per factor: on demand
    assert not colour.isVisible() and dash.factors_check.isVisible()
    dash.factors_check.setChecked(True)
    assert colour.isVisible() and legend_names(dash.knn_legend) == ["last", "best", "analogy top-1", "· colour"]
    assert dash.knn_legend.columnCount == 1  # four entries: one column
    assert dash.knn_plot.titleLabel.text == EVAL_TITLE
    assert "analogy top-1 50.0% (colour -10.0%)" in dash.log_view.toPlainText()
    # A replayed run and an overlay of it: scores come back, overlays still show their kNN points.
    run = write_run(tmp_path / "with-scores", synthetic_events(scores=True))
    dash.load_run(run)
    np.testing.assert_allclose(xy(dash._score_curves["analogy top-1"])[1], [10, 20, 30, 40, 50])
    dash.add_overlay(run, "again")
    assert curve_len(dash._overlays[0]["knn"]) == 5
    dash.clear()
    dash.redraw()
    assert dash._score_curves == {} and dash.knn_plot.titleLabel.text == KNN_TITLE
    assert legend_names(dash.knn_legend) == ["last", "best"] and dash.knn_legend.columnCount == 1
    assert not dash.factors_check.isVisible()


def test_step_ceiling_is_round_close_and_capped():
    for step in range(1, 200_000, 7):
        top = step_ceiling(step)
        assert 1.02 * step <= top <= max(1.16 * step, step + 7.5)
    assert step_ceiling(1234) == 1300 and step_ceiling(1234, total=1250) == 1250
    assert step_ceiling(500, total=500) == 500  # a finished run ends at the right edge


@pytest.mark.slow  # ~10 s of streamed events
def test_step_axis_moves_in_jumps_not_on_every_event(dash, qtbot):
    events = synthetic_events(steps=1000, eval_every=10_000)
    ranges = []
    for ev in events:
        dash.add_event(ev)
        if ev["type"] == "step" and ev["step"] > 100:
            dash.redraw()
            (x0, x1), _ = dash.loss_plot.vb.viewRange()
            assert x0 < ev["step"] < x1
            ranges.append((x0, x1))
    assert len(set(ranges)) < 50  # 900 steps (4 minutes live): the axis moved in ~35 jumps of 4–10%
    # every plot shows the same steps once the last jump has reached them (a group per turn, see _sync_x)
    qtbot.waitUntil(lambda: not dash._x_behind, timeout=2000)
    for p in dash._followers:
        if p is not dash.gpu_plot:
            assert p.vb.viewRange()[0] == pytest.approx(dash.loss_plot.vb.viewRange()[0])
    assert dash.loss_plot.vb.viewRange()[0][1] < 1000 * 1.06  # finished: the last step, plus the usual padding


def test_hidden_dashboard_redraws_when_shown(dash, qtbot):
    dash.hide()
    for ev in synthetic_events(steps=50):
        dash.add_event(ev)
    qtbot.wait(3 * REDRAW_MS)
    assert curve_len(dash.loss_curve) == 0  # on another tab nothing is drawn
    dash.show()
    qtbot.waitUntil(lambda: curve_len(dash.loss_curve) == 50, timeout=3000)


def test_redraws_slow_down_when_they_get_costly(dash, qtbot):
    dash._redraw_ms, dash.plots.paint_ms = 2.0, 8.0  # a cheap tick (what the last redraw and paint took)
    dash._timer.stop()
    dash._schedule()
    assert dash._timer.interval() == REDRAW_MS
    dash._timer.stop()
    dash._redraw_ms, dash.plots.paint_ms = 40.0, 60.0  # a tick that took 100 ms
    dash._schedule()
    assert REDRAW_MS < dash._timer.interval() < MAX_REDRAW_MS
    dash._timer.stop()
    dash._redraw_ms = 5000.0
    dash._schedule()
    assert dash._timer.interval() == MAX_REDRAW_MS


def test_y_axes_only_grow_so_labels_do_not_relayout_the_grid(dash, qtbot):
    axis = dash.speed_plot.getAxis("left")
    qtbot.waitUntil(lambda: axis.width() > 0, timeout=3000)
    start = axis.width()
    steps = [{"type": "step", "t": 1000.0 + s, "step": s, "epoch": 0, "loss": 1.0, "img_s": 1.0, "lr": 1e-3}
             for s in range(1, 40)]

    def stream(img_s: float, offset: int) -> float:
        for ev in steps:
            dash.add_event({**ev, "step": ev["step"] + offset, "img_s": img_s})
        dash.redraw()
        dash.catch_up_x()  # the step axis's jump reaches this plot a few turns later (see _sync_x)
        dash.grab()  # tick labels are measured when painted; the layout follows on the next turn
        QApplication.processEvents()
        return axis.width()

    assert stream(1.0, 0) == start  # "1.0" and friends fit the starting width
    wide = stream(-123_456.0, 40)  # ticks like "-120000" need more room
    assert wide > start
    assert stream(1.0, 80) == wide  # never shrinks back while the run goes on
    dash.clear()
    QApplication.processEvents()
    assert axis.width() == start


def test_a_replayed_run_whose_worker_is_gone_reads_interrupted_in_its_status_colour(dash, tmp_path):
    from workbench.rundir import RunDir
    (tmp_path / "events.jsonl").write_text(
        '{"type":"started","t":1,"step":0,"epoch":0,"total_steps":10,"epochs":1}\n'
        '{"type":"step","t":2,"step":3,"epoch":0,"loss":1.0}\n')
    with RunDir(tmp_path).acquire():  # its worker still holds the run
        dash.load_run(tmp_path)
        assert dash.state_label.text() == "running"
    dash.load_run(tmp_path)  # killed without a word: the one status derivation says so
    assert dash.state_label.text() == "interrupted"
    assert dash.state_label.property("state") == "interrupted"  # its look: resources/style.qss


def test_a_long_header_line_is_cut_with_an_ellipsis_and_shown_whole_on_hover(qtbot):
    """At 1280 px "CPC on sequences · signals · CPU (2 threads) · data: memory" was cut mid-word ("memor")."""
    d = Dashboard()
    qtbot.addWidget(d)
    d.resize(940, 600)  # the dashboard's share of a 1280-px window
    d.show()
    ev = synthetic_events(steps=100)[0] | {"title": "CPC on sequences", "dataset": "signals",
                                           "device": "CPU (2 threads)", "data_path": "memory"}
    d.add_event(ev)
    d.redraw()
    full = "CPC on sequences  ·  signals  ·  CPU (2 threads)  ·  data: memory"
    assert d.info_label.text() == full and d.info_label.toolTip() == full
    d.run_name = "20261203-071315-cpc_sequence-signals"
    d.add_event(ev | {"type": "step", "step": 1, "loss": 1.0})
    d.redraw()
    qtbot.wait(20)
    assert d.info_label.contentsRect().width() > 100
    shown = d.info_label.shown_text()
    assert shown.endswith("…") and full.startswith(shown[:-1])
    assert d.info_label.fontMetrics().horizontalAdvance(shown) <= d.info_label.contentsRect().width()
    d.resize(1900, 600)
    qtbot.wait(20)
    assert d.info_label.shown_text() == full
