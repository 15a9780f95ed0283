"""Tabs whose pages scroll when the window is narrower than a page needs, so no page sets the window's size."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QScrollArea, QTabWidget, QWidget


def scrolling(page: QWidget) -> QScrollArea:
    """page in a frameless scroll area that lets it fill the space, or scroll when the space is smaller than it needs."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    return area


class PageTabs(QTabWidget):
    """A QTabWidget that holds each page in a scroll area.

    A tab widget is as wide as its widest page, hidden pages included, and a page that grows (a
    long line of text after a computation) widened the whole window. Here a page that needs more
    room than the window gives scrolls instead. Callers still pass and get the pages themselves:
    addTab, indexOf, setCurrentWidget, currentWidget and widget look through the scroll area.
    """

    page_requested = Signal()  # a page was asked for by code (a menu, a button): show the tabs

    def addTab(self, page: QWidget, label: str) -> int:
        return super().addTab(scrolling(page), label)

    def put(self, index: int, page: QWidget) -> None:
        """Put `page` in tab `index` in place of what it held (a page built after the window was shown)."""
        super().widget(index).setWidget(page)  # the scroll area deletes the page it held

    def widget(self, index: int) -> QWidget | None:
        area = super().widget(index)
        return area.widget() if isinstance(area, QScrollArea) else area

    def indexOf(self, page: QWidget) -> int:
        for i in range(self.count()):
            if self.widget(i) is page:
                return i
        return super().indexOf(page)

    def currentWidget(self) -> QWidget | None:
        return self.widget(self.currentIndex())

    def setCurrentWidget(self, page: QWidget) -> None:
        index = self.indexOf(page)
        if index >= 0:
            self.setCurrentIndex(index)

    def setCurrentIndex(self, index: int) -> None:
        super().setCurrentIndex(index)
        self.page_requested.emit()
