"""The window fits a 1280×720 laptop and says which run it shows: run panel, title, status bar, relaunch, Export, folders, theme."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from ui import theme
from workbench.config import new_run_config


def test_minimum_size_fits_1280x720_with_the_explorer_shown(window, qtbot):
    window.tabs.setCurrentWidget(window.explorer)
    QApplication.processEvents()
    assert window.tabs.currentWidget() is window.explorer
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720, hint
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.width() == 1280)
    # a page that grows (a long progress line while the Explorer computes) scrolls; the window keeps its size
    window.explorer.progress_label.setText("loading snapshot step 123456 and placing it into the map " * 4)
    window.explorer.status.setText("x" * 400)
    QApplication.processEvents()
    qtbot.wait(50)
    assert window.width() == 1280


def test_health_text_is_never_cut_at_1280x720(window, qtbot):
    """The Explorer's side column scrolls rather than squeezing the word-wrapped Health lines until
    they are cut (at 1280×720 the map-quality and embedding lines lost their last line)."""
    window.resize(1280, 720)
    window.tabs.setCurrentWidget(window.explorer)
    health = window.explorer.health
    health.map_text.setText("<b>Map quality</b> (PCA, k = 10)<br>trustworthiness <b>0.913</b> · continuity "
                            "<b>0.971</b><br>" + "False neighbours: 73% of points (365 of 500) have fewer than 5 "
                            "of their 10 map neighbours among their 10 true ones. " * 2)
    health.embedding_text.setText("<b>Embeddings</b> (256-d): std ratio 0.55 · effective rank 89.9 of 256 · "
                                  "neighbour-label agreement 30% (each shown point's label vs the vote of its 20 "
                                  "nearest shown points; the dashboard's kNN is train → test)")
    health.verdict.setText("Healthy: the embeddings spread over many directions. (std ratio 0.55; the line is "
                           "0.30 ± 0.03)")
    window.explorer.item_text.setText("#8 · square, green, small, centre, middle, 0° " * 3)
    qtbot.waitUntil(lambda: window.width() == 1280)
    for _ in range(3):
        QApplication.processEvents()
    for label in (health.map_text, health.embedding_text, health.verdict):
        assert label.height() >= label.heightForWidth(label.width()), \
            (label.text()[:40], label.height(), label.heightForWidth(label.width()))
    assert window.width() == 1280


def test_run_panel_closes_to_give_the_tabs_the_width(window):
    action = next(a for a in window.menuBar().actions()[2].menu().actions() if "panel" in a.text().lower())
    assert window.dock.isVisible()
    action.trigger()
    assert not window.dock.isVisible()


def test_long_method_titles_are_not_cut_short(window):
    panel = window.panel
    panel.resize(290, 800)
    QApplication.processEvents()
    tree = panel.methods
    item = panel._method_items["relative_position"] if "relative_position" in panel._method_items else \
        max(panel._method_items.values(), key=lambda i: len(i.text(0)))
    rect = tree.visualItemRect(item)
    needed = tree.fontMetrics().horizontalAdvance(item.text(0))
    assert needed > rect.width() - 10  # too long for one line here…
    assert rect.height() >= 2 * tree.fontMetrics().height()  # …so it wraps onto two


def test_first_screen_offers_a_ready_example(window, monkeypatch, qtbot):
    assert window.pages.currentWidget() is window.welcome
    assert "SimCLR on Shapes, 3 epochs" in window.welcome.example_title.text()
    started = []
    monkeypatch.setattr(window.client, "start", lambda run_dir, **kw: started.append(run_dir))
    window.welcome.start_button.click()
    assert len(started) == 1
    run_dir = Path(started[0])
    assert (run_dir / "config.json").is_file() and run_dir.name.endswith("simclr-shapes")
    # the tabs come on the next turn of the event loop: the click returns before the plot grid's first paint
    assert window.pages.currentWidget() is window.welcome
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.tabs, timeout=3000)
    assert window.tabs.currentWidget() is window.dashboard
    assert window.panel.method_name() == "simclr" and window.panel.dataset_name() == "shapes"
    assert window.panel.run_form.values()["epochs"] == 3


def test_export_is_disabled_until_a_run_is_shown(window, real_run):
    assert not window.export_action.isEnabled()
    window.open_run(real_run)
    assert window.export_action.isEnabled()


def test_run_panel_shows_the_opened_runs_settings(window, real_run):
    panel = window.panel
    assert panel.summary.isHidden()
    window.open_run(real_run)
    assert panel.summary.isVisibleTo(panel)
    text = panel.summary.text.text()
    for part in (real_run.name, "RotNet", "Digits", "2 epochs", "batch 64", "mlp"):
        assert part in text, (part, text)
    panel.select_method("simclr")
    panel.select_dataset("shapes")
    panel.summary.use_button.click()  # "Use these settings": the panel is set up as that run was
    assert panel.method_name() == "rotation" and panel.dataset_name() == "digits"
    values = panel.run_form.values()
    assert (values["epochs"], values["batch_size"], values["backbone"]) == (2, 64, "mlp")
    assert panel.advanced_form.values()["probe_size"] == 200


@pytest.mark.slow  # a second window replays the run and maps it
def test_title_and_status_name_the_run_and_a_relaunch_reopens_it(window, real_run, settings, add_widget):
    window.open_run(real_run)
    assert real_run.name in window.windowTitle()
    assert real_run.name in window.state_label.text()
    from ui.main_window import MainWindow
    again = add_widget(MainWindow(runs_root=real_run.parent, settings=settings),
                       idle=lambda: not again.explorer.is_busy())
    assert again.run_dir == real_run
    assert real_run.name in again.windowTitle() and real_run.name in again.state_label.text()
    assert again.panel.summary.isVisibleTo(again.panel)


def test_an_empty_or_missing_image_folder_is_refused_before_a_run_folder_exists(window, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    window.use_folder(empty)  # as a drop on the window does
    assert window.banner.isVisibleTo(window) and "no images" in window.banner.text.text()
    assert not window.panel.start_button.isEnabled() and "no images" in window.panel.problem.text()
    assert window.panel.set_folder(tmp_path / "missing") is not None
    runs_root = window.runs_root
    for folder in (empty, tmp_path / "missing"):
        window.start_run(new_run_config("simclr", "folder", data_root=str(folder)))
        assert folder.name in window.banner.text.text()
    assert not runs_root.exists() or not any(runs_root.iterdir())


@pytest.mark.slow  # visits every tab of a real run in both themes and scans the runs folder
def test_theme_round_trip_leaves_no_widget_in_the_old_palette(window, real_run, qtbot):
    window.open_run(real_run)
    window.set_theme("dark")
    for page in (window.dashboard, window.explorer, window.analogies, window.browser):
        window.tabs.setCurrentWidget(page)
        QApplication.processEvents()
    window.set_theme("light")
    window.tabs.setCurrentWidget(window.browser)
    window.browser.set_root(real_run.parent)
    qtbot.waitUntil(lambda: window.browser.proxy.rowCount() > 0, timeout=20_000)
    QApplication.processEvents()
    light, dark = theme.THEMES["light"], theme.THEMES["dark"]
    table = window.browser.table
    sampled = [table, table.viewport(), window.panel.methods, window.panel, window.tabs, window.welcome,
               window.analogies, window.explorer]
    for w in sampled:
        pal = w.palette()
        assert pal.color(QPalette.Base).name().lower() == light["base"].lower(), type(w).__name__
        assert pal.color(QPalette.Text).name().lower() == light["text"].lower(), type(w).__name__
    # what is drawn, not only the palette: the table's empty area and a row are light
    image = table.viewport().grab().toImage()
    for x, y in ((image.width() - 5, image.height() - 5), (image.width() // 2, 5)):
        assert image.pixelColor(x, y).lightness() > 200, (x, y, image.pixelColor(x, y).name())
    assert dark["base"] != light["base"]
