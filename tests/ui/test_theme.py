"""Themes from resources/: complete data, a style sheet that fills in, icons that draw, and a switch that re-themes every widget."""
from __future__ import annotations

import itertools
import re
from importlib import resources

import pytest
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from ui import theme

HEX = re.compile(r"^#[0-9A-F]{6}$")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    q = QColor(hex_colour)
    return q.red(), q.green(), q.blue()


def _luminance(hex_colour: str) -> float:
    """Relative luminance (WCAG): how bright a colour looks, unlike HSL lightness."""
    linear = [(v / 255) / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in _rgb(hex_colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("name", theme.THEME_NAMES)
def test_theme_data_is_complete(name):
    data = theme.theme_data(name)
    other = theme.theme_data("dark" if name == "light" else "light")
    assert data["name"] == name
    assert data["colours"].keys() == other["colours"].keys()  # a role missing in one theme breaks the switch
    assert set(data["status"]) == set(theme.STATUSES)
    palettes = data["palettes"]
    values = [*data["colours"].values(), *data["status"].values(), *palettes["categorical"],
              *palettes["ordered"], *palettes["agreement"].values()]
    assert all(HEX.match(v) for v in values), [v for v in values if not HEX.match(v)]
    # classes stay apart: ten colours, none near another or near the muted "unlabelled"/background
    categorical = palettes["categorical"]
    assert len(categorical) >= 10
    # curves and maps keep the colours they were drawn with: each must read on both themes' plots
    assert categorical == other["palettes"]["categorical"]
    for c in categorical:
        for bg in (data["colours"]["plot_bg"], other["colours"]["plot_bg"]):
            lo, hi = sorted((_luminance(c), _luminance(bg)))
            assert (hi + 0.05) / (lo + 0.05) >= 1.5, (c, bg)
    for a, b in itertools.combinations([*categorical, data["colours"]["muted"], data["colours"]["plot_bg"]], 2):
        assert sum((x - y) ** 2 for x, y in zip(_rgb(a), _rgb(b))) ** 0.5 > 40, (a, b)


@pytest.mark.parametrize("name", theme.THEME_NAMES)
def test_ordered_palette_grows_in_contrast_with_the_background(qapp, name):
    """Ordered measures (neighbour change) get steps that stand out more from the plot as the value grows."""
    try:
        theme.apply_theme(QApplication.instance(), name)
        steps = theme.ordered_colours(4)
        bg = _luminance(theme.colors()["plot_bg"])
        contrast = [abs(_luminance(c) - bg) for c in steps]
        assert contrast == sorted(contrast) and len(set(steps)) == 4
    finally:
        theme.apply_theme(QApplication.instance(), "light")


@pytest.mark.parametrize("name", theme.THEME_NAMES)
def test_style_sheet_fills_in_every_colour(name):
    sheet = theme.style_sheet(name)
    assert "$" not in sheet.split("*/", 1)[1]  # the opening comment spells the syntax
    assert theme.THEMES[name]["error_text"] in sheet and theme.theme_data(name)["palettes"]["agreement"]["same"] in sheet


def _ink(pixmap) -> tuple[int, int, int]:
    """The colour of an icon's most opaque pixel (edges are antialiased)."""
    image = pixmap.toImage()
    x, y = max(itertools.product(range(image.width()), range(image.height())),
               key=lambda p: image.pixelColor(*p).alpha())
    assert image.pixelColor(x, y).alpha() > 200
    return _rgb(image.pixelColor(x, y).name())


def test_icons_draw_in_the_theme_colour(qapp):
    names = sorted(p.name[:-4] for p in resources.files("resources").joinpath("icons").iterdir()
                   if p.name.endswith(".svg") and p.name != "app.svg")
    assert {"start", "pause", "stop", "resume", "open", "export", "compare", "theme"} <= set(names)
    try:
        for name in theme.THEME_NAMES:
            theme.apply_theme(qapp, name)
            for icon in names:
                for mode, role in ((QIcon.Normal, "icon"), (QIcon.Disabled, "icon_disabled")):
                    assert _ink(theme.icon(icon).pixmap(24, 24, mode)) == _rgb(theme.colors()[role]), (name, icon)
    finally:
        theme.apply_theme(qapp, "light")
    assert {s.width() for s in theme.app_icon().availableSizes()} >= {16, 32, 256}


def test_status_colours_follow_the_theme(qapp):
    try:
        theme.apply_theme(qapp, "dark")
        assert theme.status_colour("failed") == theme.theme_data("dark")["status"]["failed"]
        assert theme.status_colour("no such status") == theme.theme_data("dark")["status"]["new"]
    finally:
        theme.apply_theme(qapp, "light")
    assert theme.status_colour("finished") == theme.theme_data("light")["status"]["finished"]


def _colour(widget, role) -> str:
    widget.ensurePolished()
    return widget.palette().color(role).name().upper()


def test_switching_dark_light_dark_re_themes_every_widget(window, qtbot):
    """Dark → light left the runs table black and the analogy cards' text light on light; both follow now."""
    assert window.windowIcon().availableSizes() and not window.windowIcon().isNull()
    table = window.browser.table
    expected = window.analogies.expected_slot
    slot = window.analogies.slots[0]
    window.banner.show_message("the worker died", "error")
    try:
        for name in ("dark", "light", "dark"):
            window.set_theme(name)
            qtbot.wait(10)
            c = theme.THEMES[name]
            assert _colour(table, QPalette.Base) == c["base"], name
            assert _colour(table.viewport(), QPalette.Base) == c["base"], name
            assert _colour(table, QPalette.Text) == c["text"], name
            for card in (expected, slot):
                assert _colour(card, QPalette.Window) == c["window"], name
                assert _colour(card.text, QPalette.WindowText) == c["text"], name
                assert _colour(card.heading, QPalette.WindowText) == c["text"], name
            assert _colour(window.banner.text, QPalette.WindowText) == c["error_text"], name
            assert _colour(window.dashboard.info_label, QPalette.WindowText) == c["muted"], name
            assert window.dashboard.plots.backgroundBrush().color().name().upper() == c["plot_bg"], name
            assert window.dark_action.isChecked() == (name == "dark")
    finally:
        window.set_theme("light")


def test_a_theme_switch_sets_the_fusion_style_only_once(qapp, monkeypatch):
    """Under a style sheet, app.style() is Qt's sheet style (named ""), which made every switch set Fusion again:
    a re-created style and every widget re-polished, 0.2 s of the switch."""
    theme.apply_theme(qapp, "light")
    assert qapp.style().name() == "" or qapp.style().name().lower() == "fusion"
    calls = []
    monkeypatch.setattr(QApplication, "setStyle", lambda *a: calls.append(a))
    try:
        for name in ("dark", "light"):
            theme.apply_theme(qapp, name)
    finally:
        theme.apply_theme(qapp, "light")
    assert calls == []


def test_a_theme_switch_restyles_the_plots_a_turn_later_without_painting_between(window, qtbot):
    """The palette and style sheet at once, the pages' plots at the next turn of the event loop (two shorter
    holds of the GUI thread); the window paints nothing until both are done."""
    dash = window.dashboard
    try:
        window.set_theme("dark")
        assert theme.current() == "dark" and not window.updatesEnabled()
        qtbot.waitUntil(window.updatesEnabled, timeout=5000)
        assert dash.plots.backgroundBrush().color().name().upper() == theme.THEMES["dark"]["plot_bg"]
    finally:
        window.set_theme("light")
        qtbot.waitUntil(window.updatesEnabled, timeout=5000)
