"""Text in the GUI: the explorer maps a word2vec run's words (word tiles, the word on hover and in
the neighbour gallery), the analogy panel takes typed words, and the run panel asks for a text file."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from ui.analogy_panel import AnalogyPanel
from workbench.config import new_run_config
from workbench.data import load_dataset
from workbench.runs import create_run_dir
from workbench.worker import run_worker

PROBE = 200


@pytest.fixture(scope="module")
def word_run(tmp_path_factory) -> Path:
    """A real word2vec run on the Lee corpus (1 epoch, 16-d: a few seconds)."""
    run = new_run_config("word2vec", "lee", epochs=1, batch_size=2048, device="cpu", probe_size=PROBE,
                         preview_interval=0.0, threads=1)
    run.method_config = {"dim": 16}
    run_dir = create_run_dir(run, path=tmp_path_factory.mktemp("words") / "run")
    assert run_worker(run_dir, stream=io.StringIO()) == 0
    return run_dir


def open_run(qtbot, explorer, run_dir):
    explorer.set_run(run_dir)
    qtbot.waitUntil(lambda: not explorer.is_computing() and explorer.scatter.count() > 0, timeout=20_000)
    return explorer.current_source


def test_the_map_shows_the_most_frequent_words_as_tiles(qtbot, explorer, word_run):
    vocab = load_dataset("lee").spec.vocab
    src = open_run(qtbot, explorer, word_run)
    assert len(src) == PROBE and src.words == vocab[:PROBE]  # the probe is the most frequent words
    assert src.describe(0) == "the" and src.find_word("Said") == vocab.index("said")
    tile = src.images[0]
    assert tile.dtype == np.uint8 and tile.shape == (32, 96, 3) and tile.std() > 0  # the word is drawn
    explorer._on_hover(3)
    assert f"<b>{vocab[3]}</b>" in explorer.item_text.text()
    assert not explorer.item_image.pixmap().isNull()


def test_clicking_a_word_lists_its_nearest_words(qtbot, explorer, word_run):
    src = open_run(qtbot, explorer, word_run)
    i = src.find_word("government")
    explorer._on_click(i)
    assert explorer.gallery.title.text().startswith("15 nearest neighbours of government")
    unit = src.embeddings / np.linalg.norm(src.embeddings, axis=1, keepdims=True)
    cos = unit @ unit[i]
    cos[i] = -np.inf
    expected = [src.words[j] for j in np.argsort(-cos)[:15]]
    assert [src.describe(j) for j in explorer._gallery_indices] == expected


def test_analogy_slots_take_typed_words(qtbot, word_run, explorer):
    src = open_run(qtbot, explorer, word_run)
    panel = AnalogyPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_source(src)
    slots = panel.slots
    assert all(slot.word.isVisible() for slot in slots)
    for slot, word in zip(slots, ("police", "people", "government")):
        slot.word.clear()
        qtbot.keyClicks(slot.word, word)
        qtbot.keyClick(slot.word, Qt.Key_Return)
    assert panel.query() == tuple(src.find_word(w) for w in ("police", "people", "government"))
    assert slots[0].text.text() == "police"
    slots[1].word.clear()
    qtbot.keyClicks(slots[1].word, "zebrafish")
    qtbot.keyClick(slots[1].word, Qt.Key_Return)
    assert "'zebrafish' is not among the 200 words of this map" in slots[1].text.text()
    assert panel.query()[1] == src.find_word("people")  # the last good word stays


def test_the_textfile_dataset_asks_for_a_file(qtbot, monkeypatch, tmp_path):
    import ui.run_panel as run_panel_module
    from ui.run_panel import RunPanel

    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.select_method("word2vec")
    i = panel.dataset.findData("textfile")
    assert panel.dataset.itemText(i).endswith("(needs a file)")
    panel.select_dataset("textfile")
    assert "Text file needs a file" in " ".join(panel.problems())
    story = tmp_path / "story.txt"
    monkeypatch.setattr(run_panel_module.QFileDialog, "getOpenFileName",
                        lambda *args, **kwargs: (str(story), "Text files (*.txt *.text *.md)"))
    panel._browse_root()
    assert panel.root.text() == str(story) and not panel.problems()
    assert panel.run_config().data_root == str(story)


def test_a_word_map_is_coloured_by_word_frequency_on_an_ordered_scale(qtbot, explorer, word_run):
    """Words have no labels: "label" made every word grey and "unlabelled (200)". Frequency in the corpus is
    offered instead, chosen at once, in ordered bins (rare to frequent) on the theme's ordered scale."""
    from ui import theme
    from workbench.explore import WORD_FREQUENCY
    src = open_run(qtbot, explorer, word_run)
    options = [explorer.colour_combo.itemText(i) for i in range(explorer.colour_combo.count())]
    assert "label" not in options and options[0] == WORD_FREQUENCY
    assert explorer.colour_combo.currentText() == WORD_FREQUENCY
    counts = load_dataset("lee").spec.word_counts
    assert list(src.word_counts) == counts[:PROBE]
    entries = explorer.scatter.legend_entries()
    assert len(entries) >= 3 and not any("unlabelled" in e for e in entries)
    low, high = (int(e.split("–")[0].split()[0].replace(",", "")) for e in (entries[0], entries[-1]))
    assert low <= min(counts[:PROBE]) and high <= max(counts[:PROBE]) and low < high  # rare first, frequent last
    colours = [b.color().name().upper() for b in explorer.scatter.brushes()]
    assert colours == theme.ordered_colours(len(entries))
