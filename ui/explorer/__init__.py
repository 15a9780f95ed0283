"""The embedding explorer: a run's probe snapshots or checkpoints as a 2-D map with neighbours, selection, timeline,
live updates, how honest the map is (Health panel, false neighbours) and a side-by-side comparison of two embeddings.

view.py lays it out and wires it; sources.py fills the source menu; timeline.py plays snapshots into the map;
health.py measures the shown map and embeddings. The analysis itself is workbench.analysis.
"""
from ui.explorer.view import (DIFFERENT, KNN_CORRECT, MAX_GALLERY, NEIGHBOURS, SAME, Explorer, _umap,
                              _warm_up_umap_once, source_title)

__all__ = ["Explorer", "source_title", "SAME", "DIFFERENT", "KNN_CORRECT", "NEIGHBOURS", "MAX_GALLERY"]
