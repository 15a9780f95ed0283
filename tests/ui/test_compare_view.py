"""The comparison view on a real tiny run: two snapshots, two checkpoints, two runs; linked hover and selection."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt

from ui.compare_view import CompareView
from ui.explorer import Explorer
from ui.map_colours import CHANGE_NAMES
from workbench.config import new_run_config
from workbench.explore import embed_checkpoint, list_snapshots, load_snapshot
from workbench.neighbourhoods import neighbour_change
from workbench.runs import EMBEDDINGS, create_run_dir


@pytest.fixture
def view(qtbot, add_widget):
    w = add_widget(CompareView(), idle=lambda: not w.is_computing())
    w.resize(1300, 700)
    w.show()
    return w


def compare(qtbot, view, a=None, b=None):
    view.choose(a, b)
    with qtbot.waitSignal(view.compared, timeout=60_000) as done:
        qtbot.mouseClick(view.compare_button, Qt.LeftButton)
    assert not view.is_computing()
    return done.args[0]


def test_two_snapshots_are_coloured_by_neighbour_change(qtbot, view, real_run):
    view.set_run(real_run)
    steps = [s for s, _ in list_snapshots(real_run)]
    # defaults: the first trained snapshot against the newest
    assert view.combo_a.currentText() == f"snapshot step {steps[1]}"
    assert view.combo_b.currentText() == f"snapshot step {steps[-1]}"
    result = compare(qtbot, view, f"snapshot step {steps[0]}", f"snapshot step {steps[-1]}")
    a, b = (load_snapshot(real_run, p) for _, p in (list_snapshots(real_run)[0], list_snapshots(real_run)[-1]))
    change, mean = neighbour_change(a.embeddings, b.embeddings, k=10)
    np.testing.assert_allclose(result.change, change)
    assert result.mean_change == pytest.approx(mean) and 0 < mean < 1
    assert f"Neighbour change A → B: mean {mean:.3f}" in view.summary.text()
    assert "(k = 10, cosine, 200 shared items" in view.summary.text()
    for scatter in (view.scatter_a, view.scatter_b):
        assert scatter.count() == 200
        entries = scatter.legend_entries()
        assert [e.rsplit(" (", 1)[0] for e in entries] == [n for n in CHANGE_NAMES
                                                       if any(e.startswith(n + " (") for e in entries)]
        assert sum(int(e.rsplit("(", 1)[1].rstrip(")")) for e in entries) == 200
    assert view.title_a.text() == f"A: snapshot step {steps[0]} · PCA"
    # recolour both maps by label; the maps stay where they are
    before = view.scatter_a.positions().copy()
    view.colour_combo.setCurrentText("label")
    assert [e.split(" (")[0] for e in view.scatter_b.legend_entries()] == [str(d) for d in range(10)]
    np.testing.assert_array_equal(view.scatter_a.positions(), before)


def test_hover_and_selection_are_linked_between_the_maps(qtbot, view, real_run):
    view.set_run(real_run)
    result = compare(qtbot, view)
    a, b = view.scatter_a, view.scatter_b
    qtbot.wait(300)  # the freshly shown maps settle their aspect-locked ranges first
    target = int(np.argmax(a.positions()[:, 0]))  # an outermost point: nothing else under the pointer
    with qtbot.waitSignal(a.hovered, timeout=5000, check_params_cb=lambda i: i >= 0) as hovered:
        qtbot.mouseMove(a.viewport(), a.pixel_of(target))
    i = hovered.args[0]
    assert list(b.highlighted()) == [i]  # the same item, found in the other map
    assert view.item_text.text().startswith(f"<b>{result.a.describe(i)}</b>: keeps {result.kept(i)} of its 10")
    # a click pins the item in both maps
    qtbot.mouseClick(b.viewport(), Qt.LeftButton, pos=b.pixel_of(i))
    assert list(a.highlighted()) == list(b.highlighted()) and len(a.highlighted()) == 1
    # a rectangle in B selects the same items in A
    xy = b.positions()
    lo, hi = np.percentile(xy, 25, axis=0), np.percentile(xy, 75, axis=0)
    chosen = b.select_rect(QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]))
    assert len(chosen) > 0
    np.testing.assert_array_equal(a.selection(), chosen)
    assert f"{len(chosen)} selected</b>: mean neighbour change {result.change[chosen].mean():.3f}" in \
        view.item_text.text()


def test_two_checkpoints_of_one_run(qtbot, view, real_run):
    view.set_run(real_run)
    result = compare(qtbot, view, "checkpoint: best", "checkpoint: last")
    best, last = embed_checkpoint(real_run, "best"), embed_checkpoint(real_run, "last")
    assert len(result.change) == len(best) == 359  # the whole digits test split
    change, mean = neighbour_change(best.embeddings, last.embeddings, k=10)
    np.testing.assert_allclose(result.change, change)
    assert view.title_b.text() == "B: checkpoint: last · PCA"


def test_b_from_another_run_compares_the_items_both_embed(qtbot, view, real_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(real_run, other)
    step, path = list_snapshots(other)[-1]
    with np.load(path) as z:  # the other run's probe: only every second item of this one's
        emb, idx, labels = z["embeddings"][::2], z["indices"][::2], z["labels"][::2]
    rng = np.random.default_rng(0)
    np.savez(path, embeddings=emb + rng.normal(0, 0.3, emb.shape).astype(np.float32), indices=idx, labels=labels)
    view.set_run(real_run)
    view.set_other_run(other)
    assert view.combo_b.currentText() == f"other · snapshot step {step}"
    result = compare(qtbot, view, f"snapshot step {step}", f"snapshot step {step}")
    assert len(result.change) == 100 and np.array_equal(result.a.indices, idx)
    assert result.mean_change > 0


def test_different_data_is_refused_with_a_message(qtbot, view, real_run, tmp_path):
    shapes = create_run_dir(new_run_config("rotation", "shapes", epochs=1, probe_size=50), path=tmp_path / "shapes")
    np.savez(shapes / EMBEDDINGS / "00000005.npz", embeddings=np.ones((50, 4), np.float32),
             indices=np.arange(50), labels=np.zeros(50, np.int64))
    view.set_run(real_run)
    view.set_other_run(shapes)
    view.choose(b="snapshot step 5")
    with qtbot.waitSignal(view.compare_button.clicked):
        qtbot.mouseClick(view.compare_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not view.is_computing(), timeout=30_000)
    assert view.summary.text() == ("⚠ A embeds digits and B embeds shapes: compare two embeddings of the same data")
    assert view.result is None


def test_the_explorer_opens_the_comparison_and_goes_back(qtbot, add_widget, real_run, monkeypatch):
    monkeypatch.setattr(Explorer, "warm_up_on_show", False)
    explorer = add_widget(Explorer(), idle=lambda: not explorer.is_busy())
    explorer.resize(1300, 750)
    explorer.show()
    explorer.set_run(real_run)
    qtbot.waitUntil(lambda: not explorer.is_computing() and explorer.scatter.count() > 0, timeout=20_000)
    view = explorer.compare_view
    with qtbot.waitSignal(view.compared, timeout=60_000):
        qtbot.mouseClick(explorer.compare_open_button, Qt.LeftButton)
    assert explorer.pages.currentWidget().widget() is view and view.scatter_a.count() == 200
    qtbot.mouseClick(view.back_button, Qt.LeftButton)
    assert explorer.pages.currentWidget() is explorer.map_page


def test_comparing_two_runs_in_the_runs_browser_sets_up_their_embeddings(qtbot, window, real_run, tmp_path):
    other = tmp_path / "other-run"
    shutil.copytree(real_run, other)
    window.compare_runs([real_run, other])
    view = window.explorer.compare_view
    assert view.run_dir() == real_run
    assert view.combo_b.currentText().startswith("other-run · snapshot step")


def test_the_comparison_fits_the_explorer_page_of_a_1280_px_window(view):
    """Its row of controls was ~960 px wide: "Compare" and the right map's legend were cut off at 1280×720."""
    assert view.minimumSizeHint().width() <= 920, view.minimumSizeHint()
