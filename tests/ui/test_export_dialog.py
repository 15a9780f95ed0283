"""The Export dialog: refusals shown, a question before replacing, the export in a child process that may crash."""
from __future__ import annotations

import hashlib
import os
import sys

import pytest
from PySide6.QtWidgets import QMessageBox

from ui.export_dialog import ExportDialog
from ui.export_process import ExportProcess
from workbench.export import is_workbench_export, read_export

TIMEOUT = 240_000


pytestmark = pytest.mark.slow  # exports in child processes


@pytest.fixture
def dialog(qtbot, add_widget, real_run):
    d = add_widget(ExportDialog(real_run), idle=lambda: d.task is None, timeout=60_000)
    d.projection_boxes["pca"].setChecked(False)  # rows only: the quickest real export
    d.show()
    return d


@pytest.fixture
def no_question(monkeypatch):
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.No)
    return asked


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("target", ["checkpoints/best.pt", "config.json", "events.jsonl"])
def test_the_runs_own_files_are_refused_with_a_message(dialog, real_run, no_question, target):
    before = sha(real_run / target)
    dialog.path.setText(str(real_run / target))
    dialog.export_button.click()
    assert dialog.task is None and not no_question
    text = dialog.message.text()
    assert "Cannot export there" in text and ("run folder" in text or "checkpoints/ folder" in text)
    assert sha(real_run / target) == before


def test_a_symlink_is_refused(dialog, tmp_path, no_question):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "e.h5").symlink_to(victim)
    dialog.path.setText(str(tmp_path / "e.h5"))
    dialog.export_button.click()
    assert dialog.task is None and "symbolic link" in dialog.message.text()
    assert victim.read_text() == "precious"


def test_replacing_a_file_that_is_not_an_export_asks_first(dialog, qtbot, tmp_path, monkeypatch):
    other = tmp_path / "results.h5"
    other.write_text("a week of results")
    dialog.path.setText(str(other))
    answers = [QMessageBox.No, QMessageBox.Yes]
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answers.pop(0))
    dialog.export_button.click()  # No: nothing happens to the file
    assert dialog.task is None and other.read_text() == "a week of results"
    assert "not an SSL Workbench export" in asked[0]
    dialog.export_button.click()  # Yes: the child runs with --force
    qtbot.waitUntil(lambda: dialog.written is not None, timeout=TIMEOUT)
    assert is_workbench_export(other) and read_export(other).embedding_shape[0] == 359


def crash_after_temp_file(run_dir, out, *rest):
    """A child that starts writing the export's temporary file and then crashes inside 'HDF5'."""
    script = ("import os, signal, sys, json; p = sys.argv[1];"
              "d, n = os.path.split(p); t = os.path.join(d, '.' + n + '.tmp-' + str(os.getpid()));"
              "open(t, 'wb').write(b'half an export');"
              "print(json.dumps({'type': 'progress', 'fraction': 0.5, 'stage': 'writing'}), flush=True);"
              "print('HDF5-DIAG: error', file=sys.stderr, flush=True);"
              "os.kill(os.getpid(), signal.SIGSEGV)")
    return ["-c", script, str(out)]


def test_a_crash_while_writing_ends_the_child_not_the_app(dialog, qtbot, tmp_path, monkeypatch):
    # before: the export ran on a GUI thread, and a segfault in HDF5 (a full disk) killed the app
    monkeypatch.setattr(ExportProcess, "arguments", staticmethod(crash_after_temp_file))
    out = tmp_path / "e.h5"
    dialog.path.setText(str(out))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=60_000)
    text = dialog.message.text()
    assert "Export failed" in text and "crashed" in text and "SIGSEGV" in text
    assert list(tmp_path.iterdir()) == []  # the half-written temporary file is gone
    assert dialog.export_button.isEnabled()


def slow_child(run_dir, out, *rest):
    script = ("import os, sys, json, time; p = sys.argv[1];"
              "d, n = os.path.split(p); t = os.path.join(d, '.' + n + '.tmp-' + str(os.getpid()));"
              "open(t, 'wb').write(b'part');"
              "print(json.dumps({'type': 'progress', 'fraction': 0.1, 'stage': 'embedding'}), flush=True);"
              "time.sleep(120)")
    return ["-c", script, str(out)]


def test_cancel_ends_the_child_and_removes_its_temp_file(dialog, qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(ExportProcess, "arguments", staticmethod(slow_child))
    dialog.path.setText(str(tmp_path / "e.h5"))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() == 10, timeout=60_000)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=30_000)
    assert "cancelled" in dialog.message.text()
    assert list(tmp_path.iterdir()) == []


def test_cli_child_cancelled_by_sigterm_leaves_nothing(real_run, tmp_path):
    """What Cancel sends: the real export stops at its next check and deletes its temporary file."""
    import json
    import signal
    import subprocess

    out = tmp_path / "e.h5"
    child = subprocess.Popen([sys.executable, "-m", "workbench.cli", "export", str(real_run), "--out", str(out),
                              "--split", "all", "--projection", "tsne", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if json.loads(line).get("stage") == "tsne projection":
                break  # rows are in the temporary file by now
        assert [p.name for p in tmp_path.iterdir()] == [f".e.h5.tmp-{child.pid}"]
        child.send_signal(signal.SIGTERM)
        rest = child.stdout.read()
        assert child.wait(timeout=120) == 130
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert '"type": "cancelled"' in rest
    assert "export cancelled; nothing was written" in child.stderr.read()
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_in_the_dialog_is_a_message(dialog, qtbot, tmp_path):
    """A real 1 MiB tmpfs, full: the dialog says so and the app lives (root only)."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not allowed here")
    try:
        stats = os.statvfs(mount)
        (mount / "filler").write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - 64 * 1024))
        dialog.split.setCurrentIndex(dialog.split.findData("all"))
        dialog.path.setText(str(mount / "e.h5"))
        dialog.export_button.click()
        qtbot.waitUntil(lambda: dialog.task is None, timeout=TIMEOUT)
        assert f"cannot write {mount / 'e.h5'}: no space left on device" in dialog.message.text()
        assert sorted(p.name for p in mount.iterdir()) == ["filler"]
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_closing_the_dialog_mid_export_ends_the_child_and_cleans_up(qtbot, real_run, tmp_path, monkeypatch):
    from PySide6.QtCore import Qt

    import ui.export_process as export_process

    monkeypatch.setattr(ExportProcess, "arguments", staticmethod(slow_child))
    d = ExportDialog(real_run)
    d.setAttribute(Qt.WA_DeleteOnClose)
    d.projection_boxes["pca"].setChecked(False)
    d.show()
    d.path.setText(str(tmp_path / "e.h5"))
    d.export_button.click()
    qtbot.waitUntil(lambda: d.progress.value() == 10, timeout=60_000)
    d.close()  # the dialog goes away; the export is cancelled and still cleaned up
    qtbot.waitUntil(lambda: not export_process._running, timeout=30_000)
    assert list(tmp_path.iterdir()) == []
