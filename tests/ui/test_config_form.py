"""The generated settings form: ranges in tooltips read as people write numbers."""
from __future__ import annotations

from ui.config_form import ConfigForm
from workbench.config import RunConfig


def test_seed_range_in_the_tooltip_is_a_whole_number(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.set_dataclass(RunConfig, only=["seed", "lr"])
    seed_tip = form.editor("seed").toolTip()
    assert "2147483647" in seed_tip and "e+09" not in seed_tip
    assert "> 0, ≤ 10" in form.editor("lr").toolTip()
