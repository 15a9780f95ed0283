"""The analogy panel on a source whose answers are known: embeddings are one-hot factor codes side by side."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

import ui.analogy_panel as panel_module
from ui.analogy_panel import EMPTY_TEXT, MATCH, MISMATCH, AnalogyPanel
from workbench.explore import EmbeddingSource

FACTORS = {"shape": ["circle", "square", "triangle", "cross"], "colour": ["red", "green", "blue"],
           "size": ["small", "large"]}


def factor_source(copies: int = 1) -> EmbeddingSource:
    """Every shape × colour × size once (or `copies` times with a little noise): a − b + c has one answer."""
    combos = np.array(list(itertools.product(*(range(len(v)) for v in FACTORS.values()))) * copies)
    codes = {name: combos[:, j] for j, name in enumerate(FACTORS)}
    emb = np.hstack([np.eye(len(v), dtype=np.float32)[codes[k]] for k, v in FACTORS.items()])
    if copies > 1:
        emb += np.random.default_rng(0).normal(0, 0.01, emb.shape).astype(np.float32)
    n = len(combos)
    images = np.zeros((n, 8, 8, 3), np.uint8)
    images[..., 0] = (codes["colour"] * 100)[:, None, None]
    return EmbeddingSource(Path("."), "toy", 0, emb, codes["shape"].copy(), np.arange(n), images,
                           list(FACTORS["shape"]), codes, {k: list(v) for k, v in FACTORS.items()}, "toy")


def find_item(src: EmbeddingSource, **values: str) -> int:
    ok = np.ones(len(src), bool)
    for k, v in values.items():
        ok &= src.factors[k] == FACTORS[k].index(v)
    return int(np.flatnonzero(ok)[0])


@pytest.fixture
def panel(qtbot):
    p = AnalogyPanel()
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    return p


def type_index(qtbot, slot, i: int) -> None:
    slot.spin.selectAll()
    qtbot.keyClicks(slot.spin, str(i))
    qtbot.keyClick(slot.spin, Qt.Key_Return)


def test_empty_state_until_a_source_arrives(qtbot, panel):
    assert panel.empty.isVisible() and panel.empty.text() == EMPTY_TEXT
    panel.set_source(factor_source())
    assert not panel.empty.isVisible() and panel.find_button.isVisible()
    panel.set_source(None)
    assert panel.empty.isVisible()


@pytest.mark.parametrize("method", ["3CosAdd", "3CosMul"])
def test_known_analogy_is_answered_first(qtbot, panel, method):
    src = factor_source()
    panel.set_source(src)
    # red square − blue square + blue circle = red circle (all small)
    a = find_item(src, shape="square", colour="red", size="small")
    b = find_item(src, shape="square", colour="blue", size="small")
    c = find_item(src, shape="circle", colour="blue", size="small")
    answer = find_item(src, shape="circle", colour="red", size="small")
    for slot, i in zip(panel.slots, (a, b, c)):
        type_index(qtbot, slot, i)
    assert panel.query() == (a, b, c)
    assert panel.slots[0].text.text() == src.describe(a)
    assert panel.expected_label.text() == "expected: circle · red · small"
    (panel.cosmul if method == "3CosMul" else panel.cosadd).click()
    with qtbot.waitSignal(panel.query_made, timeout=5000) as made:
        qtbot.mouseClick(panel.find_button, Qt.LeftButton)
    assert made.args[:3] == [a, b, c] and made.args[3][0] == answer
    assert panel.results.count() == 8
    items = panel.results.items()
    assert items[0][1].startswith("score ") and items[0][1].endswith(src.describe(answer))
    assert items[0][3] == MATCH and MISMATCH in [f for *_, f in items]
    assert "top-1 matches the expected factors:" in panel.verdict_label.text()
    assert ">yes<" in panel.verdict_label.text()
    assert method in panel.results.title.text()


def test_a_wrong_top_answer_says_no(qtbot, panel):
    src = factor_source()
    src.embeddings = np.random.default_rng(3).normal(size=src.embeddings.shape).astype(np.float32)
    panel.set_source(src)
    a = find_item(src, shape="square", colour="red", size="small")
    b = find_item(src, shape="square", colour="blue", size="small")
    c = find_item(src, shape="circle", colour="blue", size="small")
    answer = find_item(src, shape="circle", colour="red", size="small")
    panel.set_query(a, b, c)
    qtbot.mouseClick(panel.find_button, Qt.LeftButton)
    top = int(panel.results_indices()[0])
    assert (">yes<" in panel.verdict_label.text()) == (top == answer)
    assert panel.results.items()[0][3] == (MATCH if top == answer else MISMATCH)


def test_pick_fills_a_then_b_then_c_and_answers(qtbot, panel):
    src = factor_source()
    panel.set_source(src)
    panel.pick(3)
    assert panel.query() == (-1, -1, -1)  # picking is off: map clicks are ignored
    qtbot.mouseClick(panel.pick_button, Qt.LeftButton)
    assert panel.pick_button.isChecked()
    panel.pick(3)
    assert panel.query() == (3, -1, -1)
    panel.pick(10)
    assert panel.query() == (3, 10, -1) and panel.results.count() == 0
    with qtbot.waitSignal(panel.query_made, timeout=5000):
        panel.pick(17)
    assert panel.query() == (3, 10, 17) and panel.results.count() == 8
    panel.pick(5)  # round again, starting at A
    assert panel.query() == (5, 10, 17)


def test_random_example_is_a_clean_analogy(qtbot, panel):
    src = factor_source(copies=3)
    panel.set_source(src)
    for _ in range(5):
        with qtbot.waitSignal(panel.query_made, timeout=5000):
            qtbot.mouseClick(panel.random_button, Qt.LeftButton)
        a, b, c = panel.query()
        f = src.factors
        assert f["shape"][a] == f["shape"][b] and f["colour"][a] != f["colour"][b]
        assert f["colour"][c] == f["colour"][b] and f["shape"][c] != f["shape"][a]
        assert f["size"][a] == f["size"][b] == f["size"][c]
        assert ">yes<" in panel.verdict_label.text()  # one-hot embeddings always get it right


def test_random_example_without_factors_uses_three_items(qtbot, panel):
    src = factor_source()
    src.factors, src.factor_values = {}, {}
    panel.set_source(src)
    qtbot.mouseClick(panel.random_button, Qt.LeftButton)
    q = panel.query()
    assert len(set(q)) == 3 and min(q) >= 0
    assert panel.results.count() == 8
    assert not panel.expected_label.isVisible() and not panel.verdict_label.isVisible()


def test_new_embeddings_of_the_same_items_keep_the_query(qtbot, panel):
    src = factor_source()
    panel.set_source(src)
    panel.set_query(1, 2, 3)
    qtbot.mouseClick(panel.find_button, Qt.LeftButton)
    later = factor_source()
    later.embeddings = later.embeddings[::-1].copy()
    with qtbot.waitSignal(panel.query_made, timeout=5000):
        panel.set_source(later)  # a live snapshot: same items, new embeddings
    assert panel.query() == (1, 2, 3)
    other = factor_source(copies=2)
    panel.set_source(other)  # other items: start over
    assert panel.query() == (-1, -1, -1) and panel.results.count() == 0


def test_large_sources_are_answered_off_the_gui_thread(qtbot, panel, monkeypatch):
    monkeypatch.setattr(panel_module, "OFF_THREAD_VALUES", 10)
    src = factor_source()
    panel.set_source(src)
    panel.set_query(0, 1, 2)
    qtbot.mouseClick(panel.find_button, Qt.LeftButton)
    assert panel.results.count() == 0 and "searching" in panel.status.text()
    qtbot.waitUntil(lambda: panel.results.count() == 8, timeout=5000)
