"""Caption search tab: type a caption to see the best-matching test images, pick an image to see its best captions."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QSplitter, QVBoxLayout, QWidget)

from ui.gallery import thumbnail
from ui.tasks import TaskSlot

THUMB = 72
RESULTS = 24
EMPTY_TEXT = "Open a CLIP run (image–text) to search its test images by caption."
EXAMPLE = "a small red triangle at the top left"


class CaptionSearch(QWidget):
    """Text → images and image → captions over a run's test set; all scoring runs off the GUI thread."""

    searched = Signal(str)  # the caption whose results are shown (tests wait on it)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.index = None  # workbench.caption_search.CaptionIndex once loaded
        self.loader = TaskSlot(self, "caption index")
        self.query = TaskSlot(self, "caption query")
        self.status = QLabel(EMPTY_TEXT, wordWrap=True)
        self.caption_edit = QLineEdit(placeholderText=EXAMPLE)
        self.caption_edit.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        self.images = QListWidget()
        self.images.setViewMode(QListWidget.IconMode)
        self.images.setIconSize(QSize(THUMB, THUMB))
        self.images.setResizeMode(QListWidget.Adjust)
        self.images.setMovement(QListWidget.Static)
        self.images.setSpacing(4)
        self.images.currentItemChanged.connect(self._image_picked)
        self.captions = QListWidget()
        self.picked = QLabel("Pick an image to see the captions closest to it.", wordWrap=True)

        row = QHBoxLayout()
        row.addWidget(QLabel("Caption:"))
        row.addWidget(self.caption_edit, 1)
        row.addWidget(self.search_button)
        right = QWidget()
        side = QVBoxLayout(right)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.picked)
        side.addWidget(self.captions, 1)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.images)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self._enable(False)

    def _enable(self, ready: bool) -> None:
        for w in (self.caption_edit, self.search_button):
            w.setEnabled(ready)

    def set_run(self, run_dir: Path | str | None) -> None:
        """Follow a run: image–text runs get their index built in the background; others say why not."""
        self.loader.forget()
        self.query.forget()
        self.run_dir = Path(run_dir) if run_dir else None
        self.index = None
        self.images.clear()
        self.captions.clear()
        self._enable(False)
        if self.run_dir is None:
            self.status.setText(EMPTY_TEXT)
            return
        self.status.setText(f"{self.run_dir.name}: its images and captions are embedded when this tab is shown.")
        if self.isVisible():
            self.load()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.run_dir is not None and self.index is None and self.loader.current is None:
            self.load()  # lazily: opening a run costs nothing until someone searches it

    def load(self) -> None:
        """Build the run's caption index in the background (model, test images, every caption)."""
        run_dir = self.run_dir
        self.status.setText(f"Embedding the test images and captions of {run_dir.name}…")

        def work(progress, cancel):
            from workbench.caption_search import open_index
            return open_index(run_dir, progress=progress, cancel=cancel)

        self.loader.start(work, done=self._loaded, failed=self._load_failed)

    def _loaded(self, index) -> None:
        self.index = index
        self._enable(True)
        self.status.setText(f"{len(index.image_codes)} test images and {len(index.captions)} captions of "
                            f"{index.run_dir.name}. Type a caption, e.g. “{EXAMPLE}”.")
        if not self.caption_edit.text():
            self.caption_edit.setText(EXAMPLE)

    def _load_failed(self, message: str) -> None:
        self.status.setText(message if "no text encoder" in message else f"Cannot search this run: {message}")

    def search(self) -> None:
        """The best-matching test images for the typed caption (scored off the GUI thread)."""
        if self.index is None:
            return
        text = self.caption_edit.text().strip() or EXAMPLE
        index = self.index
        unknown = index.unknown_words(text)
        note = f" Unknown words (read as <unk>): {', '.join(unknown)}." if unknown else ""
        self.status.setText(f"Searching for “{text}”…{note}")
        self.query.start(lambda progress, cancel: index.images_for(text, RESULTS),
                         done=lambda matches: self._show_images(text, matches, note),
                         failed=lambda message: self.status.setText(message))

    def _show_images(self, text: str, matches, note: str) -> None:
        self.images.clear()
        for m in matches:
            item = QListWidgetItem(QIcon(thumbnail(self.index.images[m.row], THUMB)), f"{m.score:.2f}")
            item.setData(Qt.UserRole, m.row)
            item.setToolTip(f"test image {m.row} · cos {m.score:.3f}\n{self.index.true_caption(m.row)}")
            self.images.addItem(item)
        self.status.setText(f"The {len(matches)} test images closest to “{text}” (cosine similarity "
                            f"under each); pick one to see its best captions.{note}")
        self.searched.emit(text)

    def _image_picked(self, item: QListWidgetItem | None, _previous=None) -> None:
        if item is None or self.index is None:
            return
        row = int(item.data(Qt.UserRole))
        self.show_captions(row)

    def show_captions(self, row: int) -> None:
        """The captions closest to test image `row`; ✓ marks its own (true) caption."""
        index = self.index
        self.picked.setText(f"Test image {row} — its caption: {index.true_caption(row)}")
        self.query.start(lambda progress, cancel: index.captions_for(row), done=self._show_captions,
                         failed=lambda message: self.status.setText(message))

    def _show_captions(self, matches) -> None:
        self.captions.clear()
        for m in matches:
            mark = "✓ " if m.true else "✗ " if m.true is False else ""
            self.captions.addItem(f"{mark}{m.score:.3f}  {m.text}")
