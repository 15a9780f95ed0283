"""Inspector: preview cards from real runs, live replacement, caption colours, enlarge, save, empty state."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from ui import theme
from ui.images import to_qimage
from ui.inspector import EMPTY_TEXT, Inspector, TileDialog
from workbench.events import read_events

pytestmark = pytest.mark.timeout(120)


def make_image_folder(root: Path) -> Path:
    """Three classes of 16×16 images: enough for a two-epoch run that takes seconds."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for k, name in enumerate(["bars", "blobs", "rings"]):
        (root / name).mkdir(parents=True)
        for i in range(40):
            a = (rng.random((16, 16, 3)) * 60).astype(np.uint8)
            if k == 0:
                a[:, 4 + i % 6: 8 + i % 6] = 230
            elif k == 1:
                a[4:10, 5:11] = (40, 200, 90)
            else:
                a[3:13, 3:13], a[6:10, 6:10] = 200, 20
            Image.fromarray(a).save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Real rotation and autoencoder runs made with the CLI, trained side by side."""
    base = tmp_path_factory.mktemp("inspector")
    data = make_image_folder(base / "images")
    procs = {}
    for method in ("rotation", "autoencoder"):
        cmd = [sys.executable, "-m", "workbench.cli", "train", "--method", method, "--dataset", "folder",
               "--data-root", str(data), "--epochs", "2", "--batch-size", "32", "--device", "cpu",
               "--run-dir", str(base / method), "--set", "image_size=16", "--set", "probe_size=24",
               "--set", "preview_interval=0", "--set", "threads=1", "--set", "linear_probe=false", "--quiet"]
        procs[method] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for method, proc in procs.items():
        _, err = proc.communicate(timeout=110)
        assert proc.returncode == 0, f"{method}: {err}"
    return {m: base / m for m in procs}


def previews(run_dir: Path) -> list[dict]:
    return [e for e in read_events(run_dir) if e["type"] == "preview"]


@pytest.fixture
def inspector(qtbot):
    w = Inspector()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    return w


def write_preview(run_dir: Path, step: int, captions: list[str], columns: int = 3, tile=(8, 6), pad: int = 2,
                  name: str = "guesses") -> dict:
    """A preview grid whose tile i is filled with the grey level 20·(i+1), laid out as the worker does."""
    h, w = tile
    count = len(captions)
    rows = -(-count // columns)
    grid = np.zeros((pad + rows * (h + pad), pad + columns * (w + pad), 3), np.uint8)
    for i in range(count):
        r, c = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = 20 * (i + 1)
    rel = f"previews/{step:08d}-{name}.png"
    (run_dir / "previews").mkdir(parents=True, exist_ok=True)
    assert to_qimage(grid).save(str(run_dir / rel))
    return {"type": "preview", "t": 1000.0 + step, "step": step, "epoch": 0, "name": name, "title": "Guesses",
            "path": rel, "captions": captions, "columns": columns, "tile": list(tile), "count": count, "pad": pad}


@pytest.mark.slow  # trains runs in CLI subprocesses
@pytest.mark.parametrize("method", ["rotation", "autoencoder"])
def test_load_run_shows_the_latest_preview_of_each_name(inspector, runs, method):
    run_dir = runs[method]
    events = previews(run_dir)
    latest = {e["name"]: e for e in events}
    inspector.load_run(run_dir)
    assert list(inspector.cards) == list(latest)
    assert not inspector.empty_label.isVisible()
    for name, ev in latest.items():
        card = inspector.cards[name]
        assert card.title_label.text() == ev["title"]
        assert card.step_label.text() == f"step {ev['step']}"
        assert len(card.tiles) == ev["count"] == len(card._views)
        assert card.tiles[0].width() == ev["tile"][1] and card.tiles[0].height() == ev["tile"][0]
        shown = [label.text() for label in card._labels]
        assert shown == ev["captions"]
        assert all(v.width() >= 64 for v in card._views)  # scaled up to be seen
        positions = [card.grid.getItemPosition(card.grid.indexOf(v))[:2] for v in card._views]
        assert positions == [(2 * (i // ev["columns"]), i % ev["columns"]) for i in range(ev["count"])]


def test_tiles_are_cut_by_the_event_geometry(inspector, tmp_path):
    ev = write_preview(tmp_path, 5, ["a", "b", "c", "d", "e"])
    inspector.add_event(ev, tmp_path)
    card = inspector.cards["guesses"]
    assert [t.size().toTuple() for t in card.tiles] == [(6, 8)] * 5
    for i, tile in enumerate(card.tiles):
        colours = {tile.pixelColor(x, y).red() for x in range(6) for y in range(8)}
        assert colours == {20 * (i + 1)}, f"tile {i} picked up gutter or neighbour pixels"


@pytest.mark.slow  # trains runs in CLI subprocesses
def test_a_newer_preview_replaces_the_tiles(inspector, runs, tmp_path):
    run_dir = runs["rotation"]
    first = previews(run_dir)[-1]
    # A later preview of the same name: the worker's picture, inverted, at a later step. (How many
    # previews a tiny run makes depends on its speed, so the test makes its own second one.)
    image = QImage(str(run_dir / first["path"]))
    image.invertPixels()
    later_path = f"previews/{first['step'] + 7:08d}-{first['name']}.png"
    (tmp_path / "previews").mkdir()
    assert image.save(str(tmp_path / later_path))
    captions = [f"later {i}" for i in range(first["count"])]
    later = {**first, "step": first["step"] + 7, "path": later_path, "captions": captions}
    inspector.add_event({"type": "step", "step": 1}, run_dir)  # ignored
    assert inspector.cards == {}
    inspector.add_event(first, run_dir)
    card = inspector.cards[first["name"]]
    views = list(card._views)
    inspector.add_event(later, tmp_path)
    assert inspector.cards[first["name"]] is card and len(inspector.cards) == 1
    assert card.step_label.text() == f"step {later['step']}"
    assert card.source == tmp_path / later_path
    h, w = first["tile"]
    assert card.tiles[0] == image.copy(2, 2, w, h)
    assert card.tiles[-1] == image.copy(*_tile_origin(first["count"] - 1, first["columns"], w, h), w, h)
    assert card._views == views  # same layout: the tile widgets are reused, only their pictures change
    assert [label.text() for label in card._labels] == captions
    shown = card.image
    inspector.add_event(dict(later), tmp_path)  # the same file again is not reloaded
    assert card.image is shown


def _tile_origin(i: int, columns: int, w: int, h: int, pad: int = 2) -> tuple[int, int]:
    r, c = divmod(i, columns)
    return pad + c * (w + pad), pad + r * (h + pad)


def test_captions_are_coloured_by_their_mark(inspector, tmp_path):
    captions = ["✓ pred 90° / true 90°", "✗ pred 0° / true 180°", "view 2"]
    inspector.add_event(write_preview(tmp_path, 1, captions), tmp_path)
    card = inspector.cards["guesses"]
    theme.apply_theme(QApplication.instance(), theme.current())  # the style sheet colours captions by tone
    c = theme.colors()
    assert _text_colours(card) == [c["ok_text"], c["bad_text"], c["muted"]]


def _text_colours(card) -> list[str]:
    """The colour each caption is drawn in (the application style sheet sets it by the caption's tone)."""
    for label in card._labels:
        label.ensurePolished()
    return [label.palette().color(label.foregroundRole()).name().upper() for label in card._labels]


def test_clicking_a_tile_opens_it_enlarged(inspector, qtbot, tmp_path):
    captions = ["✓ one", "✗ two", "three"]
    inspector.add_event(write_preview(tmp_path, 3, captions), tmp_path)
    card = inspector.cards["guesses"]
    qtbot.mouseClick(card._views[1], Qt.LeftButton)
    qtbot.waitUntil(lambda: inspector.dialog is not None and inspector.dialog.isVisible(), timeout=3000)
    dialog = inspector.dialog
    assert isinstance(dialog, TileDialog)
    assert dialog.caption.text() == "✗ two"
    pix = dialog.picture.pixmap()
    assert pix.width() >= 6 * 40 and pix.toImage().pixelColor(pix.width() // 2, pix.height() // 2).red() == 40
    assert "tile 2" in dialog.windowTitle()
    with qtbot.waitSignal(dialog.destroyed, timeout=3000):
        dialog.close()
    assert inspector.dialog is None


@pytest.mark.slow  # trains runs in CLI subprocesses
def test_save_png_writes_the_whole_grid(inspector, qtbot, runs, tmp_path, monkeypatch):
    run_dir = runs["autoencoder"]
    inspector.load_run(run_dir)
    card = next(iter(inspector.cards.values()))
    target = tmp_path / "saved"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "PNG image (*.png)"))
    qtbot.mouseClick(card.save_button, Qt.LeftButton)
    saved = QImage(str(tmp_path / "saved.png"))
    original = QImage(str(card.source))
    assert not saved.isNull() and saved.size() == original.size()
    assert saved.convertToFormat(QImage.Format_RGB32) == original.convertToFormat(QImage.Format_RGB32)


def test_missing_preview_file_is_reported_on_its_card(inspector, tmp_path):
    ev = write_preview(tmp_path, 2, ["a"])
    (tmp_path / ev["path"]).unlink()
    inspector.add_event(ev, tmp_path)
    card = inspector.cards["guesses"]
    assert not card.message.isHidden() and ev["path"] in card.message.text()
    assert card.tiles == []


@pytest.mark.slow  # trains runs in CLI subprocesses
def test_empty_state_before_and_after_clear(inspector, qtbot, runs):
    assert inspector.empty_label.isVisible() and inspector.empty_label.text() == EMPTY_TEXT
    inspector.load_run(runs["rotation"])
    assert not inspector.empty_label.isVisible()
    cards = list(inspector.cards.values())
    inspector.clear()
    assert inspector.cards == {}
    assert inspector.empty_label.isVisible()
    assert not any(card.isVisible() for card in cards)


@pytest.mark.slow  # trains runs in CLI subprocesses
def test_tiles_follow_the_available_width(inspector, qtbot, runs):
    inspector.load_run(runs["rotation"])
    card = next(iter(inspector.cards.values()))
    wide = card._views[0].width()
    inspector.resize(500, 700)
    qtbot.waitUntil(lambda: card._views[0].width() < wide, timeout=3000)
    assert card._views[0].width() >= 64
    assert card._views[0].width() % card.tiles[0].width() == 0  # whole multiples keep pixels crisp


def test_theme_switch_recolours_captions(inspector, tmp_path):
    inspector.add_event(write_preview(tmp_path, 1, ["✓ yes"]), tmp_path)
    card = inspector.cards["guesses"]
    try:
        theme.apply_theme(QApplication.instance(), "dark")
        inspector.apply_theme()
        assert _text_colours(card)[0] == theme.THEMES["dark"]["ok_text"]
    finally:
        theme.apply_theme(QApplication.instance(), "light")
        inspector.apply_theme()
    assert _text_colours(card)[0] == theme.THEMES["light"]["ok_text"]


def test_a_long_title_wraps_instead_of_widening_the_card(inspector, qtbot, tmp_path):
    ev = write_preview(tmp_path, 5, ["a", "b", "c"])
    ev["title"] = ("Signal with its masked frames shaded (orange: the samples those frames see) / cosine "
                   "similarity of each masked frame's prediction (rows) with every masked frame's target")
    inspector.resize(700, 600)
    inspector.add_event(ev, tmp_path)
    card = inspector.cards["guesses"]
    lines = card.title_label.fontMetrics().lineSpacing()
    qtbot.waitUntil(lambda: card.save_button.x() > 0, timeout=3000)  # laid out
    assert 2 * lines <= card.title_label.height() < 5 * lines  # wrapped onto a few lines
    assert card.width() <= inspector.width()
    assert card.title_label.geometry().right() < card.save_button.geometry().left()
