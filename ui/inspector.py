"""The method's previews (views, rotations, reconstructions, …) as crisp tiles with captions, live."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QRect, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QFileDialog, QFrame, QGridLayout,
                               QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from workbench.events import read_events

from . import theme

EMPTY_TEXT = "Previews of what the method sees appear here once training starts."
MIN_TILE, MAX_TILE = 64, 192   # on-screen tile side in pixels
ENLARGED = 448                 # about how large the clicked tile is shown
SPACING = 6


def caption_tone(caption: str) -> str:
    """The caption's tone in the style sheet: "ok" for a caption starting with ✓, "bad" for ✗, "muted" otherwise."""
    text = caption.lstrip()
    if text.startswith("✓"):
        return "ok"
    if text.startswith("✗"):
        return "bad"
    return "muted"


def cut_tiles(image: QImage, ev: dict) -> list[QImage]:
    """Tiles of a preview grid: tile i sits at pad + (r, c)·(size + pad) with (r, c) = divmod(i, columns)."""
    tile = ev.get("tile")
    if not tile or image.isNull():
        return [] if image.isNull() else [image]  # a plain picture: one tile
    h, w = int(tile[0]), int(tile[1])
    columns = max(1, int(ev.get("columns") or 1))
    pad = int(ev.get("pad", 2))
    count = ev.get("count")
    if count is None:
        rows = max(0, (image.height() - pad) // (h + pad))
        count = len(ev.get("captions") or ()) or rows * columns
    tiles = []
    for i in range(int(count)):
        r, c = divmod(i, columns)
        x, y = pad + c * (w + pad), pad + r * (h + pad)
        if x + w > image.width() or y + h > image.height():
            break  # geometry promises more than the file holds: show what is there
        tiles.append(image.copy(x, y, w, h))
    return tiles


def tile_side(available: int, columns: int, native: int) -> int:
    """On-screen tile side: fill the width, at least MIN_TILE, whole multiples of the native size stay crisp."""
    side = (available - (columns - 1) * SPACING) // max(1, columns)
    side = max(MIN_TILE, min(MAX_TILE, side))
    if native > 0 and side >= native:
        side = max(side // native * native, min(MIN_TILE, side))
    return side


class TileView(QWidget):
    """One tile, painted scaled with nearest neighbour so pixels stay sharp; click to enlarge."""

    clicked = Signal(int)

    def __init__(self, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = index
        self.image = QImage()
        self.setCursor(Qt.PointingHandCursor)
        self.setAttribute(Qt.WA_OpaquePaintEvent, False)

    def set_image(self, image: QImage) -> None:
        self.image = image
        self.update()

    def paintEvent(self, event) -> None:
        if self.image.isNull():
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.SmoothPixmapTransform, False)
        iw, ih = self.image.width(), self.image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = int(iw * scale), int(ih * scale)
        painter.drawImage(QRect((self.width() - w) // 2, (self.height() - h) // 2, w, h), self.image)
        painter.end()

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit(self.index)
        super().mouseReleaseEvent(event)


class TileDialog(QDialog):
    """A tile shown large with its caption."""

    def __init__(self, image: QImage, caption: str, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WA_DeleteOnClose)
        scale = max(1, ENLARGED // max(1, image.width(), image.height()))
        self.picture = QLabel(alignment=Qt.AlignCenter)
        self.picture.setPixmap(QPixmap.fromImage(image).scaled(image.width() * scale, image.height() * scale,
                                                               Qt.KeepAspectRatio, Qt.FastTransformation))
        self.caption = QLabel(caption, alignment=Qt.AlignCenter, wordWrap=True)
        font = self.caption.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.caption.setFont(font)
        theme.set_look(self.caption, tone=caption_tone(caption))
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture)
        layout.addWidget(self.caption)
        layout.addWidget(buttons)


class PreviewCard(QFrame):
    """One preview name: title, step, its tiles `columns` across with captions, and a save button."""

    tile_clicked = Signal(int)

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.name = name
        self.preview: dict = {}
        self.source: Path | None = None   # the PNG shown; a new event with the same file is not reloaded
        self.image = QImage()
        self.tiles: list[QImage] = []
        self.captions: list[str] = []
        self._views: list[TileView] = []
        self._labels: list[QLabel] = []
        self._side = MIN_TILE
        self.setObjectName("previewCard")
        # long titles (a preview that says what each of its columns shows) wrap instead of
        # widening the card past the window
        self.title_label = QLabel(wordWrap=True)
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.step_label = QLabel()
        self.save_button = QPushButton(theme.icon("save"), "Save PNG…")
        self.save_button.setToolTip("Save the whole preview grid as a PNG image")
        self.save_button.clicked.connect(self._save_dialog)
        self.message = QLabel(wordWrap=True)
        self.message.hide()
        header = QHBoxLayout()
        header.addWidget(self.title_label, 1)
        header.addWidget(self.step_label)
        header.addWidget(self.save_button)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(SPACING)
        self.grid.setVerticalSpacing(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.addLayout(header)
        layout.addWidget(self.message)
        tiles_row = QHBoxLayout()  # tiles keep their size, packed to the left
        tiles_row.addLayout(self.grid)
        tiles_row.addStretch(1)
        layout.addLayout(tiles_row)
        self.apply_theme()

    @property
    def columns(self) -> int:
        return max(1, int(self.preview.get("columns") or 1)) if self.preview.get("tile") else 1

    def show_preview(self, ev: dict, path: Path) -> bool:
        """Show the preview in `ev` (its PNG at `path`); False when that file is already shown."""
        path = Path(path)
        self.preview = ev
        self.title_label.setText(ev.get("title") or self.name)
        self.step_label.setText(f"step {ev.get('step', 0)}")
        if path == self.source:
            return False
        self.source = path
        self.image = QImage(str(path))
        self.tiles = cut_tiles(self.image, ev)
        self.captions = [str(c) for c in (ev.get("captions") or ())]
        if self.image.isNull():
            self.message.setText(f"Could not read {ev.get('path', path)}.")
        self.message.setVisible(self.image.isNull())
        self._fill()
        return True

    def _fill(self) -> None:
        """Reuse tile widgets when the layout is unchanged: a live preview updates every few seconds."""
        n, columns = len(self.tiles), self.columns
        shape_changed = n != len(self._views) or any(
            self.grid.getItemPosition(self.grid.indexOf(v))[1] != i % columns for i, v in enumerate(self._views))
        if shape_changed:
            for w in self._views + self._labels:
                self.grid.removeWidget(w)
                w.deleteLater()
            self._views, self._labels = [], []
            small = self.font()
            small.setPointSizeF(small.pointSizeF() * 0.85)
            for i in range(n):
                r, c = divmod(i, columns)
                view = TileView(i)
                view.clicked.connect(self.tile_clicked)
                label = QLabel(alignment=Qt.AlignHCenter | Qt.AlignTop, wordWrap=True)
                label.setFont(small)
                self.grid.addWidget(view, 2 * r, c)
                self.grid.addWidget(label, 2 * r + 1, c)
                self._views.append(view)
                self._labels.append(label)
        for i, (view, label) in enumerate(zip(self._views, self._labels)):
            caption = self.captions[i] if i < len(self.captions) else ""
            view.set_image(self.tiles[i])
            view.setToolTip(caption)
            label.setText(caption)
            label.setVisible(bool(caption))
            theme.set_look(label, tone=caption_tone(caption))
        self._apply_side()

    def fit_width(self, available: int) -> None:
        native = self.tiles[0].width() if self.tiles else 0
        if self.tiles and not self.preview.get("tile"):
            # A single whole picture: as wide as the card allows, in whole multiples of its width.
            side = max(native, min(available, 4 * MAX_TILE) // native * native)
        else:
            side = tile_side(available, self.columns, native)
        if side != self._side:
            self._side = side
            self._apply_side()

    def _apply_side(self) -> None:
        for view in self._views:
            img = view.image
            if not img.isNull() and img.width() != img.height():
                view.setFixedSize(self._side, max(1, self._side * img.height() // img.width()))
            else:
                view.setFixedSize(self._side, self._side)
        for label in self._labels:
            label.setFixedWidth(self._side)

    def save_png(self, path: Path | str) -> Path:
        """Save the whole preview grid as it came from the worker (same pixels, same size)."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        if self.image.isNull() or not self.image.save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path

    def _save_dialog(self) -> None:
        default = f"{self.name}-step{self.preview.get('step', 0)}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Save preview", default, "PNG image (*.png)")
        if not path:
            return
        try:
            self.save_png(path)
        except OSError as exc:
            self.message.setText(str(exc))
            self.message.show()

    def apply_theme(self) -> None:
        """Looks by property; resources/style.qss colours them (the card itself: #previewCard)."""
        theme.set_look(self.step_label, tone="muted")
        theme.set_look(self.message, tone="error")


class Inspector(QWidget):
    """A card per preview name, refreshed as preview events arrive; knows nothing about methods."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.cards: dict[str, PreviewCard] = {}
        self.dialog: TileDialog | None = None
        self.empty_label = QLabel(EMPTY_TEXT, alignment=Qt.AlignCenter, wordWrap=True)
        self.body = QWidget()
        self.cards_layout = QVBoxLayout(self.body)
        self.cards_layout.setContentsMargins(8, 8, 8, 8)
        self.cards_layout.setSpacing(10)
        self.cards_layout.addWidget(self.empty_label)
        self.cards_layout.addStretch(1)
        self.scroll = QScrollArea(widgetResizable=True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        self.scroll.setWidget(self.body)
        self.scroll.viewport().installEventFilter(self)  # tiles follow the visible width
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)
        self.apply_theme()

    def clear(self) -> None:
        for card in self.cards.values():
            self.cards_layout.removeWidget(card)
            card.hide()  # gone from view now; Qt frees it on the next event-loop turn
            card.deleteLater()
        self.cards.clear()
        self.empty_label.show()

    def add_event(self, ev: dict, run_dir: Path | str) -> None:
        """Show a preview event (others are ignored); a card whose file is unchanged is not reloaded."""
        if ev.get("type") != "preview" or not ev.get("path"):
            return
        self.run_dir = Path(run_dir)
        name = str(ev.get("name") or "preview")
        card = self.cards.get(name)
        if card is None:
            card = PreviewCard(name)
            card.tile_clicked.connect(lambda i, card=card: self.open_tile(card, i))
            self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)  # before the stretch
            self.cards[name] = card
            self.empty_label.hide()
        if card.show_preview(ev, self.run_dir / ev["path"]):
            card.fit_width(self._available_width())

    def load_run(self, run_dir: Path | str) -> None:
        """The latest preview of each name in the run's events.jsonl."""
        run_dir = Path(run_dir)
        self.clear()
        self.run_dir = run_dir
        latest: dict[str, dict] = {}
        for ev in read_events(run_dir):
            if ev["type"] == "preview" and ev.get("path"):
                latest[str(ev.get("name") or "preview")] = ev  # dict keeps first-seen order of names
        for ev in latest.values():
            self.add_event(ev, run_dir)

    def open_tile(self, card: PreviewCard, index: int) -> TileDialog | None:
        if not 0 <= index < len(card.tiles):
            return None
        caption = card.captions[index] if index < len(card.captions) else ""
        title = f"{card.title_label.text()} · step {card.preview.get('step', 0)} · tile {index + 1}"
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = TileDialog(card.tiles[index], caption, title, self)
        self.dialog.destroyed.connect(self._dialog_gone)
        self.dialog.show()
        return self.dialog

    def _dialog_gone(self) -> None:
        self.dialog = None

    def apply_theme(self) -> None:
        theme.set_look(self.empty_label, empty=True)
        for card in self.cards.values():
            card.apply_theme()

    def _available_width(self) -> int:
        margins = self.cards_layout.contentsMargins()
        # Card frame and its inner margins: 10 px either side plus the 1 px border.
        return self.scroll.viewport().width() - margins.left() - margins.right() - 22

    def eventFilter(self, watched, event) -> bool:
        if watched is self.scroll.viewport() and event.type() == QEvent.Resize:
            width = self._available_width()
            for card in self.cards.values():
                card.fit_width(width)
        return super().eventFilter(watched, event)


if __name__ == "__main__":
    import sys

    app = QApplication(sys.argv)
    theme.apply_theme(app, "dark" if "--dark" in sys.argv else "light")
    inspector = Inspector()
    runs = [a for a in sys.argv[1:] if not a.startswith("--")]
    if runs:
        inspector.load_run(runs[0])
    inspector.resize(1100, 800)
    inspector.show()
    sys.exit(app.exec())
