"""RunsBrowser lists runs with their status and numbers, and its actions act on the selection."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from ui.runs_browser import COL, PATH_ROLE, RunsBrowser  # noqa: E402
from workbench.config import new_run_config  # noqa: E402
from workbench.events import EVENTS_FILE  # noqa: E402
from workbench.runs import PID_FILE, RunDir, create_run_dir  # noqa: E402

T0 = time.time() - 3600
LOCKS: dict[Path, object] = {}  # run -> the lock "its worker" holds (this test process stands in)


@pytest.fixture(autouse=True)
def _release_locks():
    yield
    for lock in LOCKS.values():
        lock.release()
    LOCKS.clear()


def hold_lock(path: Path) -> None:
    """What a live worker does: hold the run's lock and name itself in worker.pid."""
    (path / PID_FILE).write_text(str(os.getpid()))
    LOCKS[path] = RunDir(path).acquire()


def ev(type_, step, epoch, t, **fields):
    return json.dumps({"type": type_, "t": t, "step": step, "epoch": epoch, **fields})


def write_run(root: Path, name: str, method: str, dataset: str, events: list[str], epochs: int = 3,
              last_pt: bool = False, alive: bool = False) -> Path:
    path = create_run_dir(new_run_config(method, dataset, epochs=epochs), path=root / name)
    (path / EVENTS_FILE).write_text("".join(e + "\n" for e in events))
    if last_pt:
        (path / "checkpoints" / "last.pt").write_bytes(b"not read by the browser")
    if alive:
        hold_lock(path)
    return path


def make_runs(root: Path) -> dict[str, Path]:
    started = dict(method="x", title="X", dataset="x", device="CPU", steps_per_epoch=10, total_steps=30,
                   epochs=3, batch_size=64, parameters=1, train_size=1, test_size=5000, resumed=False)
    return {
        "done": write_run(root, "20250101-100000-simclr-mnist5k", "simclr", "mnist5k", [
            ev("started", 0, 0, T0, **started),
            ev("eval", 10, 1, T0 + 10, knn_top1=0.80, knn_best=0.80),
            ev("eval", 30, 3, T0 + 30, knn_top1=0.85, knn_best=0.875),
            ev("eval", 30, 3, T0 + 31, linear_top1=0.9123),
            ev("finished", 30, 3, T0 + 32, stopped=False, message="training finished", seconds=32)],
            last_pt=True),
        "broken": write_run(root, "20250101-110000-rotation-digits", "rotation", "digits", [
            ev("started", 0, 0, T0 + 100, **started),
            ev("step", 5, 0, T0 + 105, loss=1.0),
            ev("failed", 5, 0, T0 + 106, message="the loss became nan at step 5")]),
        "killed": write_run(root, "20250101-120000-rotation-shapes", "rotation", "shapes", [
            ev("started", 0, 0, T0 + 200, **started),
            ev("eval", 10, 1, T0 + 210, knn_top1=0.5, knn_best=0.5,
               scores={"analogy top-1": 0.364, "analogy top-1 · colour": 0.423}),
            ev("step", 14, 1, T0 + 214, loss=0.5)], last_pt=True),
        "live": write_run(root, "20250101-130000-autoencoder-digits", "autoencoder", "digits", [
            ev("started", 0, 0, T0 + 300, **started),
            ev("step", 3, 0, T0 + 303, loss=0.1)], alive=True),
    }


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    return root, make_runs(root)


@pytest.fixture
def browser(qtbot, runs):
    root, _ = runs
    b = RunsBrowser(root)
    qtbot.addWidget(b)
    b.resize(1200, 500)
    b.show()
    qtbot.waitExposed(b)
    qtbot.waitUntil(lambda: b.model.rowCount() == 4, timeout=10_000)
    return b


def cell(browser, path: Path, column: str) -> str:
    for r in range(browser.proxy.rowCount()):
        if browser.proxy.index(r, 0).data(PATH_ROLE) == str(path):
            return browser.proxy.index(r, COL[column]).data(Qt.DisplayRole)
    raise AssertionError(f"{path.name} not in the table")


def test_the_score_column_shows_analogies_and_word_similarity(qtbot, tmp_path, runs):
    _, r = runs
    words = write_run(tmp_path / "runs", "20250101-140000-word2vec-lee", "word2vec", "lee", [
        ev("eval", 50, 1, T0 + 400, scores={"wordsim353 ρ": 0.503, "simlex999 ρ": 0.264}),
        ev("eval", 90, 2, T0 + 410, scores={"wordsim353 ρ": 0.512, "simlex999 ρ": 0.27})])
    b = RunsBrowser(tmp_path / "runs")
    qtbot.addWidget(b)
    qtbot.waitUntil(lambda: b.model.rowCount() == 5, timeout=10_000)
    assert cell(b, words, "Score") == "wordsim353 ρ 0.512"  # the last evaluation's, not the first
    assert cell(b, words, "Best kNN") == "—"  # words have no labels to vote with
    assert cell(b, r["killed"], "Score") == "analogy top-1 36.4 %"
    assert cell(b, r["done"], "Score") == "—"
    row = next(i for i in range(b.proxy.rowCount()) if b.proxy.index(i, 0).data(PATH_ROLE) == str(words))
    tip = b.proxy.index(row, COL["Score"]).data(Qt.ToolTipRole)
    assert tip == "wordsim353 ρ 0.512\nsimlex999 ρ 0.270"


def select(qtbot, browser, *paths: Path) -> None:
    """Click the first row, ctrl+click the others, as a person would."""
    view = browser.table
    for i, path in enumerate(paths):
        row = next(r for r in range(browser.proxy.rowCount())
                   if browser.proxy.index(r, 0).data(PATH_ROLE) == str(path))
        rect = view.visualRect(browser.proxy.index(row, COL["Method"]))
        qtbot.mouseClick(view.viewport(), Qt.LeftButton,
                         Qt.ControlModifier if i else Qt.NoModifier, rect.center())


def test_the_table_shows_each_run_with_its_status_and_numbers(browser, runs):
    _, r = runs
    assert cell(browser, r["done"], "Status") == "finished"
    assert cell(browser, r["broken"], "Status") == "failed"
    assert cell(browser, r["killed"], "Status") == "interrupted"
    assert cell(browser, r["live"], "Status") == "running"
    assert cell(browser, r["done"], "Best kNN") == "87.5 %"
    assert cell(browser, r["done"], "Linear probe") == "91.2 %"
    assert cell(browser, r["broken"], "Best kNN") == "—"
    assert cell(browser, r["done"], "Epochs") == "3 / 3"
    assert cell(browser, r["killed"], "Epochs") == "1 / 3"
    assert cell(browser, r["done"], "Method") == "simclr" and cell(browser, r["done"], "Dataset") == "mnist5k"
    assert cell(browser, r["done"], "Started") == time.strftime("%Y-%m-%d %H:%M", time.localtime(T0))
    # newest first
    assert browser.proxy.index(0, 0).data(PATH_ROLE) == str(r["live"])


def test_compare_open_and_resume_follow_the_selection(qtbot, browser, runs):
    _, r = runs
    button = browser.buttons
    assert not button["Compare curves"].isEnabled() and not button["Open"].isEnabled()
    select(qtbot, browser, r["done"])
    assert button["Open"].isEnabled() and not button["Compare curves"].isEnabled()
    assert not button["Resume"].isEnabled()  # finished: nothing to resume
    select(qtbot, browser, r["done"], r["broken"])
    assert button["Compare curves"].isEnabled() and not button["Open"].isEnabled()
    with qtbot.waitSignal(browser.compare_runs) as compared:
        qtbot.mouseClick(button["Compare curves"], Qt.LeftButton)
    assert sorted(compared.args[0]) == sorted([r["done"], r["broken"]])

    select(qtbot, browser, r["broken"])
    assert not button["Resume"].isEnabled()  # failed, but never checkpointed
    select(qtbot, browser, r["live"])
    assert not button["Resume"].isEnabled() and not button["Delete…"].isEnabled()
    select(qtbot, browser, r["killed"])
    assert button["Resume"].isEnabled()
    with qtbot.waitSignal(browser.resume_run) as resumed:
        qtbot.mouseClick(button["Resume"], Qt.LeftButton)
    assert resumed.args[0] == r["killed"]

    row = next(i for i in range(browser.proxy.rowCount())
               if browser.proxy.index(i, 0).data(PATH_ROLE) == str(r["done"]))
    rect = browser.table.visualRect(browser.proxy.index(row, 1))
    with qtbot.waitSignal(browser.open_run) as opened:
        qtbot.mouseClick(browser.table.viewport(), Qt.LeftButton, pos=rect.center())
        qtbot.mouseDClick(browser.table.viewport(), Qt.LeftButton, pos=rect.center())
    assert opened.args[0] == r["done"]


def test_delete_asks_naming_the_run_then_removes_its_folder(qtbot, browser, runs, monkeypatch):
    _, r = runs
    asked = []

    def confirm(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(confirm))
    select(qtbot, browser, r["broken"])
    with qtbot.waitSignal(browser.refreshed, timeout=10_000):
        qtbot.mouseClick(browser.buttons["Delete…"], Qt.LeftButton)
    assert r["broken"].name in asked[0]
    assert not r["broken"].exists()
    assert browser.model.rowCount() == 3


def test_delete_is_refused_while_a_worker_runs_the_run(qtbot, browser, runs, monkeypatch):
    _, r = runs
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: pytest.fail("must not ask")))
    select(qtbot, browser, r["done"])
    # the run's worker started after the table was drawn
    hold_lock(r["done"])
    qtbot.mouseClick(browser.buttons["Delete…"], Qt.LeftButton)
    assert r["done"].exists()
    assert "stop it" in browser.notice.text()


def test_new_runs_appear_on_refresh_and_the_selection_stays(qtbot, browser, runs):
    root, r = runs
    select(qtbot, browser, r["done"], r["killed"])
    write_run(root, "20250101-140000-simclr-shapes", "simclr", "shapes", [])
    with qtbot.waitSignal(browser.refreshed, timeout=10_000):
        browser.refresh()
    assert browser.model.rowCount() == 5
    assert cell(browser, root / "20250101-140000-simclr-shapes", "Status") == "new"
    assert sorted(browser.selected_paths()) == sorted([r["done"], r["killed"]])


def test_a_killed_worker_turns_a_running_run_interrupted(qtbot, browser, runs):
    _, r = runs
    LOCKS.pop(r["live"]).release()  # its process is gone (worker.pid stays), events unchanged
    with qtbot.waitSignal(browser.refreshed, timeout=10_000):
        browser.refresh()
    assert cell(browser, r["live"], "Status") == "interrupted"


def test_the_filter_matches_method_dataset_and_status(qtbot, browser, runs):
    _, r = runs
    qtbot.keyClicks(browser.filter_edit, "rotation")
    assert browser.proxy.rowCount() == 2
    browser.filter_edit.clear()
    qtbot.keyClicks(browser.filter_edit, "interrupted shapes")
    assert browser.proxy.rowCount() == 1 and cell(browser, r["killed"], "Status") == "interrupted"
    browser.filter_edit.clear()
    qtbot.keyClicks(browser.filter_edit, "mnist5k")
    assert browser.proxy.rowCount() == 1
    browser.filter_edit.clear()
    qtbot.keyClicks(browser.filter_edit, "nothing-like-this")
    assert browser.stack.currentWidget() is browser.empty_label


def test_an_empty_folder_says_how_to_start(qtbot, tmp_path):
    b = RunsBrowser(tmp_path)
    qtbot.addWidget(b)
    with qtbot.waitSignal(b.refreshed, timeout=10_000):
        pass
    assert b.stack.currentWidget() is b.empty_label
    assert f"No runs yet in {tmp_path}" in b.empty_label.text()
    assert "Pick a method and press Start" in b.empty_label.text()


def test_change_folder_picks_a_new_root(qtbot, browser, runs, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(other)))
    with qtbot.waitSignal(browser.root_changed) as changed:
        qtbot.mouseClick(browser.change_button, Qt.LeftButton)
    assert changed.args[0] == other and browser.root == other
    qtbot.waitUntil(lambda: browser.stack.currentWidget() is browser.empty_label, timeout=10_000)
    assert browser.model.rowCount() == 0 and str(other) in browser.root_label.text()


def test_the_floor_and_score_columns_are_in_view_at_1280_px(browser, qtbot):
    """The run-name column stretched over half the table pushed "vs floor" and "Score" out of a 1280-px window;
    the floor comparison is read at a glance, without scrolling."""
    browser.resize(1900, 500)  # a full-HD window made smaller
    qtbot.wait(50)
    browser.resize(930, 500)  # the table's share of a 1280×720 window
    qtbot.wait(50)
    header = browser.table.horizontalHeader()
    right = browser.table.viewport().width()
    for name in ("Best kNN", "vs floor"):
        col = COL[name]
        assert header.sectionViewportPosition(col) + header.sectionSize(col) <= right, name
    assert header.sectionSize(COL["Name"]) < right / 3
    browser.resize(1900, 500)  # room again: names whole, not cut in the middle
    qtbot.wait(50)
    assert header.sectionSize(COL["Name"]) >= browser.table.sizeHintForColumn(COL["Name"])
