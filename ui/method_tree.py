"""The run panel's method list (grouped by family, long titles wrapped, broken plugins greyed) and its folding sections."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QToolButton, QTreeWidget, QTreeWidgetItem, \
    QVBoxLayout, QWidget

from workbench.spec import FAMILIES

FAMILY_TITLES = {"reconstruction": "Reconstruction", "pretext": "Pretext tasks",
                 "joint-embedding": "Joint embedding", "language": "Language",
                 "autoregressive": "Autoregressive", "masked-modelling": "Masked modelling",
                 "image-text": "Image and text"}


class Collapsible(QWidget):
    """A titled section that folds away (for advanced settings)."""

    def __init__(self, title: str, content: QWidget, expanded: bool = False):
        super().__init__()
        self.toggle = QToolButton(text=title, checkable=True, checked=expanded)
        self.toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.DownArrow if expanded else Qt.RightArrow)
        self.toggle.setAutoRaise(True)  # flat, and its text follows the theme's palette
        font = self.toggle.font()
        font.setBold(True)
        self.toggle.setFont(font)
        self.content = content
        content.setVisible(expanded)
        self.toggle.toggled.connect(self._flip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(content)

    def _flip(self, on: bool) -> None:
        self.toggle.setArrowType(Qt.DownArrow if on else Qt.RightArrow)
        self.content.setVisible(on)


class WrappingDelegate(QStyledItemDelegate):
    """Rows as tall as their title needs at the tree's width (Qt measures them unwrapped)."""

    def sizeHint(self, option, index) -> QSize:
        view = self.parent()
        depth, parent = 1, index.parent()
        while parent.isValid():
            depth, parent = depth + 1, parent.parent()
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        width = max(40, view.viewport().width() - view.indentation() * depth - 10)
        height = opt.fontMetrics.boundingRect(QRect(0, 0, width, 10_000), Qt.TextWordWrap, opt.text).height()
        return QSize(width, max(height, opt.fontMetrics.height()) + 4)


class MethodTree(QTreeWidget):
    """The method list: long titles wrap onto two lines (the full title, summary and reference are on hover too)."""

    def __init__(self):
        super().__init__()
        self.setWordWrap(True)
        self.setTextElideMode(Qt.ElideNone)
        self.setIndentation(14)
        self.setItemDelegate(WrappingDelegate(self))
        self.setHeaderHidden(True)
        self.setObjectName("methodPicker")
        self.setMinimumHeight(250)

    def fill(self, entries: dict) -> dict[str, QTreeWidgetItem]:
        """One group per family with its methods by title, then the plugins that failed to load
        (greyed, the error on hover); returns method name -> item."""
        items: dict[str, QTreeWidgetItem] = {}
        for family in FAMILIES:
            members = [e for e in entries.values() if e.ok and e.info.family == family]
            if not members:
                continue
            group = QTreeWidgetItem([FAMILY_TITLES.get(family, family)])
            group.setFlags(Qt.ItemIsEnabled)
            bold = QFont()
            bold.setBold(True)
            group.setFont(0, bold)
            self.addTopLevelItem(group)
            for entry in sorted(members, key=lambda e: e.info.title.lower()):
                item = QTreeWidgetItem([entry.info.title])
                item.setData(0, Qt.UserRole, entry.name)
                item.setToolTip(0, method_tooltip(entry.info))
                group.addChild(item)
                items[entry.name] = item
        broken = [e for e in entries.values() if not e.ok]
        if broken:
            group = QTreeWidgetItem(["Failed to load"])
            group.setFlags(Qt.ItemIsEnabled)
            self.addTopLevelItem(group)
            for entry in broken:
                item = QTreeWidgetItem([entry.name])
                item.setFlags(Qt.NoItemFlags)  # shown greyed, not selectable
                item.setToolTip(0, entry.error or "")
                group.addChild(item)
        self.expandAll()
        return items

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.scheduleDelayedItemsLayout()


def method_tooltip(cls) -> str:
    """Full title (the list may cut it short), one-line summary and reference."""
    return f"{cls.title}\n{cls.summary}\n{cls.reference}"
