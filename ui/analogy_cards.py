"""The analogy panel's cards: an operand (A, B or C) with its thumbnail and index box, and the expected answer."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from ui import theme
from ui.gallery import thumbnail
from workbench.explore import EmbeddingSource
from workbench.map_reading import unknown_word_message


# Four cards (A, B, C and the expected answer) side by side fit the page of a 1280-px window: at 96 px and a
# 130-px text the row was ~1,000 px wide and pushed the expected card and "Random example" out of view.
CARD_IMAGE = 80
CARD_TEXT = 100


class _Card(QFrame):
    """A thumbnail beside a heading and a description; `self.right` takes more rows."""

    def __init__(self, object_name: str, heading: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setFrameShape(QFrame.StyledPanel)
        self.heading = QLabel(heading)
        self.image = QLabel()
        self.image.setFixedSize(CARD_IMAGE, CARD_IMAGE)
        self.image.setAlignment(Qt.AlignCenter)
        self.text = QLabel("—")
        self.text.setWordWrap(True)
        self.text.setMinimumWidth(CARD_TEXT)
        self.text.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.right = QVBoxLayout()
        self.right.addWidget(self.heading)
        self.right.addWidget(self.text, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.image)
        layout.addLayout(self.right, 1)


class OperandCard(_Card):
    """One operand: its thumbnail, description and an index box (typing an index picks that item)."""

    changed = Signal(int)
    word_unknown = Signal(str)  # the message for a typed word the map does not show (with near spellings)

    def __init__(self, letter: str, role: str, parent: QWidget | None = None):
        super().__init__("analogySlot", f"<b>{letter}</b> · {role}", parent)
        self.source: EmbeddingSource | None = None
        self.spin = QSpinBox()
        self.spin.setRange(-1, 0)
        self.spin.setSpecialValueText("—")
        self.spin.setKeyboardTracking(False)  # act on Enter / focus out, not on every digit typed
        self.spin.setToolTip("Row of the item in the map; type one to pick it (#N in the text is the item's "
                             "number in the dataset's test split)")
        self.spin.valueChanged.connect(self._on_spin)
        self.word = QLineEdit()  # maps of words: type one instead of its index
        self.word.setPlaceholderText("or type a word")
        self.word.setVisible(False)
        self.word.editingFinished.connect(self._on_word)
        index_row = QHBoxLayout()
        index_row.addWidget(QLabel("row"))
        index_row.addWidget(self.spin, 1)
        index_row.addWidget(self.word, 2)
        self.right.addLayout(index_row)

    def index(self) -> int:
        return self.spin.value()

    def set_source(self, source: EmbeddingSource | None, keep: bool = False) -> None:
        self.source = source
        value = self.index() if keep else -1
        self.spin.blockSignals(True)
        self.spin.setRange(-1, len(source) - 1 if source is not None else 0)
        self.spin.setValue(value)
        self.spin.blockSignals(False)
        self.word.setVisible(bool(source is not None and source.words))
        self._show(value)

    def set_index(self, i: int) -> None:
        self.spin.setValue(int(i))  # emits changed through _on_spin when it differs

    def _on_spin(self, value: int) -> None:
        self._show(value)
        self.changed.emit(value)

    def _on_word(self) -> None:
        text = self.word.text().strip()
        if self.source is None or not text:
            return
        if self.source.words and text.lower() not in self.source.words:
            # not in this map: say so where the item would be shown, with the spellings it may have meant
            message = unknown_word_message(text, self.source.words)
            self.text.setText(message)
            theme.set_look(self.word, invalid=True)
            self.word_unknown.emit(message)
            return
        theme.set_look(self.word, invalid=False)
        try:
            self.set_index(self.source.find_word(text))
        except ValueError as exc:
            self.text.setText(str(exc))

    def _show(self, i: int) -> None:
        if self.source is None or i < 0:
            self.image.clear()
            self.text.setText("—")
            self.word.clear()
            return
        self.image.setPixmap(thumbnail(self.source.images[i], CARD_IMAGE))
        self.text.setText(self.source.describe(i))
        if self.source.words:
            self.word.setText(self.source.words[i])

    def set_next(self, on: bool) -> None:
        """Mark the slot the next pick from the map will fill."""
        theme.set_look(self, next=on)  # the style sheet draws a "next" slot's border in the accent colour


class ExpectedCard(_Card):
    """"= expected": the factor values a correct answer has, and an item that has them.

    Before a search it shows the first such item; after one, the best-ranked such item and its rank.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__("analogyExpected", "<b>=</b> · expected", parent)
        self._image: np.ndarray | None = None

    def apply_theme(self) -> None:
        """Redraw the thumbnail's frame in the current theme's "same" colour (pixmaps do not follow the palette)."""
        self.show_item(self._image, self.text.text())

    def show_item(self, image: np.ndarray | None, text: str) -> None:
        self._image = image
        if image is None:
            self.image.clear()
        else:
            self.image.setPixmap(thumbnail(image, CARD_IMAGE, theme.agreement()[0]))
        self.text.setText(text or "—")
