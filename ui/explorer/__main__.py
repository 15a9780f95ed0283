"""`python -m ui.explorer [RUN_DIR]`: the explorer on its own, on a run or on 100k synthetic points."""
import sys
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QApplication

from ui.explorer import Explorer

app = QApplication(sys.argv)
explorer = Explorer()
if len(sys.argv) > 1:
    explorer.set_run(Path(sys.argv[1]))
else:  # no run: a synthetic 100k-point source, to feel how the map copes with size
    from workbench.explore import EmbeddingSource as _Source
    rng = np.random.default_rng(0)
    n, k = 100_000, 10
    labels = rng.integers(0, k, n)
    emb = (rng.normal(0, 3, (k, 64))[labels] + rng.normal(0, 1, (n, 64))).astype(np.float32)
    imgs = np.repeat((labels * 25).astype(np.uint8)[:, None, None, None], 8, 1).repeat(8, 2).repeat(3, 3)
    explorer.show_source(_Source(Path("."), "synthetic 100k", 0, emb, labels, np.arange(n), imgs,
                                 [f"class {i}" for i in range(k)]))
explorer.resize(1200, 800)
explorer.show()
sys.exit(app.exec())
