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

_current = "light"


def current() -> str:
    return _current


def colors() -> dict[str, str]:
    return THEMES[_current]


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
