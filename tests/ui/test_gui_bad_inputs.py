"""Damaged run folders and too-small data: the GUI says what is wrong in one message and keeps working."""
from __future__ import annotations

import shutil

import numpy as np
from PIL import Image

from ui.run_panel import RunPanel
from ui.runs_browser import scan_runs


def _copy(real_run, dest):
    shutil.copytree(real_run, dest)
    return dest


def _spoil_config(run_dir):
    path = run_dir / "config.json"
    path.write_bytes(path.read_bytes().replace(b'"rotation"', b'"rot\xe9tion"', 1))


def test_open_run_with_non_utf8_config_shows_one_message(window, real_run, tmp_path):
    run_dir = _copy(real_run, tmp_path / "bad-config")
    _spoil_config(run_dir)
    window.open_run(run_dir)  # before the fix: UnicodeDecodeError from a tab reading config.json
    assert window.banner.isVisible()
    text = window.banner.text.text()
    assert "config.json" in text and "not UTF-8" in text
    assert window.run_dir != run_dir


def test_open_run_with_undecodable_event_lines_replays_the_rest(window, real_run, tmp_path):
    run_dir = _copy(real_run, tmp_path / "bad-events")
    events = run_dir / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    events.write_bytes(b"".join(lines[:3]) + b'{"type": "log", "message": "\xff\xfe"}\n' + b"".join(lines[3:]))
    window.open_run(run_dir)  # before the fix: UnicodeDecodeError while replaying
    assert window.run_dir == run_dir
    assert len(window.dashboard.data.loss.data()[0]) > 0


def test_one_damaged_run_does_not_break_the_runs_list(real_run, tmp_path):
    root = tmp_path / "runs"
    good = _copy(real_run, root / "a-good")
    _spoil_config(_copy(real_run, root / "b-bad-config"))
    bad_events = _copy(real_run, root / "c-bad-events")
    with open(bad_events / "events.jsonl", "ab") as fh:
        fh.write(b"\xc3\x28 not utf-8\n")
    rows, _ = scan_runs(root, {})
    names = [r.summary.path.name for r in rows]
    assert good.name in names and bad_events.name in names
    assert next(r for r in rows if r.summary.path.name == bad_events.name).summary.status == "finished"


def _image_folder(path, n):
    path.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((12, 12, 3), 40 * i, np.uint8)).save(path / f"{i}.png")
    return path


def test_folder_too_small_to_train_disables_start_with_the_reason(qtbot, tmp_path):
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.select_method("moco")
    panel.set_folder(_image_folder(tmp_path / "two", 2))
    # before: Start was enabled and the run failed with "Expected more than 1 value per channel"
    assert not panel.start_button.isEnabled()
    assert "holds 2 images; training needs at least 3" in panel.problem.text()
    panel.set_folder(_image_folder(tmp_path / "three", 3))
    assert not any("at least 3" in p for p in panel.problems())


def test_a_typed_relative_folder_is_stored_absolute(qtbot, tmp_path, monkeypatch):
    _image_folder(tmp_path / "imgs", 4)
    monkeypatch.chdir(tmp_path)
    panel = RunPanel()
    qtbot.addWidget(panel)
    panel.show()  # the folder row counts only while it is visible
    panel.select_method("rotation")
    panel.set_folder("imgs")
    assert panel.run_config().data_root == str(tmp_path / "imgs")
