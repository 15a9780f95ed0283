"""Caption search tab: results come from the background, and a run without a text tower says so."""
from __future__ import annotations

import numpy as np
import pytest

from ui.caption_search import CaptionSearch
from workbench.caption_search import CaptionIndex, Match


class FakeIndex(CaptionIndex):
    """Scores by a fixed table: image r scores 1 − r / 10 for every caption."""

    def __init__(self):
        super().__init__(run_dir=__import__("pathlib").Path("clip-run"), method=None,
                         images=np.zeros((6, 32, 32, 3), np.uint8), image_codes=np.zeros((6, 2), np.float32),
                         captions=["a red shape", "a blue shape"], caption_codes=np.zeros((2, 2), np.float32))

    def unknown_words(self, text):
        return [w for w in text.split() if w == "blob"]

    def images_for(self, text, k=24):
        return [Match(1 - r / 10, row=r) for r in range(min(k, 6))]

    def captions_for(self, row, k=10):
        return [Match(0.9, text="a red shape", true=True), Match(0.1, text="a blue shape", true=False)]


def test_typed_caption_shows_images_then_a_picked_image_shows_captions(qtbot, add_widget):
    panel = add_widget(CaptionSearch(), idle=lambda: panel.query.current is None)
    panel.show()
    panel._loaded(FakeIndex())
    panel.caption_edit.setText("a red blob")
    with qtbot.waitSignal(panel.searched, timeout=10_000):
        panel.search()
    assert panel.images.count() == 6
    assert "blob" in panel.status.text()  # the unknown word is named
    panel.images.setCurrentRow(2)
    qtbot.waitUntil(lambda: panel.captions.count() == 2, timeout=10_000)
    assert panel.captions.item(0).text().startswith("✓ 0.900")
    assert panel.captions.item(1).text().startswith("✗ ")


@pytest.mark.slow  # trains the session's real run
def test_a_run_without_a_text_encoder_is_refused_in_one_line(qtbot, add_widget, real_run):
    panel = add_widget(CaptionSearch(), idle=lambda: panel.loader.current is None)
    panel.show()
    panel.set_run(real_run)  # rotation: no captions to search
    qtbot.waitUntil(lambda: "no text encoder" in panel.status.text(), timeout=20_000)
    assert not panel.search_button.isEnabled()
