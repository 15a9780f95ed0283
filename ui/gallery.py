"""A wrapping, scrollable grid of captioned thumbnails (neighbours, selections, analogy answers)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QListView, QListWidget, QListWidgetItem, QStackedWidget, QVBoxLayout, QWidget

from ui import theme
from ui.images import to_qimage

# Item = (image uint8 H×W×3, caption, tooltip, frame colour or None)
Item = tuple[np.ndarray, str, str, "str | None"]

FRAME = 3  # pixels of coloured frame around each thumbnail


def thumbnail(image: np.ndarray, size: int, frame: str | None = None) -> QPixmap:
    """A size×size pixmap: the image scaled crisply (whole-pixel blow-up, then a smooth fit) in a frame.

    Nearest-neighbour alone leaves uneven pixel widths at 72/32; blowing up by a whole factor
    first and then smoothing down keeps edges sharp without that shimmer.
    """
    img = np.asarray(image)
    h, w = img.shape[:2]
    inner = size - 2 * FRAME
    factor = max(1, -(-inner // max(h, w)))  # ceil
    if factor > 1:
        img = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
    scaled = QPixmap.fromImage(to_qimage(img)).scaled(inner, inner, Qt.KeepAspectRatio, Qt.SmoothTransformation)
    out = QPixmap(size, size)
    out.fill(QColor(frame) if frame else Qt.transparent)
    painter = QPainter(out)
    painter.drawPixmap((size - scaled.width()) // 2, (size - scaled.height()) // 2, scaled)
    painter.end()
    return out


class Gallery(QWidget):
    """Title, then thumbnails that wrap to the width; `clicked(i)` gives the item's position in set_items."""

    clicked = Signal(int)

    def __init__(self, title: str = "", empty_text: str = "Nothing to show yet.", thumb_size: int = 72,
                 caption_lines: int = 2, cell_width: int | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._thumb_size = thumb_size
        self._caption_lines = caption_lines
        self._cell_width = cell_width
        self._items: list[Item] = []

        self.title = QLabel(title)
        self.title.setObjectName("galleryTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)

        # An item view, not a widget per thumbnail: hundreds of items stay cheap to show and scroll.
        self.view = QListWidget()
        self.view.setViewMode(QListView.IconMode)
        self.view.setResizeMode(QListView.Adjust)
        self.view.setMovement(QListView.Static)
        self.view.setWrapping(True)
        self.view.setUniformItemSizes(True)
        self.view.setWordWrap(True)
        self.view.setTextElideMode(Qt.ElideRight)
        self.view.setSelectionMode(QListView.SingleSelection)
        self.view.setSpacing(2)
        self.view.itemClicked.connect(lambda item: self.clicked.emit(self.view.row(item)))
        self.view.itemActivated.connect(lambda item: self.clicked.emit(self.view.row(item)))

        self.empty = QLabel(empty_text)
        self.empty.setObjectName("galleryEmpty")  # muted, with room around it: resources/style.qss
        self.empty.setAlignment(Qt.AlignCenter)
        self.empty.setWordWrap(True)

        self._stack = QStackedWidget()
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self.view)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self._stack, 1)
        self.title.setVisible(bool(title))
        self._apply_sizes()

    # --- public API --------------------------------------------------------------------------
    def set_title(self, text: str) -> None:
        self.title.setText(text)
        self.title.setVisible(bool(text))

    def set_empty_text(self, text: str) -> None:
        self.empty.setText(text)

    def set_thumb_size(self, size: int) -> None:
        self._thumb_size = int(size)
        self._apply_sizes()
        self.set_items(self._items)

    def thumb_size(self) -> int:
        return self._thumb_size

    def set_items(self, items: Sequence[Item]) -> None:
        self._items = list(items)
        self.view.setUpdatesEnabled(False)
        self.view.clear()
        for image, caption, tooltip, frame in self._items:
            item = QListWidgetItem(QIcon(thumbnail(image, self._thumb_size, frame)), caption)
            item.setToolTip(tooltip)
            item.setTextAlignment(Qt.AlignHCenter | Qt.AlignTop)
            self.view.addItem(item)
        self.view.setUpdatesEnabled(True)
        self._stack.setCurrentWidget(self.view if self._items else self.empty)

    def clear(self) -> None:
        self.set_items([])

    def count(self) -> int:
        return len(self._items)

    def items(self) -> list[Item]:
        return list(self._items)

    # --- layout ------------------------------------------------------------------------------
    def _apply_sizes(self) -> None:
        s = self._thumb_size
        line = self.view.fontMetrics().height()
        self.view.setIconSize(QSize(s, s))
        # wide enough for short captions ("score 0.84") unless told, tall enough for caption_lines lines
        width = self._cell_width or max(s + 16, 96)
        self.view.setGridSize(QSize(width, s + 14 + line * self._caption_lines))


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    rng = np.random.default_rng(0)
    demo = [(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), f"score 0.{90 - i:02d}", f"item {i}",
             [*theme.agreement(), None][i % 3]) for i in range(60)]
    g = Gallery("60 random images", "No items")
    g.set_items(demo)
    g.resize(700, 500)
    g.show()
    sys.exit(app.exec())
