"""The embedding explorer: a run's probe snapshots or checkpoints as a 2-D map with neighbours, selection, timeline,
live updates, how honest the map is (Health panel, false neighbours) and a side-by-side comparison of two embeddings.

view.py lays it out and wires it; sources.py fills the source menu; timeline.py plays snapshots into the
map; health.py measures the shown map and embeddings; items.py shows hovered, clicked and selected items.
The analysis itself is workbench.analysis.
"""
from ui.explorer.health import KNN_CORRECT
from ui.explorer.items import MAX_GALLERY, NEIGHBOURS
from ui.explorer.view import Explorer, _umap, source_title  # noqa: F401  (_umap: the shared UMAP warm-up state)

__all__ = ["Explorer", "source_title", "KNN_CORRECT", "NEIGHBOURS", "MAX_GALLERY"]
