"""120k points, none sampled away: the scatter and the explorer's PCA path draw, hover, click and select them all."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRectF, Qt

from ui import theme
from ui.explorer import Explorer
from ui.scatter import ANIMATION_MAX_POINTS, DENSITY_THRESHOLD, ScatterView
from workbench.embeddings import ReferenceMap
from workbench.explore import EmbeddingSource

pytestmark = pytest.mark.slow  # scale checks on large maps

N, DIM, CLASSES = 120_000, 32, 10


@pytest.fixture(scope="module")
def embedded():
    """Clustered (N, DIM) embeddings with labels, like a trained model's test split at scale."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, N)
    emb = (rng.normal(0, 4, (CLASSES, DIM))[labels] + rng.normal(0, 1, (N, DIM))).astype(np.float32)
    return emb, labels


@pytest.fixture
def view(qtbot):
    v = ScatterView()
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    return v


def test_scatter_takes_a_120k_pca_map_and_answers_hover_and_selection(qtbot, view, embedded):
    emb, labels = embedded
    xy = ReferenceMap("pca").fit(emb)
    assert xy.shape == (N, 2) and np.isfinite(xy).all()
    assert N < DENSITY_THRESHOLD  # drawn as points, one by one, not as a density image
    view.set_points(xy, labels, [f"class {i}" for i in range(CLASSES)],
                    [theme.series_color(i) for i in range(CLASSES)])
    assert view.count() == N and not view.is_density()
    counts = [int(e.rsplit("(", 1)[1].rstrip(")").replace(",", "")) for e in view.legend_entries()]
    assert sum(counts) == N and len(counts) == CLASSES

    # a real repaint of every point: the grabbed frame is not just background
    frame = view.grab().toImage()
    bg = frame.pixelColor(2, 2)
    assert any(frame.pixelColor(x, y) != bg for x in range(0, frame.width(), 7) for y in range(0, frame.height(), 7))

    # hover: moving the pointer onto a point's pixel reports a point under that pixel
    target = int(np.argmax(xy[:, 0]))  # an outermost point, so few others share its pixel
    with qtbot.waitSignal(view.hovered, timeout=5000, check_params_cb=lambda i: i >= 0) as hovered:
        qtbot.mouseMove(view.viewport(), view.pixel_of(target))
    i = hovered.args[0]
    assert (view.pixel_of(i) - view.pixel_of(target)).manhattanLength() <= 2 * 6

    # selection: exactly the points inside the rectangle, the same as a brute-force test
    lo, hi = np.percentile(xy, 40, axis=0), np.percentile(xy, 60, axis=0)
    with qtbot.waitSignal(view.selected, timeout=5000) as sel:
        chosen = view.select_rect(QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]))
    inside = np.flatnonzero(((xy >= lo) & (xy <= hi)).all(axis=1))
    np.testing.assert_array_equal(chosen, inside)
    np.testing.assert_array_equal(sel.args[0], inside)
    assert len(inside) > 100

    # a new layout of the same 120k points moves them without an animation (too many to tween)
    assert N > ANIMATION_MAX_POINTS
    view.update_positions(xy * 2)
    np.testing.assert_array_equal(view.positions(), xy * 2)


@pytest.fixture
def explorer(qtbot, add_widget, monkeypatch):
    monkeypatch.setattr(Explorer, "warm_up_on_show", False)  # no numba compile in tests
    # the Health measurements of 120k points are not what these tests are about: cancel them
    w = add_widget(Explorer(), before_close=lambda: w.cancel_background(), idle=lambda: not w.is_busy())
    w.resize(1100, 700)
    w.show()
    return w


def test_explorer_maps_all_120k_points_with_pca_and_finds_neighbours(qtbot, explorer, embedded):
    emb, labels = embedded
    images = np.repeat((labels * 25).astype(np.uint8)[:, None, None, None], 4, 1).repeat(4, 2).repeat(3, 3)
    source = EmbeddingSource(Path("."), f"synthetic {N}", 0, emb, labels, np.arange(N), images,
                             [f"class {i}" for i in range(CLASSES)])
    explorer.show_source(source, "pca")
    qtbot.waitUntil(lambda: not explorer.is_computing() and explorer.scatter.count() > 0, timeout=60_000)
    view = explorer.scatter
    assert view.count() == N  # no sampling on the way from embeddings to map
    np.testing.assert_allclose(view.positions(), ReferenceMap("pca").fit(emb), atol=1e-4)

    # click a point: its 15 cosine neighbours among all 120k come up in the gallery
    target = int(np.argmin(view.positions()[:, 1]))
    with qtbot.waitSignal(explorer.point_clicked, timeout=10_000) as clicked:
        qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view.pixel_of(target))
    assert clicked.args[0] >= 0
    assert explorer.gallery.count() == 15 and len(view.highlighted()) == 16

    # drag a rectangle in select mode: the gallery names how many of the 120k were caught
    xy = view.positions()
    lo, hi = np.percentile(xy, 45, axis=0), np.percentile(xy, 55, axis=0)
    near = lambda p: int(np.argmin(np.abs(xy - p).sum(1)))  # noqa: E731
    p0, p1 = view.pixel_of(near(lo)), view.pixel_of(near(hi))
    view.set_select_mode(True)
    with qtbot.waitSignal(view.selected, timeout=10_000) as sel:
        qtbot.mousePress(view.viewport(), Qt.LeftButton, pos=p0)
        for t in np.linspace(0, 1, 5)[1:]:
            qtbot.mouseMove(view.viewport(), QPoint(int(p0.x() + t * (p1.x() - p0.x())),
                                                    int(p0.y() + t * (p1.y() - p0.y()))))
        qtbot.mouseRelease(view.viewport(), Qt.LeftButton, pos=p1)
    caught = len(sel.args[0])
    assert caught > 0
    assert explorer.gallery.title.text().startswith(f"{caught:,} selected")
