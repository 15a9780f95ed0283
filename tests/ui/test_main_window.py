"""The whole window driven as a person would: pick, Start, watch, inspect, explore, ask, export, recover."""
from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from workbench.checkpoint import load_checkpoint
from workbench.export import read_export

TIMEOUT = 240_000  # ms; a tiny CPU run on a busy 2-core machine


def choose(window, method="rotation", dataset="digits", epochs=2, batch_size=64, backbone="mlp"):
    """Set the run panel up the way a user would: click the method, pick data, type numbers."""
    panel = window.panel
    panel.methods.setCurrentItem(panel._method_items[method])
    panel.dataset.setCurrentIndex(panel.dataset.findData(dataset))
    panel.run_form.editor("epochs").setValue(epochs)
    panel.run_form.editor("batch_size").setValue(batch_size)
    backbones = panel.run_form.editor("backbone")
    backbones.setCurrentIndex(backbones.findData(backbone))
    panel.advanced_form.editor("preview_interval").setText("0.5")
    assert panel.problems() == []


def start(window, qtbot):
    qtbot.mouseClick(window.panel.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.client.state in ("running", "finished"), timeout=60_000)


def test_defaults_are_ready_to_start(window):
    panel = window.panel
    assert panel.method_name() == "simclr" and panel.dataset_name() == "mnist5k"
    assert panel.start_button.isEnabled()
    assert not panel.stop_button.isEnabled()
    assert "CPU" in panel.device.currentText() or "CUDA" in panel.device.currentText()


def test_invalid_setting_is_flagged_and_blocks_start(window, qtbot):
    panel = window.panel
    panel.methods.setCurrentItem(panel._method_items["simclr"])
    panel.method_form.editor("temperature").setText("-1")
    assert not panel.start_button.isEnabled()
    assert "temperature" in panel.problem.text()
    editor = panel.method_form.editor("temperature")
    assert editor.property("invalid") is True  # resources/style.qss draws [invalid="true"] with a red border
    panel.method_form.editor("temperature").setText("0.2")
    assert panel.start_button.isEnabled()
    assert editor.property("invalid") is False


@pytest.mark.slow  # trains a run through a worker subprocess
def test_train_watch_inspect_explore_ask_export(window, qtbot, tmp_path):
    choose(window, epochs=1, backbone="small_cnn")
    start(window, qtbot)
    # the loss curve gets points and a preview appears while it trains
    qtbot.waitUntil(lambda: len(window.dashboard.data.loss.data()[0]) > 0, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "rotations" in window.inspector.cards, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.client.state == "finished", timeout=TIMEOUT)
    run_dir = window.run_dir
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    # the explorer maps the probe embeddings
    window.tabs.setCurrentWidget(window.explorer)
    qtbot.waitUntil(lambda: window.explorer.scatter.count() > 0 and not window.explorer.is_computing(),
                    timeout=TIMEOUT)
    assert window.explorer.scatter.count() == 359  # the digits test split
    # an analogy query returns answers
    window.tabs.setCurrentWidget(window.analogies)
    qtbot.mouseClick(window.analogies.random_button, Qt.LeftButton)
    qtbot.mouseClick(window.analogies.find_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(window.analogies.results_indices()) > 0, timeout=30_000)
    a, b, c = window.analogies.query()
    assert not {a, b, c} & set(window.analogies.results_indices())
    # export writes a valid HDF5 file
    window.export_dialog()
    dialog = window._export
    out = tmp_path / "emb.h5"
    dialog.path.setText(str(out))
    qtbot.mouseClick(dialog.export_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: dialog.written is not None, timeout=TIMEOUT)
    exported = read_export(out)
    assert exported.embeddings.shape[0] == 359 and "pca" in exported.projections
    dialog.close()
    # the runs browser lists the finished run
    window.browser.refresh()
    qtbot.waitUntil(lambda: (window.browser.select_paths([run_dir]) or True)
                    and window.browser.selected_paths() == [run_dir], timeout=20_000)


@pytest.mark.slow  # trains through a worker subprocess
def test_stop_leaves_a_checkpoint(window, qtbot):
    choose(window, epochs=50)
    start(window, qtbot)
    qtbot.waitUntil(lambda: len(window.dashboard.data.loss.data()[0]) > 0, timeout=TIMEOUT)
    qtbot.mouseClick(window.panel.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.client.state == "stopped", timeout=TIMEOUT)
    state = load_checkpoint(window.run_dir / "checkpoints" / "last.pt")
    assert state["step"] > 0
    assert window.panel.start_button.isEnabled()


@pytest.mark.slow  # trains through a worker subprocess
def test_pause_and_resume_buttons(window, qtbot):
    choose(window, epochs=50)
    start(window, qtbot)
    qtbot.waitUntil(lambda: len(window.dashboard.data.loss.data()[0]) > 0, timeout=TIMEOUT)
    qtbot.mouseClick(window.panel.pause_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.client.state == "paused", timeout=TIMEOUT)
    assert window.panel.pause_button.text() == "Resume"
    qtbot.mouseClick(window.panel.pause_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.client.state == "running", timeout=TIMEOUT)
    window.client.stop()
    qtbot.waitUntil(lambda: window.client.state == "stopped", timeout=TIMEOUT)


@pytest.mark.slow  # trains through a worker subprocess
def test_killed_worker_shows_a_banner_and_the_window_keeps_working(window, qtbot):
    choose(window, epochs=50)
    start(window, qtbot)
    qtbot.waitUntil(lambda: (window.run_dir / "checkpoints" / "last.pt").is_file(), timeout=TIMEOUT)
    os.kill(window.client.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=60_000)
    assert "unexpectedly" in window.banner.text.text()
    assert window.banner.resume.isVisible()
    assert window.panel.start_button.isEnabled()
    window.tabs.setCurrentIndex(4)  # the window still responds
    assert window.tabs.currentWidget() is window.browser
    # resume from the banner continues the same run
    qtbot.mouseClick(window.banner.resume, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.client.state == "running", timeout=60_000)
    window.client.stop()
    qtbot.waitUntil(lambda: window.client.state == "stopped", timeout=TIMEOUT)


@pytest.mark.slow  # trains through a worker subprocess
def test_closing_while_training_can_stop_the_run(window, qtbot, monkeypatch):
    choose(window, epochs=50)
    start(window, qtbot)
    run_dir = window.run_dir

    def choose_stop(box):
        for button in box.buttons():
            if button.text() == "Stop the run":
                box.setProperty("_clicked", True)
                button.click()
                return 0

    monkeypatch.setattr(QMessageBox, "exec", choose_stop)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT)
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert not window.client.is_running()


def test_theme_switch_keeps_everything_alive(window):
    window.set_theme("dark")
    assert window.dark_action.isChecked()
    window.set_theme("light")
    assert not window.dark_action.isChecked()
    assert window.settings.value("theme") == "light"


@pytest.mark.slow  # trains a run, then maps it
def test_opening_a_run_replays_it(window, qtbot, tmp_path):
    from workbench.cli import main
    run_dir = tmp_path / "cli-run"
    assert main(["train", "--method", "autoencoder", "--dataset", "digits", "--epochs", "1",
                 "--batch-size", "64", "--run-dir", str(run_dir), "--quiet",
                 "--set", "linear_probe=false"]) == 0
    window.open_run(run_dir)
    assert len(window.dashboard.data.loss.data()[0]) > 0
    assert "reconstructions" in window.inspector.cards
    window.tabs.setCurrentWidget(window.explorer)
    qtbot.waitUntil(lambda: window.explorer.scatter.count() > 0, timeout=TIMEOUT)


def test_pages_off_the_first_screen_are_built_after_the_first_paint(window, qtbot):
    """The welcome page is the first screen: the pages with plots are built after the window's first paint, one
    per turn of the event loop and without being shown (Start then finds the dashboard's grid ready), in the
    theme of that moment; a run's events streamed before then reach the plots."""
    from ui import theme
    from ui.main_window import LATER
    assert window._built == {}  # shown, not yet painted
    dash = window.dashboard  # asked for: built now; its grid waits for the build after the first paint
    assert list(window._built) == ["dashboard"] and not dash._plots_built
    window.set_theme("dark")
    events = [{"type": "started", "t": 1000.0, "step": 0, "epoch": 0, "method": "rotation", "title": "RotNet",
               "dataset": "digits", "device": "CPU", "steps_per_epoch": 50, "total_steps": 50, "epochs": 1,
               "batch_size": 64, "resumed": False}]
    events += [{"type": "step", "t": 1000.0 + s, "step": s, "epoch": 0, "loss": 2.0 - s / 50, "lr": 1e-3,
                "img_s": 500.0, "logs": {"rotation_acc": s / 50}} for s in range(1, 51)]
    events.append({"type": "eval", "t": 1100.0, "step": 50, "epoch": 1, "knn_top1": 0.6, "knn_best": 0.6,
                   "collapse_std_ratio": 0.5, "effective_rank": 20.0})
    for ev in events:
        dash.add_event(ev)
    qtbot.waitUntil(window.pages_built, timeout=20_000)
    assert set(window._built) == set(LATER) and dash._plots_built
    assert window.pages.currentWidget() is window.welcome and not dash.isVisible()
    assert window.explorer._compare_view is None  # built on first use
    assert [window.tabs.widget(i) for i in LATER.values()] == [window.dashboard, window.explorer, window.analogies]
    window.pages.setCurrentWidget(window.tabs)
    window.tabs.setCurrentWidget(dash)
    qtbot.waitUntil(lambda: dash._plots_built and dash.loss_curve.xData is not None
                    and len(dash.loss_curve.xData) == 50, timeout=5000)
    assert list(dash.knn_curve.yData) == [60.0]
    assert len(dash._term_curves["rotation_acc"].xData) == 50
    assert dash.plots.backgroundBrush().color().name().upper() == theme.THEMES["dark"]["plot_bg"]
    assert dash.name_label.text() == "rotation · digits"
    # the comparison page: built on first use, in the current theme, and themed again on a switch
    view = window.explorer.compare_view
    assert window.explorer.compare_view is view and window.explorer.pages.indexOf(view.parentWidget().parentWidget()) == 1
    window.set_theme("light")  # the plots follow at the next turn of the event loop
    qtbot.waitUntil(lambda: view.scatter_a.backgroundBrush().color().name().upper()
                    == theme.THEMES["light"]["plot_bg"], timeout=5000)


def test_a_tab_clicked_before_its_page_is_built_builds_it_then(window, qtbot, tmp_path):
    """A page asked for before the build after the first paint reaches it is built at once, once; the pages
    built in either order still talk to each other (map → analogies, analogies → map)."""
    import numpy as np

    from workbench.explore import EmbeddingSource
    assert window._built == {}
    window.pages.setCurrentWidget(window.tabs)
    bar = window.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.LeftButton, pos=bar.tabRect(2).center())  # Explorer
    explorer = window.explorer
    assert "explorer" in window._built and window.tabs.currentWidget() is explorer
    qtbot.waitUntil(explorer.isVisible)
    n = 30
    source = EmbeddingSource(run_dir=tmp_path, label="test", step=0,
                             embeddings=np.random.default_rng(0).standard_normal((n, 4)).astype(np.float32),
                             labels=np.arange(n) % 3, indices=np.arange(n), images=np.zeros((n, 8, 8, 3), np.uint8),
                             class_names=["a", "b", "c"])
    explorer.source_changed.emit(source)  # reaches the analogies page, built for it
    if "analogies" in window._built:  # the build after the paint may have come first
        assert window.analogies._source is source
    qtbot.waitUntil(window.pages_built, timeout=20_000)
    assert window.explorer is explorer and window.tabs.widget(2) is explorer
    assert window.analogies._source is source
    window.analogies.pick_prompt.emit("Click a point for A")
    assert explorer.pick_cue.text() == "Click a point for A"
