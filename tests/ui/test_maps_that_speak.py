"""Maps that speak: word labels, search, hover tip, default colour-by, distinct classes, stale state after a
recompute or a typo, the analogy pick cue, and the million-point drawing path (density → points as you zoom)."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import ui.scatter as scatter_module
from ui import theme
from ui.analogy_panel import AnalogyPanel
from ui.scatter import ScatterView
from workbench.explore import EmbeddingSource
from workbench.wordtiles import WordTiles

WORDS = ["the", "of", "government", "people", "city", "king", "queen", "man", "woman", "river"]


def word_source(n: int = 400, seed: int = 0) -> EmbeddingSource:
    """n words, most frequent first (the word id is the frequency rank, as in a text dataset's test split)."""
    rng = np.random.default_rng(seed)
    words = WORDS + [f"word{i}" for i in range(len(WORDS), n)]
    groups = rng.integers(0, 5, n)
    emb = (rng.normal(0, 4, (5, 16))[groups] + rng.normal(0, 1, (n, 16))).astype(np.float32)
    return EmbeddingSource(Path("."), "words", 0, emb, np.full(n, -1), np.arange(n), WordTiles(words), words=words)


def factor_source(n: int = 600, seed: int = 0) -> EmbeddingSource:
    """Shapes-like items whose embeddings follow colour strongly and shape (the label) hardly at all."""
    rng = np.random.default_rng(seed)
    shape, colour = rng.integers(0, 3, n), rng.integers(0, 6, n)
    emb = np.hstack([np.eye(6)[colour] * 4, np.eye(3)[shape] * 0.2]) + rng.normal(0, 0.3, (n, 9))
    emb = emb.astype(np.float32)
    images = np.repeat((colour * 40).astype(np.uint8)[:, None, None, None], 8, 1).repeat(8, 2).repeat(3, 3)
    return EmbeddingSource(Path("."), "factors", 0, emb, shape, np.arange(n), images, ["circle", "square", "triangle"],
                           factors={"shape": shape, "colour": colour},
                           factor_values={"shape": ["circle", "square", "triangle"],
                                          "colour": ["red", "green", "blue", "yellow", "magenta", "cyan"]})


def show(qtbot, explorer, src):
    explorer.show_source(src)
    qtbot.waitUntil(lambda: not explorer.is_computing() and explorer.scatter.count() == len(src), timeout=20_000)


def view_centre(scatter) -> np.ndarray:
    (x0, x1), (y0, y1) = scatter.getPlotItem().getViewBox().viewRange()
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2])


def test_recomputing_a_map_clears_the_stale_selection_and_gallery(qtbot, explorer):
    show(qtbot, explorer, factor_source())
    xy = explorer.scatter.positions()
    from PySide6.QtCore import QRectF
    lo, hi = xy.min(0), xy.max(0)
    explorer.scatter.select_rect(QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]))
    assert len(explorer.scatter.selection()) and explorer.gallery.count() > 0
    explorer.compute()
    qtbot.waitUntil(lambda: not explorer.is_computing(), timeout=20_000)
    assert len(explorer.scatter.selection()) == 0
    assert explorer.gallery.count() == 0 and explorer.gallery.title.text() == ""


def test_colour_by_defaults_to_the_factor_the_map_groups_best(qtbot, explorer):
    show(qtbot, explorer, factor_source())
    qtbot.waitUntil(lambda: not explorer.is_picking_colour(), timeout=20_000)
    assert explorer.colour_combo.currentText() == "colour"
    assert [e.split(" (")[0] for e in explorer.scatter.legend_entries()][:2] == ["red", "green"]


def test_the_best_grouping_is_worked_out_off_the_gui_thread(qtbot, explorer, monkeypatch):
    """Scoring every colour-by on the map runs as the explorer's background task: while it works the GUI
    thread keeps drawing (the map is up, coloured as before), then the map is recoloured by the answer."""
    import threading

    import ui.explorer.reading as reading
    release, threads = threading.Event(), []

    def slow_best_grouping(xy, options, progress=None, cancel=None):
        threads.append(threading.current_thread())
        release.wait(10)
        return "colour"

    monkeypatch.setattr(reading, "best_grouping", slow_best_grouping)
    src = factor_source()
    explorer.show_source(src)
    qtbot.waitUntil(lambda: explorer.scatter.count() == len(src), timeout=20_000)  # drawn meanwhile
    assert explorer.is_picking_colour() and explorer.is_computing()
    assert threads and threads[0] is not threading.main_thread()
    assert explorer.colour_combo.currentText() != "colour"
    release.set()
    qtbot.waitUntil(lambda: not explorer.is_picking_colour(), timeout=10_000)
    assert explorer.colour_combo.currentText() == "colour"
    assert [e.split(" (")[0] for e in explorer.scatter.legend_entries()][:2] == ["red", "green"]


def test_a_colour_chosen_while_the_grouping_is_worked_out_wins(qtbot, explorer, monkeypatch):
    import threading

    import ui.explorer.reading as reading
    release = threading.Event()
    monkeypatch.setattr(reading, "best_grouping", lambda *a, **k: release.wait(10) and "colour")
    src = factor_source()
    explorer.show_source(src)
    qtbot.waitUntil(lambda: explorer.scatter.count() == len(src), timeout=20_000)
    explorer.colour_combo.setCurrentText("shape")
    explorer.colour_combo.activated.emit(explorer.colour_combo.currentIndex())  # as a click on the combo does
    release.set()
    qtbot.waitUntil(lambda: not explorer.is_picking_colour(), timeout=10_000)
    assert explorer.colour_combo.currentText() == "shape"


def test_word_map_labels_its_commonest_words_and_more_as_you_zoom(qtbot, explorer):
    src = word_source()
    show(qtbot, explorer, src)
    overlay = explorer.scatter.overlay
    labelled = overlay.labelled()
    assert 0 < len(labelled) <= 60
    assert overlay.label_texts()[0] == "the"  # the commonest word is labelled first
    assert set(overlay.label_texts()) <= set(src.words)
    rare = len(src) - 1
    assert rare not in labelled
    explorer.scatter.centre_on(rare, span_share=0.02)  # zoomed in, rarer words get their labels
    assert rare in overlay.labelled()
    assert not explorer.images_check.isVisible()  # words get labels, not tiles


def test_search_centres_and_highlights_an_item(qtbot, explorer):
    src = word_source()
    show(qtbot, explorer, src)
    i = explorer.find("Queen")
    assert i == WORDS.index("queen")
    np.testing.assert_allclose(view_centre(explorer.scatter), explorer.scatter.positions()[i], atol=1e-6)
    assert i in explorer.scatter.highlighted() and explorer.gallery.count() == 15
    assert explorer.find("goverment") == -1
    assert "unknown word: 'goverment'" in explorer.status.text() and "government" in explorer.status.text()


def test_search_by_dataset_index_and_thumbnails_when_zoomed_in(qtbot, explorer):
    src = factor_source()
    show(qtbot, explorer, src)
    assert explorer.find("#17") == 17
    np.testing.assert_allclose(view_centre(explorer.scatter), explorer.scatter.positions()[17], atol=1e-6)
    overlay = explorer.scatter.overlay
    assert len(overlay.thumbnailed()) == 0
    assert explorer.images_check.text() == "Thumbnails"  # signals get them too: no image wording
    explorer.images_check.setChecked(True)
    shown = overlay.thumbnailed()
    assert 0 < len(shown) <= 120 and 17 in shown


def test_hover_tip_sits_at_the_hovered_point(qtbot, explorer):
    src = factor_source()
    show(qtbot, explorer, src)
    explorer.scatter._set_hover(5)
    assert explorer.scatter.overlay.tip_text() == src.describe(5)
    tip = explorer.scatter.overlay._tip.pos()
    np.testing.assert_allclose([tip.x(), tip.y()], explorer.scatter.positions()[5])
    explorer.scatter._set_hover(-1)
    assert explorer.scatter.overlay.tip_text() == ""


def test_analogy_pick_shows_which_slot_a_click_fills(qtbot, explorer):
    panel = AnalogyPanel()
    qtbot.addWidget(panel)
    panel.pick_prompt.connect(explorer.set_pick_prompt)
    src = factor_source()
    show(qtbot, explorer, src)
    panel.set_source(src)
    panel.pick_button.setChecked(True)
    assert explorer.pick_cue.isVisible() and "fill A" in explorer.pick_cue.text()
    panel.pick(3)
    assert "fill B" in explorer.pick_cue.text()
    panel.pick_button.setChecked(False)
    assert not explorer.pick_cue.isVisible()


def test_unknown_word_in_an_analogy_marks_answers_stale_and_suggests_spellings(qtbot):
    panel = AnalogyPanel()
    qtbot.addWidget(panel)
    src = word_source()
    panel.set_source(src)
    panel.set_query(7, 8, 5)  # man − woman + king
    panel.find()
    assert len(panel.results_indices()) and not panel.is_stale()
    slot = panel.slots[0]
    slot.word.setText("goverment")
    slot.word.editingFinished.emit()
    assert "unknown word: 'goverment'" in panel.status.text() and "government" in panel.status.text()
    assert not panel.results.isEnabled() and panel.results.title.text().startswith("Stale")
    assert panel.is_stale()
    assert "government" in slot.text.text()
    panel.find()  # the old query again: fresh answers
    assert not panel.is_stale()


def _lab(hex_colour: str, matrix: np.ndarray) -> np.ndarray:
    """CIELAB of a colour as seen through a colour-vision matrix (Machado et al. 2009, severity 1) in linear RGB."""
    c = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lin = np.clip(matrix @ lin, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1, 1.08883]), 0.008856))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


VISION = {
    "normal": np.eye(3),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
}


@pytest.mark.parametrize("name", theme.THEME_NAMES)
@pytest.mark.parametrize("vision", list(VISION))
def test_palette_classes_stay_distinct_for_colour_blind_eyes(name, vision):
    """Every pair of the ten class colours ≥ 20 ΔE apart (Okabe–Ito's blue/sky blue: 26; its orange/yellow: 10
    for deuteranopes, 3 between vermillion and brown for protanopes)."""
    palette = theme.theme_data(name)["palettes"]["categorical"][:10]
    labs = [_lab(c, VISION[vision]) for c in palette]
    worst = min((float(np.linalg.norm(a - b)), i, j) for (i, a), (j, b) in itertools.combinations(enumerate(labs), 2))
    assert worst[0] >= 20, (vision, palette[worst[1]], palette[worst[2]], worst[0])


def test_million_point_path_draws_density_then_the_points_in_view(qtbot, monkeypatch):
    monkeypatch.setattr(scatter_module, "RESOLVE_POINTS", 2_000)
    view = ScatterView()
    qtbot.addWidget(view)
    view.density_threshold = 5_000  # the 1M path on 30k points
    view.resize(800, 600)
    view.show()
    rng = np.random.default_rng(0)
    cats = rng.integers(0, 10, 30_000)
    xy = rng.normal(0, 6, (10, 2))[cats] + rng.normal(0, 1, (30_000, 2))
    view.set_points(xy, cats, [f"c{i}" for i in range(10)])
    assert view.is_density() and view._density.isVisible() and len(view.resolved()) == 0
    view.centre_on(123, span_share=0.05)  # zoomed in: the points in view are drawn as dots
    rows = view.resolved()
    (x0, x1), (y0, y1) = view.getPlotItem().getViewBox().viewRange()
    inside = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
    assert 0 < len(rows) <= 2_000 and np.array_equal(np.sort(rows), inside) and not view._density.isVisible()
    # hit-testing stays exact on every point, drawn as a dot or not
    assert np.allclose(xy[view.index_at(*xy[123])], xy[123])
    far = int(np.argmax(np.linalg.norm(xy - xy[123], axis=1)))
    assert far not in rows and np.allclose(xy[view.index_at(*xy[far])], xy[far])
    view.getPlotItem().getViewBox().autoRange()
    view.refresh_view()
    assert view._density.isVisible() and len(view.resolved()) == 0
