"""The analogy panel on a source whose answers are known: embeddings are one-hot factor codes side by side.

Single queries mark the answers that have the expected factors; the analogy test scores whole sets."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

import ui.analogy_panel as panel_module
from ui import theme
from ui.analogy_panel import EMPTY_TEXT, EXPECTED_BADGE, NO_FACTORS_TEXT, AnalogyPanel
from workbench import analysis
from workbench.embeddings import Cancelled
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
    assert items[0][1].startswith(f"{EXPECTED_BADGE}\nscore ") and items[0][1].endswith(src.describe(answer))
    MATCH, MISMATCH = theme.agreement()
    assert items[0][3] == MATCH and MISMATCH in [f for *_, f in items]
    # only the answers with the expected factors wear the badge
    for (_, caption, _, frame), j in zip(items, made.args[3]):
        assert (EXPECTED_BADGE in caption) == (frame == MATCH) == (j == answer)
    assert "top-1 matches the expected factors:" in panel.verdict_label.text()
    assert ">yes<" in panel.verdict_label.text() and "ranks 1" in panel.verdict_label.text()
    assert method in panel.results.title.text()
    # the expected slot says what a right answer is, how many items are one, and where the best ranks
    assert panel.expected_slot.isVisible()
    text = panel.expected_slot.text.text()
    assert text.startswith("circle · red · small\n1 item like this") and f"rank 1 ({method})" in text


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
    MATCH, MISMATCH = theme.agreement()
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
        codes = np.stack([src.factors[k] for k in FACTORS], axis=1)
        # a and b differ in exactly one factor (the swap); c has b's value of it and differs in one other
        ab, bc = codes[a] != codes[b], codes[b] != codes[c]
        assert ab.sum() == 1 and bc.sum() == 1 and not (ab & bc).any()
        assert panel.expected_label.text().startswith("expected: ")
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


def test_a_query_whose_factors_disagree_has_no_expected_answer(qtbot, panel):
    src = factor_source()
    panel.set_source(src)
    # three items that differ in shape pairwise: nothing clear about the answer's shape
    a = find_item(src, shape="circle", colour="red", size="small")
    b = find_item(src, shape="square", colour="red", size="small")
    c = find_item(src, shape="triangle", colour="red", size="small")
    panel.set_query(a, b, c)
    assert panel.expected_label.text() == "expected: red · small"  # colour and size are still clear
    panel.set_query(a, find_item(src, shape="square", colour="green", size="large"),
                    find_item(src, shape="triangle", colour="blue", size="small"))
    assert panel.expected_label.text().startswith("expected: no single answer")
    assert panel.expected_slot.text.text() == "no single answer"


def test_analogy_test_table_shows_model_next_to_raw_pixels(qtbot, panel):
    src = factor_source(copies=3)
    panel.set_source(src)
    assert panel.test_button.isEnabled() and not panel.test_table.isVisible()
    with qtbot.waitSignal(panel.test_done, timeout=20_000) as done:
        qtbot.mouseClick(panel.test_button, Qt.LeftButton)
    report = done.args[0]
    assert report is panel.test_report()
    assert set(report) >= {"queries", "chance", "model", "floor_raw_pixels"}
    table = panel.test_table
    assert table.isVisible() and table.rowCount() == 4 and table.columnCount() == 4
    assert [table.verticalHeaderItem(r).text() for r in range(4)] == \
        ["shape swap", "colour swap", "size swap", "overall"]
    assert [table.horizontalHeaderItem(c).text() for c in range(4)] == \
        ["3CosAdd top-1", "3CosAdd top-5", "3CosMul top-1", "3CosMul top-5"]
    # one-hot factor embeddings answer every query; each cell also names the raw-pixel floor
    for r in range(4):
        for c in range(4):
            cell = table.item(r, c).text()
            assert cell.startswith("100.0 %") and "(raw " in cell
    raw = report["floor_raw_pixels"]["3cosadd"]["overall"]["top1"]
    assert table.item(3, 0).text() == f"100.0 %   (raw {100 * raw:.1f} %)"
    assert "queries per factor" in panel.test_status.text() and "toy" in panel.test_status.text()
    assert panel.test_button.text() == "Run analogy test"
    # new embeddings of the same items keep the table (it names what it measured); other items clear it
    panel.set_source(factor_source(copies=3))
    assert table.isVisible()
    panel.set_source(factor_source(copies=2))
    assert not table.isVisible() and panel.test_report() is None


def test_analogy_test_needs_known_factors(qtbot, panel):
    src = factor_source()
    src.factors, src.factor_values = {}, {}
    panel.set_source(src)
    assert not panel.test_button.isEnabled()
    assert panel.test_status.text() == NO_FACTORS_TEXT
    assert not panel.expected_slot.isVisible()


def test_analogy_test_can_be_cancelled(qtbot, panel, monkeypatch):
    import threading
    release = threading.Event()

    def slow_report(*args, cancel=None, **kwargs):
        while not release.wait(0.01):
            if cancel():
                raise Cancelled()
        return {}

    monkeypatch.setattr(analysis, "analogy_report", slow_report)
    panel.set_source(factor_source())
    qtbot.mouseClick(panel.test_button, Qt.LeftButton)
    assert panel.test_button.text() == "Cancel"
    qtbot.mouseClick(panel.test_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.test_status.text() == "test cancelled", timeout=5000)
    assert panel.test_button.text() == "Run analogy test" and not panel.test_table.isVisible()
    release.set()


def test_analogy_test_floor_is_the_runs_raw_input(qtbot, panel, monkeypatch):
    src = factor_source(copies=3)
    calls = []

    def raw_inputs(run_dir, indices):  # stands in for loading the run's test rows
        calls.append((run_dir, indices))
        return src.embeddings.copy()  # a "raw input" that answers every analogy

    monkeypatch.setattr(analysis, "raw_inputs", raw_inputs)
    panel.set_source(src)
    with qtbot.waitSignal(panel.test_done, timeout=20_000) as done:
        panel.run_analogy_test()
    assert calls and calls[0][0] == src.run_dir and np.array_equal(calls[0][1], src.indices)
    assert done.args[0]["floor_raw_pixels"]["3cosadd"]["overall"]["top1"] == 1.0
    assert "(raw 100.0 %)" in panel.test_table.item(3, 0).text()


def test_the_three_operands_and_the_expected_answer_fit_a_1280_px_window(qtbot, panel):
    """At 1280×720 the page has ~930 px: four cards of a 96-px thumbnail and 130-px text needed ~1,000 and the
    expected card and "Random example" were cut off behind a horizontal scroll bar."""
    panel.set_source(factor_source(copies=3))
    with qtbot.waitSignal(panel.query_made, timeout=5000):
        qtbot.mouseClick(panel.random_button, Qt.LeftButton)
    assert panel.expected_slot.isVisible()
    assert panel.minimumSizeHint().width() <= 930, panel.minimumSizeHint()
