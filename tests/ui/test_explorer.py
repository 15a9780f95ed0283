"""The explorer, driven as a person would: open a run, recolour, click, select, t-SNE and cancel, play, go live,
read the Health panel, mark false neighbours and colour by kNN correctness."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtWidgets import QApplication

import ui.explorer as explorer_module
import ui.explorer.view as explorer_view
from ui import theme
from ui.explorer import Explorer
from sklearn.neighbors import NearestNeighbors

from workbench import analysis
from workbench.config import new_run_config
from workbench.data import load_dataset
from workbench.evaluate import collapse_metrics
from workbench.explore import EmbeddingSource, list_snapshots
from workbench.neighbourhoods import knn_correct, map_quality
from workbench.runs import EMBEDDINGS, create_run_dir

# Training a real run takes 15-60 s on a shared 2-core machine, more than this file's budget;
# these run directories are made the way the trainer makes them (create_run_dir, then
# embeddings/<step>.npz of probe items), with embeddings that organise by the ground-truth
# factors as training "progresses".
PROBE = 300
STEPS = (0, 10, 20)


def one_hot(codes: np.ndarray) -> np.ndarray:
    return np.eye(int(codes.max()) + 1, dtype=np.float32)[codes]


def write_snapshot(run_dir: Path, step: int, emb: np.ndarray, indices: np.ndarray, labels: np.ndarray) -> Path:
    path = Path(run_dir) / EMBEDDINGS / f"{step:08d}.npz"
    np.savez(path, embeddings=emb.astype(np.float32), indices=indices, labels=labels)
    return path


def make_run(root: Path, dataset: str, features) -> Path:
    run_dir = create_run_dir(new_run_config("rotation", dataset, epochs=2, probe_size=PROBE, device="cpu"),
                             path=root / dataset)
    data = load_dataset(dataset)
    idx = np.arange(min(PROBE, len(data.y_test)))
    clean = features(data, idx)
    rng = np.random.default_rng(0)
    for step in STEPS:
        noise = 1.5 / (1 + step / 5)  # later snapshots are cleaner, like a model that learns
        write_snapshot(run_dir, step, clean + rng.normal(0, noise, clean.shape), idx, data.y_test.numpy()[idx])
    return run_dir


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory) -> Path:
    def features(data, idx):
        f = data.factors_test
        return np.hstack([one_hot(f[k])[idx] for k in ("shape", "colour", "size")])
    return make_run(tmp_path_factory.mktemp("runs"), "shapes", features)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs"), "digits",
                    lambda data, idx: one_hot(data.y_test.numpy())[idx] * 2)


def synthetic_source(n: int, dim: int = 16, classes: int = 5, seed: int = 0) -> EmbeddingSource:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    emb = (rng.normal(0, 4, (classes, dim))[labels] + rng.normal(0, 1, (n, dim))).astype(np.float32)
    images = np.repeat((labels * 40).astype(np.uint8)[:, None, None, None], 4, 1).repeat(4, 2).repeat(3, 3)
    return EmbeddingSource(Path("."), f"synthetic {n}", 0, emb, labels, np.arange(n), images,
                           [f"class {i}" for i in range(classes)])


def open_run(qtbot, explorer, run_dir):
    explorer.set_run(run_dir)
    qtbot.waitUntil(lambda: not explorer.is_computing() and explorer.scatter.count() > 0, timeout=20_000)


def wait_for_health(qtbot, explorer):
    qtbot.waitUntil(lambda: explorer.map_quality is not None and explorer.embedding_health is not None,
                    timeout=30_000)


def test_set_run_maps_the_newest_snapshot_with_pca(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    src = explorer.current_source
    assert src.step == 20 and len(src) == PROBE
    assert explorer.scatter.count() == PROBE
    assert explorer.status.text() == f"{PROBE} points · 13-d · PCA · snapshot step 20"
    combo = [explorer.source_combo.itemText(i) for i in range(explorer.source_combo.count())]
    assert combo == ["snapshot step 20", "snapshot step 10", "snapshot step 0"]
    colour_by = [explorer.colour_combo.itemText(i) for i in range(explorer.colour_combo.count())]
    assert colour_by == ["label", "shape", "colour", "size", "x", "y", "rotation", "neighbour-label agreement"]


def test_colour_by_a_factor_recolours_and_names_it_in_the_legend(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    before = explorer.scatter.positions().copy()
    explorer.colour_combo.setCurrentText("label")  # a fresh map starts from the factor it groups best
    assert explorer.scatter.legend_entries()[0].startswith("circle")
    explorer.colour_combo.setCurrentText("colour")
    names = [e.split(" (")[0] for e in explorer.scatter.legend_entries()]
    assert names == ["red", "green", "blue", "yellow", "magenta", "cyan"]
    counts = np.bincount(explorer.current_source.factors["colour"], minlength=6)
    assert explorer.scatter.legend_entries()[0] == f"red ({counts[0]})"
    np.testing.assert_array_equal(explorer.scatter.positions(), before)  # recoloured, not moved


def test_clicking_a_point_shows_its_15_nearest_neighbours(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    explorer.scatter.getPlotItem().getViewBox().autoRange(padding=0.1)
    target = 7
    with qtbot.waitSignal(explorer.point_clicked, timeout=5000) as clicked:
        qtbot.mouseClick(explorer.scatter.viewport(), Qt.LeftButton, pos=explorer.scatter.pixel_of(target))
    i = clicked.args[0]
    # overlapping points may answer the click; whichever did lies under the pointer
    assert explorer.scatter.pixel_of(i) == explorer.scatter.pixel_of(target) or i == target
    src = explorer.current_source
    assert explorer.gallery.count() == 15
    assert explorer.gallery.title.text().startswith(f"15 nearest neighbours of {src.describe(i)}")
    # the neighbours in the original 13-d space, best first, framed by whether the label agrees
    unit = src.embeddings / np.linalg.norm(src.embeddings, axis=1, keepdims=True)
    cos = unit @ unit[i]
    cos[i] = -np.inf
    expected = np.argsort(-cos, kind="stable")[:15]
    items = explorer.gallery.items()
    assert [tip for _, _, tip, _ in items] == [src.describe(j) for j in expected]
    assert [cap for _, cap, _, _ in items] == [f"cos {cos[j]:.2f}" for j in expected]
    same, different = theme.agreement()
    assert [frame for _, _, _, frame in items] == [same if src.labels[j] == src.labels[i] else different
                                                   for j in expected]
    assert len(explorer.scatter.highlighted()) == 16  # the point and its neighbours


def test_rectangle_selection_fills_the_gallery(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    view = explorer.scatter
    xy = view.positions()
    lo, hi = np.percentile(xy, 30, axis=0), np.percentile(xy, 70, axis=0)
    p0, p1 = view.pixel_of(int(np.argmin(np.abs(xy - lo).sum(1)))), view.pixel_of(int(np.argmin(np.abs(xy - hi).sum(1))))
    qtbot.mouseClick(explorer.select_button, Qt.LeftButton)
    assert view.select_mode()
    with qtbot.waitSignal(view.selected, timeout=5000) as sel:
        qtbot.mousePress(view.viewport(), Qt.LeftButton, pos=p0)
        for t in np.linspace(0, 1, 8)[1:]:
            qtbot.mouseMove(view.viewport(), QPoint(int(p0.x() + t * (p1.x() - p0.x())),
                                                    int(p0.y() + t * (p1.y() - p0.y()))))
        qtbot.mouseRelease(view.viewport(), Qt.LeftButton, pos=p1)
    chosen = sel.args[0]
    assert 0 < len(chosen) < PROBE
    assert explorer.gallery.count() == len(chosen)
    assert explorer.gallery.title.text() == f"{len(chosen)} selected"


def test_tsne_computes_with_progress(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    seen = []
    explorer.progress.valueChanged.connect(seen.append)
    explorer.projection_combo.setCurrentText("t-SNE")
    qtbot.mouseClick(explorer.compute_button, Qt.LeftButton)
    assert explorer.progress.isVisibleTo(explorer) and explorer.cancel_button.isVisibleTo(explorer)
    qtbot.waitUntil(lambda: not explorer.is_computing(), timeout=25_000)
    assert "t-SNE" in explorer.status.text() and explorer.scatter.count() == PROBE
    assert len([v for v in seen if 0 < v < 1000]) >= 2  # it moved along the way
    assert not explorer.progress.isVisibleTo(explorer)


def test_cancel_keeps_the_previous_map(qtbot, explorer):
    explorer.show_source(synthetic_source(3000))
    qtbot.waitUntil(lambda: not explorer.is_computing() and explorer.scatter.count() == 3000, timeout=10_000)
    pca = explorer.scatter.positions().copy()
    explorer.projection_combo.setCurrentText("t-SNE")
    qtbot.mouseClick(explorer.compute_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: explorer.progress.maximum() > 0 and explorer.progress.value() > 0, timeout=20_000)
    qtbot.mouseClick(explorer.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not explorer.is_computing(), timeout=10_000)
    assert "cancelled; showing the previous map" in explorer.status.text()
    assert "PCA" in explorer.status.text()
    np.testing.assert_array_equal(explorer.scatter.positions(), pca)
    assert not explorer.cancel_button.isVisibleTo(explorer)


def test_umap_says_it_is_compiling_on_first_use(qtbot, explorer, monkeypatch):
    release = threading.Event()

    class SlowMap:  # stands for UMAP's first, compiling fit
        def __init__(self, method, seed=0):
            self.method = method

        def fit(self, emb, progress=None, cancel=None):
            release.wait(10)
            return np.zeros((len(emb), 2), np.float32)

    explorer.show_source(synthetic_source(50))
    qtbot.waitUntil(lambda: not explorer.is_computing(), timeout=10_000)
    monkeypatch.setattr(analysis, "ReferenceMap", SlowMap)
    monkeypatch.setitem(explorer_module._umap, "warm", False)
    explorer.projection_combo.setCurrentText("UMAP")
    qtbot.mouseClick(explorer.compute_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: explorer.progress_label.text() == "compiling UMAP (first use only)…", timeout=5000)
    assert explorer.progress.maximum() == 0  # a busy bar: no estimate while numba compiles
    release.set()
    qtbot.waitUntil(lambda: not explorer.is_computing(), timeout=5000)
    assert "UMAP" in explorer.status.text() and explorer_module._umap["warm"]


def test_timeline_plays_and_keeps_the_map_steady(qtbot, explorer, shapes_run, monkeypatch):
    open_run(qtbot, explorer, shapes_run)
    fitted = explorer.scatter.positions().copy()
    redraws = []
    monkeypatch.setattr(explorer.scatter, "set_points", lambda *a, **k: redraws.append(1))
    steps = []
    explorer.source_changed.connect(lambda s: steps.append(s.step))
    qtbot.mouseClick(explorer.play_button, Qt.LeftButton)
    assert explorer.is_playing()
    qtbot.waitUntil(lambda: not explorer.is_playing(), timeout=15_000)
    assert steps == [0, 10, 20]
    assert redraws == []  # every frame moved the same points: update_positions only
    assert explorer.timeline_label.text() == "step 20 (3/3)"
    # the snapshot the map was fitted on, placed again: where it was (PCA places exactly)
    extent = np.ptp(fitted, axis=0).max()
    displacement = np.linalg.norm(explorer.scatter.positions() - fitted, axis=1)
    assert displacement.max() < 1e-4 * extent


def test_live_snapshot_is_placed_without_recomputing(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    reference = explorer._reference
    before = explorer.scatter.positions().copy()
    src = explorer.current_source
    rng = np.random.default_rng(5)
    path = write_snapshot(shapes_run, 30, src.embeddings + rng.normal(0, 0.5, src.embeddings.shape),
                          src.indices, src.labels)
    try:
        with qtbot.waitSignal(explorer.source_changed, timeout=10_000):
            explorer.on_event({"type": "embedding", "t": 0.0, "step": 30, "epoch": 2,
                               "path": str(path.relative_to(shapes_run)), "n": PROBE, "dim": 13})
        assert not explorer.is_computing() and explorer._reference is reference
        assert explorer.current_source.step == 30
        assert explorer.source_combo.itemText(0) == "snapshot step 30"
        assert explorer.timeline.maximum() == 3 and explorer.timeline_label.text() == "step 30 (4/4)"
        qtbot.waitUntil(lambda: not np.allclose(explorer.scatter.positions(), before), timeout=2000)
        assert explorer.scatter.count() == PROBE
        assert explorer.status.text().endswith("snapshot step 30 (placed into the map of snapshot step 20)")
    finally:
        path.unlink()


def test_digits_run_is_coloured_by_label(qtbot, explorer, digits_run):
    open_run(qtbot, explorer, digits_run)
    assert explorer.scatter.count() == len(explorer.current_source) == PROBE
    assert [explorer.colour_combo.itemText(i) for i in range(explorer.colour_combo.count())] == ["label", "neighbour-label agreement"]
    assert [e.split(" (")[0] for e in explorer.scatter.legend_entries()] == [str(d) for d in range(10)]


def test_a_run_without_snapshots_says_so(qtbot, explorer, tmp_path):
    run_dir = create_run_dir(new_run_config("rotation", "digits", epochs=1), path=tmp_path / "empty")
    explorer.set_run(run_dir)
    assert explorer.scatter.count() == 0 and not explorer.is_computing()
    assert not explorer.compute_button.isEnabled()
    assert "No embeddings yet" in explorer.scatter._empty.text()


def test_first_show_warms_up_umap_in_the_background(qtbot, monkeypatch):
    calls = []
    monkeypatch.setattr(explorer_view, "warm_up_umap", lambda: calls.append(threading.current_thread()) or 0.0)
    monkeypatch.setitem(explorer_module._umap, "warm", False)
    monkeypatch.setitem(explorer_module._umap, "task", None)
    monkeypatch.setattr(Explorer, "warm_up_on_show", True)  # the conftest turns it off for every other test
    w = Explorer()
    qtbot.addWidget(w)
    assert calls == []
    w.show()
    qtbot.waitUntil(lambda: explorer_module._umap["warm"], timeout=5000)
    assert len(calls) == 1 and calls[0] is not threading.main_thread()


# --- the map underneath: ScatterView on its own ------------------------------------------------
@pytest.fixture
def scatter(qtbot):
    from ui.scatter import ScatterView
    view = ScatterView()
    qtbot.addWidget(view)
    view.resize(600, 500)
    view.show()
    return view


def test_hovering_a_point_reports_it_and_leaving_reports_none(qtbot, scatter):
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 10, (2000, 2))
    scatter.set_points(xy, rng.integers(0, 3, 2000), ["a", "b", "c"])
    target = 1234
    with qtbot.waitSignal(scatter.hovered, timeout=2000,
                          check_params_cb=lambda i: i >= 0) as hovered:
        qtbot.mouseMove(scatter.viewport(), scatter.pixel_of(target))
    i = hovered.args[0]
    assert (scatter.pixel_of(i) - scatter.pixel_of(target)).manhattanLength() <= 2
    assert scatter.index_at(-1e6, -1e6) == -1
    with qtbot.waitSignal(scatter.hovered, timeout=2000) as left:
        QApplication.sendEvent(scatter, QEvent(QEvent.Leave))
    assert left.args == [-1]


def test_many_categories_share_one_other_legend_entry(qtbot, scatter):
    cats = np.repeat(np.arange(30), np.arange(30) + 1)  # category i has i + 1 points
    xy = np.random.default_rng(0).normal(size=(len(cats), 2))
    scatter.set_points(xy, cats, [f"c{i}" for i in range(30)])
    entries = scatter.legend_entries()
    assert len(entries) == 20 and entries[-1] == f"other (11 categories) ({sum(range(1, 12))})"
    assert entries[0] == "c11 (12)"  # the commonest 19 keep their names, in their own order
    assert len(scatter.brushes()) == 20  # one shared brush per entry, never one per point


def test_past_the_threshold_the_map_becomes_a_density_image(qtbot, scatter, monkeypatch):
    from PySide6.QtCore import QRectF
    import ui.scatter
    scatter.density_threshold = 5000
    monkeypatch.setattr(ui.scatter, "RESOLVE_POINTS", 1000)  # more points in view than are drawn as dots
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(6000, 2))
    scatter.set_points(xy, rng.integers(0, 4, 6000), list("abcd"))
    assert scatter.is_density() and scatter._density.isVisible() and not scatter._points.isVisible()
    chosen = scatter.select_rect(QRectF(-0.5, -0.5, 1.0, 1.0))
    inside = np.flatnonzero((np.abs(xy) <= 0.5).all(axis=1))
    np.testing.assert_array_equal(chosen, inside)
    assert len(scatter._sel_item.data) == len(inside)  # the selection is drawn over the image
    scatter.update_positions(xy * 2)
    assert scatter.index_at(*(xy[7] * 2)) == 7


# --- health: how honest the map is --------------------------------------------------------------
def test_health_panel_states_trustworthiness_and_continuity_with_k(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    wait_for_health(qtbot, explorer)
    src = explorer.current_source
    expected = map_quality(src.embeddings, explorer.scatter.positions(), k=10, metric="cosine")
    text = explorer.health.text()
    assert (f"Map quality (PCA, k = 10)\ntrustworthiness {expected.trustworthiness:.3f} · "
            f"continuity {expected.continuity:.3f}") in text
    assert "sample" not in text  # 300 points: computed on all of them
    metrics = collapse_metrics(__import__("torch").from_numpy(src.embeddings))
    assert f"std ratio {metrics['std_ratio']:.2f}" in text
    assert f"effective rank {metrics['effective_rank']:.1f} of 13" in text
    accuracy = knn_correct(src.embeddings, src.labels, k=20).mean()
    assert f"neighbour-label agreement {accuracy:.0%} (each shown point's label vs the vote of its 20" in text
    assert explorer.health.verdict.text().split(":")[0] in ("Healthy", "Bunched", "Dimensional collapse", "Collapsed")


def test_health_of_a_large_map_says_it_was_sampled(qtbot, explorer):
    explorer.show_source(synthetic_source(6000))
    qtbot.waitUntil(lambda: not explorer.is_computing() and explorer.scatter.count() == 6000, timeout=20_000)
    wait_for_health(qtbot, explorer)
    text = explorer.health.text()
    assert "estimated on 5,000 of 6,000 points (random sample, seed 0)" in text
    quality = explorer.map_quality
    assert quality.is_sampled and quality.checked() == 6000  # every point still has its preservation


def test_mark_false_neighbours_rings_the_points_among_strangers(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    wait_for_health(qtbot, explorer)
    assert len(explorer.scatter.marked()) == 0  # off by default
    explorer.marks_check.setChecked(True)
    src, xy = explorer.current_source, explorer.scatter.positions()
    # independently: the share of each point's 10 map neighbours among its 10 cosine neighbours
    true = NearestNeighbors(n_neighbors=10, metric="cosine").fit(src.embeddings).kneighbors(return_distance=False)
    drawn = NearestNeighbors(n_neighbors=10).fit(xy).kneighbors(return_distance=False)
    kept = np.array([len(set(t) & set(d)) for t, d in zip(true, drawn)])
    expected = np.flatnonzero(kept < 5)
    assert 0 < len(expected) < PROBE  # a PCA of 13-d data has some, not only false neighbours
    np.testing.assert_array_equal(explorer.scatter.marked(), expected)
    assert f"({len(expected)} of {PROBE})" in explorer.health.text()
    explorer.marks_check.setChecked(False)
    assert len(explorer.scatter.marked()) == 0


def test_colour_by_knn_correct_paints_right_and_wrong(qtbot, explorer, real_run):
    open_run(qtbot, explorer, real_run)
    wait_for_health(qtbot, explorer)
    explorer.colour_combo.setCurrentText("neighbour-label agreement")
    src = explorer.current_source
    correct = knn_correct(src.embeddings, src.labels, k=20)
    right, wrong = int(correct.sum()), int((~correct).sum())
    assert right > 0 and wrong > 0  # two epochs of rotation prediction: far from perfect
    assert explorer.scatter.legend_entries() == [f"agrees with its neighbours ({right})", f"disagrees with its neighbours ({wrong})"]
    colours = [b.color().name() for b in explorer.scatter.brushes()]
    assert colours == [c.lower() for c in theme.agreement()]


def test_a_checkpoint_map_embeds_the_whole_test_split(qtbot, explorer, real_run):
    open_run(qtbot, explorer, real_run)
    explorer.source_combo.setCurrentText("checkpoint: last")
    qtbot.mouseClick(explorer.compute_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not explorer.is_computing(), timeout=30_000)
    n_test = len(load_dataset("digits").x_test)
    assert explorer.current_source.label.startswith("checkpoint last.pt")
    assert len(explorer.current_source) == n_test == explorer.scatter.count()  # every item, no sample


def test_cancelled_background_work_is_busy_until_it_reports_back(qtbot, explorer, shapes_run):
    open_run(qtbot, explorer, shapes_run)
    explorer.projection_combo.setCurrentText("t-SNE")
    qtbot.mouseClick(explorer.compute_button, Qt.LeftButton)
    task = explorer._compute.current
    explorer.cancel_background()
    assert explorer.is_busy()  # asked to stop, not yet stopped: it still owns its thread
    qtbot.waitUntil(lambda: not explorer.is_busy(), timeout=20_000)
    assert task.state in ("cancelled", "done")


def test_play_animates_a_finished_real_run_through_every_snapshot(qtbot, explorer, real_run, monkeypatch):
    open_run(qtbot, explorer, real_run)
    steps = [s for s, _ in list_snapshots(real_run)]
    assert len(steps) == 3 and explorer.current_source.step == steps[-1]
    moves = []
    original = explorer.scatter.update_positions
    monkeypatch.setattr(explorer.scatter, "update_positions",
                        lambda xy, animate=True: moves.append(animate) or original(xy, animate))
    seen = []
    explorer.source_changed.connect(lambda s: seen.append(s.step))
    qtbot.mouseClick(explorer.play_button, Qt.LeftButton)
    assert explorer.is_playing() and explorer.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: not explorer.is_playing(), timeout=30_000)
    assert seen == steps  # from the first snapshot to the last, in order, none skipped
    assert moves == [True] * len(steps)  # each frame an animated move of the same points
    assert explorer.timeline.value() == explorer.timeline.maximum()
    assert explorer.timeline_label.text() == f"step {steps[-1]} ({len(steps)}/{len(steps)})"
    assert explorer.play_button.text() == "Play"


def test_collapse_verdict_reads_the_metrics():
    from ui.health_panel import collapse_verdict
    assert collapse_verdict(0.01, 1.1, 128).startswith("Collapsed")
    assert collapse_verdict(0.6, 5.0, 128).startswith(
        "Dimensional collapse: the embeddings use only about 5 of their 128")
    assert collapse_verdict(0.15, 40.0, 128).startswith("Bunched")
    assert collapse_verdict(0.8, 40.0, 128).startswith("Healthy")
    assert collapse_verdict(0.8, 2.0, 2).startswith("Healthy")  # 2-d embeddings cannot use more than 2


def test_sequence_run_shows_line_plots_as_thumbnails(qtbot, explorer, tmp_path):
    # a run on the 1-D `signals` data: thumbnails are sparkline tiles, neighbours work as for images
    run_dir = make_run(tmp_path, "signals", lambda data, idx: one_hot(data.y_test.numpy())[idx] * 2)
    open_run(qtbot, explorer, run_dir)
    src = explorer.current_source
    assert src.images.shape == (PROBE, 48, 96, 3) and src.images.dtype == np.uint8
    explorer.scatter.getPlotItem().getViewBox().autoRange(padding=0.1)
    with qtbot.waitSignal(explorer.point_clicked, timeout=5000):
        qtbot.mouseClick(explorer.scatter.viewport(), Qt.LeftButton, pos=explorer.scatter.pixel_of(3))
    assert explorer.gallery.count() == 15
    assert explorer.gallery.items()[0][0].shape == (48, 96, 3)
    wait_for_health(qtbot, explorer)  # the map's health is measured for sequences too
