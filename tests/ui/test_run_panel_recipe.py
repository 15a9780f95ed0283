"""The run panel's Recipe combo: lists the recipes for the method and data, fills the forms, later edits win."""
from __future__ import annotations

import pytest

from ui.run_panel import RunPanel
from workbench.recipes import find_recipe


@pytest.fixture
def panel(qtbot):
    p = RunPanel()
    qtbot.addWidget(p)
    return p


def _names(panel) -> list:
    return [panel.recipe.itemData(i) for i in range(panel.recipe.count())]


def test_recipe_combo_follows_method_and_data(panel):
    panel.select_method("simclr")
    panel.select_dataset("mnist5k")
    assert _names(panel) == [None, "quick", "best"] and panel.recipe.isEnabled()
    panel.select_method("rotation")
    assert _names(panel) == [None] and not panel.recipe.isEnabled()


def test_choosing_best_fills_the_forms_and_later_edits_win(panel):
    panel.select_method("simclr")
    panel.select_dataset("mnist5k")
    best = find_recipe("best", "simclr", "mnist5k").settings
    panel.recipe.setCurrentIndex(_names(panel).index("best"))
    panel.recipe.activated.emit(panel.recipe.currentIndex())
    run = panel.run_config()
    assert run.epochs == best["epochs"] and run.batch_size == best["batch_size"] and run.lr == best["lr"]
    assert run.method_config["temperature"] == best["temperature"]
    assert run.method_config["crop_min"] == best["crop_min"]
    assert run.method_config["rotate"] == best["rotate"] and run.backbone == best["backbone"] == "small_cnn_grid"
    panel.run_form.set_value("epochs", 4)  # the user's own setting after the recipe wins
    assert panel.run_config().epochs == 4
