"""`ssl-workbench health` and `compare` give the numbers the explorer's Health panel and comparison view show."""
from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from ui.compare_view import CompareView
from workbench.cli import main


pytestmark = pytest.mark.slow  # trains a run


def cli_json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    out = capsys.readouterr()
    return json.loads(out.out)


def test_health_matches_the_explorers_health_panel(qtbot, explorer, real_run, capsys):
    explorer.set_run(real_run)
    qtbot.waitUntil(lambda: not explorer.is_computing() and explorer.scatter.count() > 0, timeout=20_000)
    explorer.source_combo.setCurrentText("checkpoint: last")
    explorer.compute()
    qtbot.waitUntil(lambda: not explorer.is_computing()
                    and explorer.current_source.label.startswith("checkpoint last.pt"), timeout=30_000)
    qtbot.waitUntil(lambda: explorer.map_quality is not None and explorer.embedding_health is not None,
                    timeout=30_000)
    quality, health = explorer.map_quality, explorer.embedding_health

    report = cli_json(capsys, "health", str(real_run), "--checkpoint", "last")
    assert report["source"] == explorer.current_source.label and report["n"] == len(explorer.current_source)
    assert report["projection"] == "pca" and report["k"] == quality.k == 10
    assert report["trustworthiness"] == pytest.approx(quality.trustworthiness, abs=1e-9)
    assert report["continuity"] == pytest.approx(quality.continuity, abs=1e-9)
    assert report["std_ratio"] == pytest.approx(health.std_ratio, abs=1e-9)
    assert report["effective_rank"] == pytest.approx(health.effective_rank, abs=1e-9)
    assert report["knn_correct"] == pytest.approx(health.knn_accuracy, abs=1e-9)
    text = explorer.health.text()
    assert f"trustworthiness {report['trustworthiness']:.3f} · continuity {report['continuity']:.3f}" in text
    assert report["verdict"] in text


def test_compare_matches_the_comparison_view(qtbot, add_widget, real_run, capsys):
    view = add_widget(CompareView(), idle=lambda: not view.is_busy())
    view.show()
    view.set_run(real_run)
    view.choose("checkpoint: best", "checkpoint: last")
    with qtbot.waitSignal(view.compared, timeout=60_000) as done:
        qtbot.mouseClick(view.compare_button, Qt.LeftButton)
    shown = done.args[0]

    result = cli_json(capsys, "compare", str(real_run), str(real_run), "--checkpoint-a", "best",
                      "--checkpoint-b", "last", "--k", "10")
    assert result["k"] == shown.k == 10 and result["items"] == len(shown.change)
    assert result["mean_change"] == pytest.approx(shown.mean_change, abs=1e-12)
    assert result["changed_share"] == pytest.approx(shown.changed_share, abs=1e-12)
    assert f"mean {result['mean_change']:.3f}" in view.summary.text()


def test_compare_and_health_reject_bad_input_in_one_line(real_run, tmp_path, capsys):
    for argv, words in ((["compare", str(real_run)], "same embeddings"),
                        (["health", str(tmp_path)], "not a run directory"),
                        (["health", str(real_run), "--snapshot", "99999"], "no snapshot at step 99999"),
                        (["health", str(real_run), "--projection", "mds"], "unknown projection")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
