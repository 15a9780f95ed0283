"""CPC on sequences: the windowing, the step-wise InfoNCE and its targets, causality, previews."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from plugins.cpc_sequence import CPCSequence, cpc_sequence_loss, windows
from workbench.api import Batch
from workbench.backbones import build_backbone
from workbench.config import ConfigError

SEQ = (1, 64)


def _method(make, backbone="small_cnn", **cfg) -> CPCSequence:
    """CPCSequence on SEQ-shaped sequences of three classes, windows of 16 samples 8 apart."""
    return make.method(CPCSequence, SEQ, backbone, make.spec(SEQ, class_names="abc"),
                       **{"window": 16, "hop": 8, **cfg})


def _orthogonal_codes(b: int, n: int, scale: float = 20.0) -> torch.Tensor:
    return torch.eye(b * n).view(b, n, b * n) * scale  # every code its own direction


def test_perfect_predictions_give_the_minimum():
    z = _orthogonal_codes(3, 6)
    offsets = [1, 2]
    preds = [z[:, k:] for k in offsets]  # the prediction from c_t is exactly z_{t+k}
    loss, acc = cpc_sequence_loss(z, preds, offsets)
    assert loss.item() < 1e-3 and acc.item() == 1.0


def test_uninformative_predictions_give_log_of_the_candidates():
    z = torch.randn(4, 5, 8)
    offsets = [1, 3]
    preds = [torch.zeros(4, 5 - k, 8) for k in offsets]
    loss, _ = cpc_sequence_loss(z, preds, offsets)
    assert loss.item() == pytest.approx(math.log(4 * 5), rel=1e-5)  # all 20 codes are candidates


def test_shuffled_targets_score_about_log_n_or_worse():
    # predictions of the right kind but for the wrong positions: no better than chance
    torch.manual_seed(0)
    z = torch.randn(8, 10, 64)
    offsets = [2]
    shuffled = z[torch.randperm(8)][:, torch.randperm(10)][:, 2:]
    loss, acc = cpc_sequence_loss(z, [0.05 * shuffled], offsets)
    assert loss.item() == pytest.approx(math.log(80), rel=0.1)
    loss, acc = cpc_sequence_loss(z, [shuffled], offsets)
    assert loss.item() > math.log(80) and acc.item() < 0.1


def test_negatives_include_the_same_sequence():
    # predicting z_{t+k} but scoring a neighbour window of the same sequence costs loss
    z = _orthogonal_codes(2, 6)
    right = cpc_sequence_loss(z, [z[:, 1:]], [1])[0].item()
    same_seq = cpc_sequence_loss(z, [z[:, :-1]], [1])[0].item()  # points at z_t, not z_{t+1}
    assert right < 1e-3 < 10 < same_seq


def test_loss_goes_down_on_learnable_predictions():
    torch.manual_seed(0)
    z = torch.randn(4, 8, 16)
    preds = [torch.zeros(4, 8 - k, 16, requires_grad=True) for k in (1, 2)]
    opt = torch.optim.Adam(preds, lr=0.1)
    losses = []
    for _ in range(30):
        loss, _ = cpc_sequence_loss(z, preds, [1, 2])
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.2 * losses[0]


def test_windows_match_slicing():
    x = torch.arange(2 * 3 * 20, dtype=torch.float32).view(2, 3, 20)
    w = windows(x, window=8, hop=4)  # starts 0, 4, 8, 12
    assert w.shape == (2, 4, 3, 8)
    for t in range(4):
        assert torch.equal(w[:, t], x[:, :, 4 * t:4 * t + 8])


def test_steps_and_window_count(make):
    m = _method(make, first_step=2, steps=3)  # 64 samples, window 16, hop 8: 7 windows
    assert m.n_windows == 7 and m.offsets == [2, 3, 4] and len(m.heads) == 3
    m = _method(make, first_step=5, steps=4)  # offsets beyond the last window are dropped
    assert m.offsets == [5, 6]


def test_context_never_sees_the_future(make):
    m = _method(make).eval()
    x = torch.randn(2, 1, 64)
    changed = x.clone()
    changed[:, :, 40:] += torch.randn(2, 1, 24)  # windows 0..3 end before sample 40
    with torch.no_grad():
        c1, _ = m.predictions(m.codes(x))
        c2, _ = m.predictions(m.codes(changed))
    assert torch.allclose(c1[:, :4], c2[:, :4], atol=1e-6)
    assert not torch.allclose(c1[:, 4:], c2[:, 4:])


@pytest.mark.parametrize("embedding", ["context", "codes", "sequence"])
def test_embeddings_have_the_backbone_width(embedding, make):
    m = _method(make, embedding=embedding).eval()
    with torch.no_grad():
        assert m.embed(torch.randn(5, 1, 64)).shape == (5, m.feat_dim)


def test_training_step_learns_on_the_signals_data():
    from workbench.data import load_dataset

    torch.manual_seed(0)
    data = load_dataset("signals")
    net, feat_dim = build_backbone("small_cnn", data.spec.input_shape, width=8)
    m = CPCSequence(CPCSequence.Config(), net, feat_dim, data.spec)
    batch = Batch(data.x_train[:32], data.y_train[:32], torch.arange(32))
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        out = m.training_step(batch)
        losses.append(out.loss.item())
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert losses[0] == pytest.approx(math.log(32 * m.n_windows), rel=0.3)
    assert losses[-1] < losses[0] - 0.3 and 0 <= float(out.logs["cpc_acc"]) <= 1


def test_bad_settings_are_clear_errors(make):
    with pytest.raises(ValueError, match="window=80 is longer than the sequences"):
        _method(make, window=80)
    with pytest.raises(ValueError, match="first_step=7 leaves nothing to predict"):
        _method(make, first_step=7)
    with pytest.raises(ValueError, match="use small_cnn"):
        _method(make, backbone="mlp")  # an MLP built for whole sequences cannot encode windows


def test_build_refuses_images_and_image_methods_refuse_sequences():
    from workbench.build import build_method
    from workbench.config import new_run_config
    from workbench.data import load_dataset

    with pytest.raises(ConfigError, match="cpc_sequence.*sequence data.*'mnist5k' is image"):
        build_method(new_run_config("cpc_sequence", "mnist5k"), load_dataset("mnist5k"))
    with pytest.raises(ConfigError, match="'cpc'.*image data.*'signals' is sequence"):
        build_method(new_run_config("cpc", "signals"), load_dataset("signals"))
    for backbone in ("resnet18", "mlp"):  # it encodes windows: only the 1-D CNN takes them
        with pytest.raises(ConfigError, match="encodes windows of each sequence.*use small_cnn"):
            build_method(new_run_config("cpc_sequence", "signals", backbone=backbone), load_dataset("signals"))


def test_previews_show_sequences_and_predictions(make):
    m = _method(make).eval()
    with torch.no_grad():
        previews = m.previews(make.batch(10, SEQ, normal=True))
    assert set(previews) == {"inputs", "predictions"}
    inputs, preds = previews["inputs"], previews["predictions"]
    assert len(inputs.tiles) == 10 and inputs.captions[0] == "a"
    assert len(preds.tiles) == 3 * 8 == len(preds.captions) and preds.columns == 3
    assert len({t.shape for t in preds.tiles}) == 1  # equal tiles: the inspector cuts a grid
    assert all(t.dtype == np.uint8 and t.shape[2] == 3 for t in preds.tiles)
    assert preds.captions[1][0] in "✓✗" and "steps picked" in preds.captions[1]
