"""Colours for embedding maps: categories (labels, factors), binned measures, kNN correctness and neighbour change."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from ui import theme
from workbench.explore import ordered_option

# Neighbour change in five steps: unchanged in a faint grey that recedes, then the theme's ordered
# palette, which grows more salient on its background as the change grows.
CHANGE_EDGES = (0.25, 0.5, 0.75)
CHANGE_NAMES = ["unchanged", "changed ≤ 0.25", "0.25 – 0.5", "0.5 – 0.75", "0.75 – 1"]  # bins 0, (0, 0.25], …


def category_colours(names: list[str]) -> list[str]:
    """Plot colours for categories: the colours themselves when every name is one ("red", "cyan"),
    else the theme's series; "unlabelled" is always the muted colour."""
    named = [n for n in names if n != "unlabelled"]
    if named and all(QColor.isValidColorName(n) for n in named):
        # pure yellow vanishes on white and pure blue on near-black: move every named colour a
        # little towards the text colour of the theme
        towards = QColor(theme.colors()["plot_fg"])
        t = 0.2 if theme.current() == "light" else 0.3
        colours = []
        for n in names:
            q = QColor(n)
            colours.append(QColor(*(round((1 - t) * a + t * b) for a, b in zip(q.getRgb()[:3], towards.getRgb()[:3])))
                           .name())
    else:
        colours = [theme.series_color(i) for i in range(len(names))]
    return [theme.colors()["muted"] if n == "unlabelled" else c for n, c in zip(names, colours)]


def option_colours(by: str, names: list[str]) -> list[str]:
    """Colours for the categories of a colour-by: an ordered scale, low to high, for binned measures (word
    frequency); distinct colours for classes and factors."""
    return theme.ordered_colours(len(names)) if ordered_option(by) else category_colours(names)


def knn_categories(correct: np.ma.MaskedArray) -> tuple[np.ndarray, list[str], list[str]]:
    """Codes, names and colours for colouring by leave-one-out kNN correctness (unlabelled: muted)."""
    codes = np.where(np.ma.getmaskarray(correct), 2, np.where(correct.filled(False), 0, 1)).astype(np.int64)
    return codes, ["agrees with its neighbours", "disagrees with its neighbours", "unlabelled"], [*theme.agreement(), theme.colors()["muted"]]


def change_categories(change: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
    """Codes, names and colours for colouring by neighbour change in [0, 1]."""
    change = np.asarray(change, dtype=np.float64)
    codes = np.where(change <= 0, 0, np.searchsorted(CHANGE_EDGES, change, side="left") + 1).astype(np.int64)
    return codes, list(CHANGE_NAMES), [theme.colors()["faint"], *theme.ordered_colours(len(CHANGE_NAMES) - 1)]
