"""The light and dark themes: colours, map palettes, style sheet and icons from resources/, applied to Qt and plots."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from string import Template

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QWidget

THEME_NAMES = ("light", "dark")
STATUSES = ("new", "running", "paused", "stopped", "finished", "failed", "interrupted")
STATUS_TINT = 0.16  # share of the status colour in a pill's fill (the rest is the base colour)


def _read(*parts: str) -> str:
    return resources.files("resources").joinpath(*parts).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def theme_data(name: str) -> dict:
    """The theme's file, resources/themes/NAME.json: "colours", "status" and "palettes"."""
    return json.loads(_read("themes", f"{name}.json"))


# name -> UI colours by role ("window", "text", "muted", …): what colors() returns for the current theme
THEMES = {name: theme_data(name)["colours"] for name in THEME_NAMES}

_current = "light"


def current() -> str:
    return _current


def colors() -> dict[str, str]:
    return THEMES[_current]


def colour(role: str) -> str:
    """The current theme's colour for a role name of resources/themes/*.json "colours"."""
    return THEMES[_current][role]


def status_colour(status) -> str:
    """The current theme's colour for a run status (a RunStatus or its value); unknown ones look new."""
    colours = theme_data(_current)["status"]
    return colours.get(str(getattr(status, "value", status)), colours["new"])


def tint(colour_: str, share: float = STATUS_TINT) -> str:
    """`colour_` mixed into the theme's base colour: an opaque fill that stays readable on selection."""
    a, b = QColor(colors()["base"]), QColor(colour_)
    return QColor(*(round(x * (1 - share) + y * share) for x, y in
                    ((a.red(), b.red()), (a.green(), b.green()), (a.blue(), b.blue())))).name()


def series_color(i: int) -> str:
    """The i-th categorical colour (curves, classes), cycling past the end: Okabe–Ito without black, then
    purple, brown and olive; the same in both themes, so what was drawn before a switch stays readable."""
    palette = theme_data(_current)["palettes"]["categorical"]
    return palette[i % len(palette)]


CURVE_CONTRAST = 3.0  # WCAG's minimum for graphics: a thin line or a small marker under it fades into the ground
TEXT_CONTRAST = 4.5   # WCAG's minimum for small text


def _luminance(c: QColor) -> float:
    lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in (c.redF(), c.greenF(), c.blueF())]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours, 1 (same) to 21 (black on white)."""
    la, lb = sorted((_luminance(QColor(a)), _luminance(QColor(b))))
    return (lb + 0.05) / (la + 0.05)


def curve_color(i: int) -> str:
    """series_color(i) for a line on the current plot ground: moved toward the plot's foreground until it has
    CURVE_CONTRAST against the ground (the palette's dark green and wine vanish on the dark theme, its yellow
    on white); the same hue, so a series keeps its colour, readable in either theme."""
    return readable_on_plot(series_color(i), CURVE_CONTRAST)


def readable_on_plot(colour_: str, minimum: float = TEXT_CONTRAST) -> str:
    """colour_ moved toward the plot's foreground until it has `minimum` contrast against the plot's ground
    (TEXT_CONTRAST for names written in their curve's colour)."""
    c, fg, bg = colour_, QColor(colors()["plot_fg"]), colors()["plot_bg"]
    base, share = QColor(c), 0.0
    while contrast(c, bg) < minimum and share < 1.0:
        share += 0.1
        c = QColor(*(round(x * (1 - share) + y * share) for x, y in
                     ((base.red(), fg.red()), (base.green(), fg.green()), (base.blue(), fg.blue())))).name()
    return c


def ordered_colours(n: int) -> list[str]:
    """n colours evenly along the theme's ordered palette (a viridis stretch that grows more salient
    on the theme's background): for binned measures, low to high."""
    stops = [QColor(c) for c in theme_data(_current)["palettes"]["ordered"]]
    out = []
    for k in range(n):
        x = (len(stops) - 1) * (k / (n - 1) if n > 1 else 1.0)
        i = min(int(x), len(stops) - 2)
        t = x - i
        a, b = stops[i], stops[i + 1]
        out.append(QColor(*(round(p * (1 - t) + q * t) for p, q in
                            ((a.red(), b.red()), (a.green(), b.green()), (a.blue(), b.blue())))).name().upper())
    return out


def agreement() -> tuple[str, str]:
    """(same, different): a label agrees or not (kNN right/wrong, analogy match); safe for red–green blindness."""
    pair = theme_data(_current)["palettes"]["agreement"]
    return pair["same"], pair["different"]


def style_sheet(name: str) -> str:
    """resources/style.qss with the theme's colours filled in."""
    data = theme_data(name)
    values = dict(data["colours"])
    values.update({f"status_{k}": v for k, v in data["status"].items()})
    values.update({f"agreement_{k}": v for k, v in data["palettes"]["agreement"].items()})
    return Template(_read("style.qss")).substitute(values)


def set_look(widget: QWidget, **properties) -> None:
    """Set dynamic properties the style sheet selects on (tone="muted", state="running", …) and re-polish."""
    changed = False
    for key, value in properties.items():
        value = getattr(value, "value", value)  # an enum (RunStatus) by its value: the sheet matches text
        if widget.property(key) != value:
            widget.setProperty(key, value)
            changed = True
    if changed:  # re-polishing costs a millisecond: only when a property changed
        # descendants too: a rule such as `#banner[kind="error"] QLabel` is matched when the label is polished
        for w in (widget, *widget.findChildren(QWidget)):
            w.style().unpolish(w)
            w.style().polish(w)
            w.update()


class _SvgIconEngine(QIconEngine):
    """Draws a stroke icon in the current theme's icon colour at paint time, so icons follow a theme switch."""

    def __init__(self, svg: str):
        super().__init__()
        self._svg = svg

    def paint(self, painter: QPainter, rect, mode, state) -> None:
        role = "icon_disabled" if mode == QIcon.Disabled else "icon"
        QSvgRenderer(QByteArray(self._svg.replace("currentColor", colors()[role]).encode())).render(
            painter, QRectF(rect))

    def pixmap(self, size: QSize, mode, state) -> QPixmap:
        pm = QPixmap(size)
        pm.fill(Qt.transparent)
        painter = QPainter(pm)
        painter.setRenderHint(QPainter.Antialiasing)
        self.paint(painter, pm.rect(), mode, state)
        painter.end()
        return pm

    def clone(self) -> QIconEngine:
        return _SvgIconEngine(self._svg)


def icon(name: str) -> QIcon:
    """The stroke icon resources/icons/NAME.svg, drawn in the theme's icon colour."""
    return QIcon(_SvgIconEngine(_read("icons", f"{name}.svg")))


def app_icon() -> QIcon:
    """The application icon (resources/icons/app.svg) at the sizes window managers and docks ask for."""
    renderer = QSvgRenderer(QByteArray(_read("icons", "app.svg").encode()))
    result = QIcon()
    for side in (16, 24, 32, 48, 64, 128, 256):
        pm = QPixmap(side, side)
        pm.fill(Qt.transparent)
        painter = QPainter(pm)
        painter.setRenderHint(QPainter.Antialiasing)
        renderer.render(painter)
        painter.end()
        result.addPixmap(pm)
    return result


FUSION_SET = "workbenchFusion"  # an application property: apply_theme has set the Fusion style


def apply_theme(app: QApplication, name: str) -> None:
    """Set the Qt palette (Fusion style) and the style sheet, and remember the theme for plots drawn later.

    The style sheet is set on the application, never on a widget: a widget with its own sheet keeps the
    palette it was polished with, which left parts of the window dark after switching to light."""
    global _current
    if name not in THEMES:
        name = "light"
    _current = name
    c = THEMES[name]
    if not app.property(FUSION_SET):
        # once: setting a style again re-creates it and re-polishes every widget, which is slow (0.2 s of
        # a theme switch) and crashed Qt (segfault in setStyle) after many windows had come and gone in one
        # process. Not told by app.style().name(): under a style sheet that is Qt's sheet style, named "".
        app.setStyle("Fusion")
        app.setProperty(FUSION_SET, True)
    pal = QPalette()
    roles = {QPalette.Window: c["window"], QPalette.WindowText: c["text"], QPalette.Base: c["base"],
             QPalette.AlternateBase: c["alternate_base"], QPalette.Text: c["text"], QPalette.Button: c["button"],
             QPalette.ButtonText: c["text"], QPalette.Highlight: c["highlight"],
             QPalette.HighlightedText: c["highlighted_text"], QPalette.ToolTipBase: c["base"],
             QPalette.ToolTipText: c["text"], QPalette.PlaceholderText: c["muted"],
             QPalette.Link: c["accent"]}
    for role, value in roles.items():
        pal.setColor(role, QColor(value))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, QColor(c["muted"]))
    app.setPalette(pal)
    # Through an empty sheet: replacing one sheet by another re-polishes every widget at once (0.3 s
    # for the main window's ~600 widgets, a visible stall); clearing it and setting the new one takes
    # a third of that, hidden widgets being polished when they are next shown.
    if app.styleSheet():
        app.setStyleSheet("")
    app.setStyleSheet(style_sheet(name))


def style_plot(plot_widget) -> None:
    """Colour a pyqtgraph PlotWidget/GraphicsLayoutWidget for the current theme."""
    import pyqtgraph as pg
    c = colors()
    plot_widget.setBackground(c["plot_bg"])
    items = []
    if hasattr(plot_widget, "getPlotItem"):
        items = [plot_widget.getPlotItem()]
    elif hasattr(plot_widget, "ci"):
        items = [i for i in plot_widget.ci.items if isinstance(i, pg.PlotItem)]
    for item in items:
        for name in ("left", "bottom", "right", "top"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(c["plot_fg"]))
            axis.setTextPen(pg.mkPen(c["plot_fg"]))
        if item.titleLabel is not None:
            item.titleLabel.setAttr("color", c["plot_fg"])
            item.titleLabel.setText(item.titleLabel.text)
