"""The explorer's item views: hover shows an item, click lists its nearest neighbours, a rectangle lists a selection."""
from __future__ import annotations

import numpy as np

from ui import theme
from ui.gallery import thumbnail
from workbench.embeddings import nearest_neighbours

NEIGHBOURS = 15
MAX_GALLERY = 200  # thumbnails shown for a rectangle selection


class ItemsMixin:
    """Hover, click, neighbours and selection in the side gallery (part of Explorer: uses `_source`, `scatter`,
    `gallery`, `item_image` and `item_text`)."""

    def _show_item(self, i: int) -> None:
        src = self._source
        if src is None or not 0 <= i < len(src):
            return
        self.item_image.setPixmap(thumbnail(src.images[i], 160))
        lines = [f"<b>{src.describe(i)}</b>"]
        if src.factors:
            lines.append(" · ".join(f"{k}: {src.factor_values[k][int(v[i])]}" for k, v in src.factors.items()))
        elif src.labels[i] >= 0:
            name = src.class_names[int(src.labels[i])] if src.class_names else str(int(src.labels[i]))
            lines.append(f"label: {name}")
        self.item_text.setText("<br>".join(lines))

    def _on_hover(self, i: int) -> None:
        if i >= 0:
            self._show_item(i)
        elif self._clicked >= 0:
            self._show_item(self._clicked)  # back to the item whose neighbours are shown

    def _on_click(self, i: int) -> None:
        if self._source is None:
            return
        self._clicked = i
        self._show_item(i)
        self._show_neighbours(i)
        self.point_clicked.emit(i)

    def _show_neighbours(self, i: int) -> None:
        src = self._source
        idx, scores = nearest_neighbours(src.embeddings, int(i), k=NEIGHBOURS, metric="cosine")
        labelled = src.labels[i] >= 0
        items = []
        same, different = theme.agreement()
        for j, s in zip(idx, scores):
            frame = (same if src.labels[j] == src.labels[i] else different) if labelled else None
            items.append((src.images[j], f"cos {s:.2f}", src.describe(int(j)), frame))
        self._gallery_indices = [int(j) for j in idx]
        self.gallery.set_title(f"{len(idx)} nearest neighbours of {src.describe(i)} (cosine, "
                               f"{src.embeddings.shape[1]}-d)")
        self.gallery.set_items(items)
        self._highlight_neighbours()

    def _highlight_neighbours(self) -> None:
        i = self._clicked
        if i < 0 or not self._gallery_indices:
            return
        c = theme.colors()
        self.scatter.set_highlight([i, *self._gallery_indices], [c["text"]] + [c["accent"]] * len(self._gallery_indices))

    def _on_selected(self, indices: np.ndarray) -> None:
        src = self._source
        if src is None:
            return
        self._clicked = -1
        shown = [int(j) for j in indices[:MAX_GALLERY]]
        self._gallery_indices = shown
        self.scatter.set_highlight([])
        title = f"{len(indices):,} selected"
        if len(indices) > len(shown):
            title += f" (showing the first {len(shown)})"
        self.gallery.set_title(title)
        self.gallery.set_empty_text("No points inside the rectangle.")
        self.gallery.set_items([(src.images[j], src.describe(j).split(" · ")[0], src.describe(j), None) for j in shown])

    def _on_gallery_clicked(self, row: int) -> None:
        if 0 <= row < len(self._gallery_indices):
            self._on_click(self._gallery_indices[row])  # walk from neighbour to neighbour
