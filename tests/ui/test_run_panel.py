"""The run panel keeps methods and data of different modalities apart, visibly and before Start."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from ui import theme
from ui.run_panel import RunPanel


@pytest.fixture
def panel(qtbot):
    p = RunPanel()
    qtbot.addWidget(p)
    return p


def _pick(panel, method=None, dataset=None, backbone=None):
    if method:
        panel.select_method(method)
    if dataset:
        panel.select_dataset(dataset)
    if backbone:
        editor = panel.run_form.editor("backbone")
        editor.setCurrentIndex(editor.findData(backbone))


def _greyed(panel, name) -> bool:
    colour = panel._method_items[name].foreground(0).color().name().upper()
    return colour == theme.colors()["muted"].upper()


def test_signals_is_offered_as_a_dataset(panel):
    assert panel.dataset.findData("signals") >= 0


def test_image_methods_are_greyed_with_a_reason_on_sequence_data(panel):
    _pick(panel, dataset="signals")
    assert _greyed(panel, "simclr") and not _greyed(panel, "cpc_sequence")
    tip = panel._method_items["simclr"].toolTip(0)
    assert "works on image data, not sequence" in tip and "SimCLR" in tip
    _pick(panel, dataset="mnist5k")
    assert not _greyed(panel, "simclr") and _greyed(panel, "cpc_sequence")
    assert "pick Signals" in panel._method_items["cpc_sequence"].toolTip(0)
    # the list cuts long titles short; the tooltip gives the whole one
    assert panel._method_items["relative_position"].toolTip(0).startswith("Context prediction (relative patch")


def test_mismatch_is_explained_and_start_disabled(panel):
    _pick(panel, method="simclr", dataset="signals")
    assert panel.method_name() == "simclr"  # still selectable, so the reason can be read
    assert not panel.start_button.isEnabled()
    assert "SimCLR works on image data, not sequence" in panel.problem.text()
    _pick(panel, method="cpc_sequence")
    assert panel.problems() == [] and panel.start_button.isEnabled()
    _pick(panel, dataset="mnist5k")
    assert "pick Signals" in panel.problem.text() and not panel.start_button.isEnabled()


def test_resnet18_on_sequences_blocks_start(panel):
    _pick(panel, method="vq_vae", dataset="signals", backbone="resnet18")
    assert "cannot encode sequences" in panel.problem.text()
    assert not panel.start_button.isEnabled()
    _pick(panel, backbone="small_cnn")
    assert panel.start_button.isEnabled()


@pytest.mark.parametrize("method, words", [("jigsaw", "encodes tiles of the image"),
                                           ("deep_infomax", "local feature maps"),
                                           ("vq_vae", "quantises the backbone's feature map")])
def test_a_backbone_the_method_cannot_use_blocks_start_with_the_reason(panel, method, words):
    _pick(panel, method=method, dataset="mnist5k", backbone="mlp")
    assert words in panel.problem.text() and "use small_cnn or resnet18" in panel.problem.text()
    assert not panel.start_button.isEnabled()
    _pick(panel, backbone="small_cnn")
    assert panel.problems() == [] and panel.start_button.isEnabled()


def test_vq_vae_takes_the_mlp_on_sequences_and_cpc_sequence_only_the_1d_cnn(panel):
    _pick(panel, method="vq_vae", dataset="signals", backbone="mlp")
    assert panel.problems() == []  # sequences go through its own frame encoder
    _pick(panel, method="cpc_sequence")
    assert "cpc_sequence encodes windows" in panel.problem.text() and not panel.start_button.isEnabled()


def test_a_sequence_run_config_is_complete(panel):
    _pick(panel, method="cpc_sequence", dataset="signals")
    run = panel.run_config()
    assert run.method == "cpc_sequence" and run.dataset == "signals"
    assert run.method_config["window"] == 32 and run.batch_size == 64
    assert panel.start_button.isEnabled()
    panel.start_requested.connect(lambda r: setattr(panel, "_got", r))
    panel.start_button.click()
    assert panel._got.dataset == "signals"
    assert panel._method_items["cpc_sequence"].flags() & Qt.ItemIsSelectable


def test_a_prior_on_a_saved_tokenizer_run_is_set_in_the_method_form(panel, qtbot, tmp_path):
    _pick(panel, method="vq_vae", dataset="signals")
    assert panel.run_config().method_config["tokenizer_run"] is None  # empty: both stages together
    panel.method_form.editor("prior_layers").setValue(2)
    qtbot.keyClicks(panel.method_form.editor("tokenizer_run"), str(tmp_path / "tokenizer"))
    run = panel.run_config()
    assert run.method_config["tokenizer_run"] == str(tmp_path / "tokenizer")
    assert run.method_config["prior_layers"] == 2 and panel.start_button.isEnabled()


def _backbone_muted(panel, name) -> tuple[bool, str]:
    box = panel.run_form.editor("backbone")
    i = box.findData(name)
    brush = box.itemData(i, Qt.ForegroundRole)
    muted = brush is not None and brush.color().name().upper() == theme.colors()["muted"].upper()
    return muted, box.itemData(i, Qt.ToolTipRole) or ""


def test_backbone_list_greys_what_does_not_fit_the_data(panel):
    _pick(panel, method="simclr", dataset="shapes")
    panel.advanced_form.set_value("image_size", 32)
    for name in ("small_cnn", "resnet18", "resnet50", "vit_tiny", "vit_small"):
        assert not _backbone_muted(panel, name)[0], name
    panel.advanced_form.set_value("image_size", 100)  # not a multiple of the ViTs' 8-px patches
    muted, tip = _backbone_muted(panel, "vit_tiny")
    assert muted and "multiple of 8" in tip
    assert not _backbone_muted(panel, "resnet50")[0]
    _pick(panel, backbone="vit_small")
    assert "set image_size to 96 or 104" in panel.problem.text() and not panel.start_button.isEnabled()
    _pick(panel, method="vq_vae", dataset="signals")
    assert _backbone_muted(panel, "resnet50")[0] and not _backbone_muted(panel, "mlp")[0]
    assert "cannot encode sequences" in _backbone_muted(panel, "vit_tiny")[1]


def test_the_grid_backbone_is_offered_for_images_and_refused_where_it_cannot_work(panel):
    _pick(panel, method="simclr", dataset="mnist5k", backbone="small_cnn_grid")
    assert panel.problems() == [] and panel.run_config().backbone == "small_cnn_grid"
    assert "3x3 grid" in _backbone_muted(panel, "small_cnn_grid")[1]
    _pick(panel, method="vq_vae")
    assert "small_cnn_grid gives pooled features" in panel.problem.text() and not panel.start_button.isEnabled()
    _pick(panel, method="simclr", dataset="signals")
    muted, tip = _backbone_muted(panel, "small_cnn_grid")
    assert muted and "cannot encode sequences" in tip


def test_processes_default_to_one_and_go_into_the_run_config(panel):
    _pick(panel, method="simclr", dataset="digits")
    assert panel.processes.value() == 1 and panel.run_config().processes == 1
    panel.device.setCurrentIndex(panel.device.findData("cpu"))
    assert panel.processes_label.text() == "Processes"  # CPU processes, not GPUs
    panel.processes.setValue(2)
    panel.run_form.set_value("batch_size", 64)
    assert not panel.problems()
    assert panel.run_config().processes == 2


def test_a_batch_that_does_not_split_over_the_processes_blocks_start(panel):
    _pick(panel, method="simclr", dataset="digits")
    panel.device.setCurrentIndex(panel.device.findData("cpu"))
    panel.processes.setValue(2)
    panel.run_form.set_value("batch_size", 63)
    assert any("does not split evenly over 2 processes" in p for p in panel.problems())
    assert not panel.start_button.isEnabled()


def test_the_data_path_is_an_advanced_setting(panel):
    _pick(panel, method="simclr", dataset="shapes")
    assert panel.run_config().data_path == "auto"
    editor = panel.advanced_form.editor("data_path")
    assert [editor.itemData(i) for i in range(editor.count())] == ["auto", "memory", "stream"]
    panel.advanced_form.set_value("data_path", "stream")
    assert panel.run_config().data_path == "stream"


def test_text_data_shows_no_backbone_and_no_image_folder_button(panel):
    """Word methods own their tables and read a corpus: a backbone field and an image-folder button did nothing."""
    _pick(panel, method="word2vec", dataset="lee")
    backbone = panel.run_form.editor("backbone")
    assert not backbone.isVisibleTo(panel) and not panel.add_folder_button.isVisibleTo(panel)
    _pick(panel, method="simclr", dataset="shapes")  # the method's form is rebuilt: the field is back for images
    assert panel.run_form.editor("backbone").isVisibleTo(panel) and panel.add_folder_button.isVisibleTo(panel)
    _pick(panel, dataset="lee", method="word2vec")  # in the other order too
    assert not panel.run_form.editor("backbone").isVisibleTo(panel)
