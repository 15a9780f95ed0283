"""The export dialog's Compression choice reaches the export command (`--compression`)."""
from __future__ import annotations

import json

from ui.export_dialog import ExportDialog
from ui.export_process import ExportProcess


def test_dialog_offers_the_cli_compressions_and_passes_the_choice(qtbot, tmp_path, monkeypatch):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({}))
    (run / "checkpoints" / "best.pt").write_bytes(b"")
    dialog = ExportDialog(run)
    qtbot.addWidget(dialog)
    names = [dialog.compression.itemData(i) for i in range(dialog.compression.count())]
    assert names == ["none", "lzf", "gzip", "gzip-9"] and dialog.compression.currentData() == "none"
    started = {}
    monkeypatch.setattr(ExportProcess, "start", lambda self, *a, **k: started.update(k) or self)
    dialog.compression.setCurrentIndex(names.index("gzip-9"))
    dialog.path.setText(str(tmp_path / "archive.h5"))
    dialog.start()
    assert started["compression"] == "gzip-9"


def test_export_child_command_carries_the_compression(tmp_path):
    args = ExportProcess.arguments(tmp_path / "run", tmp_path / "e.h5", "test", ["pca"], "best", False,
                                   "cpu", "gzip-9")
    assert args[args.index("--compression") + 1] == "gzip-9"
