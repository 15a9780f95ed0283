"""Every method of the autoregressive, masked-modelling, image–text and pretext families (and the
context encoder's adversarial loss, the VQ-VAE's non-contrastive branch) starts from the window
as a person would start it, trains its first steps through the worker, and stops."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from workbench.registry import discover

TIMEOUT = 240_000  # ms; a worker start and a few CPU steps on a busy 2-core machine

# method, the embedded data it trains on, backbone, the method's own settings that switch its
# newer parts on
CASES = [
    ("fvsbn", "digits", "mlp", {}),
    ("nade", "digits", "mlp", {}),
    ("pixelcnn", "digits", "small_cnn", {}),
    ("lstm_lm", "lee", None, {}),
    ("bert_lite", "lee", None, {}),
    ("context_encoder", "digits", "small_cnn", {"adv_weight": "0.001"}),
    ("exemplar_cnn", "digits", "small_cnn", {}),
    ("clip", "shapes", "small_cnn", {}),
    ("wav2vec2", "signals", None, {}),
    ("vq_vae", "signals", "mlp", {"vicreg_weight": "1.0"}),
]


def test_the_cases_are_registered_methods():
    entries = discover()
    assert all(entries[name].cls is not None for name, *_ in CASES)


@pytest.mark.slow  # starts a worker subprocess per method
@pytest.mark.parametrize("method, dataset, backbone, method_settings", CASES, ids=[c[0] for c in CASES])
def test_method_starts_trains_and_stops_from_the_window(window, qtbot, method, dataset, backbone,
                                                         method_settings):
    panel = window.panel
    panel.select_method(method)
    panel.select_dataset(dataset)
    if backbone:
        editor = panel.run_form.editor("backbone")
        editor.setCurrentIndex(editor.findData(backbone))
    panel.run_form.editor("epochs").setValue(2)
    panel.advanced_form.set_value("threads", 1)
    for name, value in method_settings.items():
        panel.method_form.editor(name).setText(value)
    assert panel.method_name() == method and panel.dataset_name() == dataset
    assert panel.problems() == [] and panel.start_button.isEnabled()
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    # the dashboard's loss curve gets its first points: the method trains in the worker
    qtbot.waitUntil(lambda: len(window.dashboard.data.loss.data()[0]) > 0, timeout=TIMEOUT)
    assert window.client.state in ("running", "finished")
    if window.client.state == "running":
        qtbot.mouseClick(panel.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.client.state in ("stopped", "finished"), timeout=TIMEOUT)
    assert not [line for line in window.run_dir.joinpath("events.jsonl").read_text().splitlines()
                if '"type":"failed"' in line.replace(" ", "")]
