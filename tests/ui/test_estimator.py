"""Run-time estimates: the measured figures scale to the epochs asked for; the measurement is a real subprocess."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ui.estimator import Estimator, setup_key, total_seconds
from workbench.config import new_run_config, save_run_config
from workbench.estimate import describe


def test_total_scales_with_epochs_and_reads_as_minutes():
    figures = {"setup_seconds": 10.0, "step_seconds": 0.5, "eval_seconds": 4.0, "steps_per_epoch": 20}
    run = new_run_config("simclr", "shapes", epochs=3)
    assert total_seconds(figures, run) == pytest.approx(10 + 3 * 20 * 0.5 + 3 * 4)
    assert describe(52) == "about 50 s" and describe(170) == "about 3 minutes"
    assert describe(2 * 3600 + 600) == "about 2 h 10 min"


def test_cached_figures_answer_at_once(settings, qtbot):
    est = Estimator(settings)
    run = new_run_config("simclr", "shapes", epochs=3)
    assert est.cached(run) is None
    settings.setValue(f"estimates/{__import__('ui.estimator', fromlist=['_safe'])._safe(setup_key(run))}",
                      json.dumps({"setup_seconds": 1, "step_seconds": 1, "eval_seconds": 0, "steps_per_epoch": 10}))
    with qtbot.waitSignal(est.estimated, timeout=1000) as got:
        est.estimate(run)
    assert got.args == [setup_key(run), 31.0]
    assert not est.is_measuring()


@pytest.mark.slow  # a subprocess that imports torch and trains four steps
def test_estimate_command_times_real_steps(tmp_path):
    path = tmp_path / "config.json"
    save_run_config(new_run_config("rotation", "digits", epochs=2, batch_size=32, backbone="mlp", device="cpu",
                                   threads=1), path)
    out = subprocess.run([sys.executable, "-m", "workbench.estimate", str(path)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["steps"] > 0 and result["steps"] % 2 == 0  # two epochs of whole batches
    assert result["step_seconds"] > 0 and result["seconds"] > result["setup_seconds"]


STAND_IN = '''
import json, sys
from pathlib import Path
cfg = json.loads(Path(sys.argv[1]).read_text())
with open(Path(__file__).with_name("measured.log"), "a") as log:
    log.write(cfg["method"] + "\\n")
print(json.dumps({"seconds": 0, "setup_seconds": 1.0, "step_seconds": 0.5, "eval_seconds": 2.0,
                  "steps": 10 if cfg["method"] == "rotation" else 40}))
'''


def test_the_run_panel_says_how_long_the_chosen_run_takes(qtbot, settings, tmp_path, monkeypatch):
    """Any method, data and settings get a run time before Start: timed once per setup in a subprocess
    (a stand-in here), rescaled at once when only the epochs change, timed again for another method."""
    import ui.estimator as estimator_module
    from ui.run_panel import RunPanel
    (tmp_path / "fake_estimate.py").write_text(STAND_IN)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(estimator_module, "MEASURE_MODULE", "fake_estimate")
    monkeypatch.setattr(RunPanel, "ESTIMATE_DELAY_MS", 50)
    monkeypatch.setattr(RunPanel, "measure_estimates", True)
    panel = RunPanel()
    qtbot.addWidget(panel)
    est = Estimator(settings, panel)
    panel.select_method("rotation")
    panel.select_dataset("digits")
    panel.run_form.set_value("epochs", 4)
    panel.set_estimator(est)
    panel.show()
    label = panel.estimate_label
    assert label.isVisible() and "timing" in label.text()
    expected = lambda epochs, steps: describe(1 + epochs * steps * 0.5 + epochs * 2.0)  # eval every epoch
    qtbot.waitUntil(lambda: expected(4, 10) in label.text(), timeout=20_000)
    log = tmp_path / "measured.log"
    assert log.read_text().split() == ["rotation"]
    panel.run_form.set_value("epochs", 40)  # the same setup: rescaled at once, nothing measured again
    assert expected(40, 10) in label.text() and not est.is_measuring()
    panel.select_method("simclr")
    qtbot.waitUntil(lambda: expected(40, 40) in label.text(), timeout=20_000)
    assert log.read_text().split() == ["rotation", "simclr"]
    panel.root.setText("")
    panel.select_dataset("folder")  # a form with a problem: no run time for it
    assert not label.isVisible()


def test_polite_requests_wait_for_the_measurement_under_way(qtbot, settings, tmp_path, monkeypatch):
    """The run panel's requests queue behind the one under way (the welcome example's, say) instead of
    killing it; only the newest queued one is kept; a plain request pushes a polite one under way aside,
    and the newest polite request is measured after it."""
    import ui.estimator as estimator_module
    (tmp_path / "fake_estimate.py").write_text(STAND_IN)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(estimator_module, "MEASURE_MODULE", "fake_estimate")
    est = Estimator(settings)
    runs = {m: new_run_config(m, "digits", epochs=1) for m in ("rotation", "simclr", "byol", "moco")}
    answered = []
    est.estimated.connect(lambda key, _s: answered.append(key))
    est.estimate(runs["rotation"], wait=True)
    est.estimate(runs["simclr"], wait=True)  # queued…
    est.estimate(runs["byol"], wait=True)  # …and replaced by the newer request
    est.estimate(runs["moco"])  # a plain request: rotation is killed; byol, the panel's newest wish, follows
    qtbot.waitUntil(lambda: len(answered) == 2 and not est.is_measuring(), timeout=30_000)
    assert answered == [setup_key(runs["moco"]), setup_key(runs["byol"])]
    assert "simclr" not in (tmp_path / "measured.log").read_text().split()
    est.estimate(runs["rotation"], wait=True)  # nothing under way: measured at once
    qtbot.waitUntil(lambda: len(answered) == 3, timeout=30_000)
    assert answered[-1] == setup_key(runs["rotation"])


def test_cancel_does_not_wait_for_the_killed_measurement(qtbot, settings, tmp_path, monkeypatch):
    """Start cancels a measurement under way: the GUI thread no longer waits there for the process to exit;
    it is reaped and deleted when it does."""
    import ui.estimator as estimator_module
    from PySide6.QtCore import QProcess
    (tmp_path / "slow_estimate.py").write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(estimator_module, "MEASURE_MODULE", "slow_estimate")
    est = Estimator(settings)
    est.estimate(new_run_config("rotation", "digits", epochs=1))
    process = est._process
    assert process.waitForStarted(20_000)
    waits = []
    monkeypatch.setattr(QProcess, "waitForFinished", lambda *a: waits.append(a) or True)
    est.cancel()
    assert waits == [] and not est.is_measuring()
    monkeypatch.undo()
    with qtbot.waitSignal(process.destroyed, timeout=20_000):
        pass
