"""numpy uint8 images to Qt images and pixmaps (no copies kept alive by accident)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def to_qimage(arr: np.ndarray) -> QImage:
    """H×W×3 (RGB) or H×W (grey) uint8 array to a QImage that owns its pixels."""
    a = np.ascontiguousarray(arr)
    if a.ndim == 2:
        a = np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2))
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"expected H×W×3 or H×W uint8, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.ascontiguousarray(np.repeat(a, 3, axis=2))
    h, w, _ = a.shape
    return QImage(a.data, w, h, 3 * w, QImage.Format_RGB888).copy()


def to_pixmap(arr: np.ndarray, size: int | None = None, smooth: bool = False) -> QPixmap:
    """A pixmap, scaled so its longer side is `size` pixels (nearest neighbour keeps digits crisp)."""
    pix = QPixmap.fromImage(to_qimage(arr))
    if size:
        mode = Qt.SmoothTransformation if smooth else Qt.FastTransformation
        pix = pix.scaled(size, size, Qt.KeepAspectRatio, mode)
    return pix
