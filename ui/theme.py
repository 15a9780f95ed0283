"""Light and dark themes for the app and its plots, with colour-blind-safe series colours."""
from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

# Okabe–Ito plus extras: distinguishable for most forms of colour blindness, on light and dark.
SERIES = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
          "#8C564B", "#7F7F7F", "#17BECF", "#BCBD22", "#1F77B4"]

THEMES = {
    "light": {"window": "#F4F5F7", "base": "#FFFFFF", "text": "#1D1F23", "muted": "#5F6670",
              "plot_bg": "#FFFFFF", "plot_fg": "#30343A", "grid": "#D8DBE0", "accent": "#2F6FDE",
              "button": "#E9EBEF", "highlight": "#2F6FDE", "warning": "#FFF4CE", "warning_text": "#5C4400",
              "error": "#FDE7E9", "error_text": "#8A1C24"},
    "dark": {"window": "#202327", "base": "#16181B", "text": "#E6E8EB", "muted": "#9AA1AB",
             "plot_bg": "#16181B", "plot_fg": "#C9CDD3", "grid": "#3A3F46", "accent": "#5B9BFF",
             "button": "#2C3036", "highlight": "#3D7BEA", "warning": "#4A3B0C", "warning_text": "#FFE8A3",
             "error": "#4C1D22", "error_text": "#FFC9CE"},
}

# Run status colours (RunStatus values), dark enough on white and light enough on near-black; the
# runs list and the dashboard draw a status as text and border in its colour on a faint tint of it.
STATUS_COLOURS = {
    "light": {"running": "#1A5FC8", "paused": "#1A5FC8", "finished": "#1B7F3B", "failed": "#B42318",
              "interrupted": "#B54708", "stopped": "#B54708", "new": "#5F6670"},
    "dark": {"running": "#6EA8FF", "paused": "#6EA8FF", "finished": "#5FD38A", "failed": "#FF7B72",
             "interrupted": "#FFB454", "stopped": "#FFB454", "new": "#9AA1AB"},
}
STATUS_TINT = 0.16  # share of the status colour in a pill's fill (the rest is the base colour)

_current = "light"


def current() -> str:
    return _current


def colors() -> dict[str, str]:
    return THEMES[_current]


def status_colour(status: str) -> str:
    """The current theme's colour for a run status (a RunStatus or its value)."""
    colours = STATUS_COLOURS[_current]
    return colours.get(str(status), colours["new"])


def tint(colour: str, share: float = STATUS_TINT) -> str:
    """`colour` mixed into the theme's base colour: an opaque fill that stays readable on selection."""
    a, b = QColor(THEMES[_current]["base"]), QColor(colour)
    mix = [round(x * (1 - share) + y * share) for x, y in
           ((a.red(), b.red()), (a.green(), b.green()), (a.blue(), b.blue()))]
    return QColor(*mix).name()


def series_color(i: int) -> str:
    return SERIES[i % len(SERIES)]


def apply_theme(app: QApplication, name: str) -> None:
    """Set the Qt palette (Fusion style) and remember the theme for plots created later."""
    global _current
    if name not in THEMES:
        name = "light"
    _current = name
    c = THEMES[name]
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {QPalette.Window: c["window"], QPalette.WindowText: c["text"], QPalette.Base: c["base"],
             QPalette.AlternateBase: c["window"], QPalette.Text: c["text"], QPalette.Button: c["button"],
             QPalette.ButtonText: c["text"], QPalette.Highlight: c["highlight"],
             QPalette.HighlightedText: "#FFFFFF", QPalette.ToolTipBase: c["base"],
             QPalette.ToolTipText: c["text"], QPalette.PlaceholderText: c["muted"],
             QPalette.Link: c["accent"]}
    for role, value in roles.items():
        pal.setColor(role, QColor(value))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, QColor(c["muted"]))
    app.setPalette(pal)


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
