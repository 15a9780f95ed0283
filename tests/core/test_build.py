"""Every method with every host backbone: either it trains, or check_data refuses it up front with the reason."""
from __future__ import annotations

import pytest
import torch

from workbench.api import Batch
from workbench.backbones import BACKBONES
from workbench.build import build_method, method_backbone_problem
from workbench.config import ConfigError, new_run_config
from workbench.data import load_dataset
from workbench.data.base import model_input
from workbench.registry import discover

METHODS = {name: entry.cls for name, entry in discover().items() if entry.ok}
# Inputs in the one training step: two, the fewest a batch statistic (BatchNorm, a contrastive
# loss's negatives) works with; the big backbones' steps cost in proportion (cpc encodes 25
# patches per image: a ResNet-50 step on four images took ~25 s on a busy machine).
BATCH = 2


def dataset_for(cls) -> str:
    if cls.accepts("image"):
        return "shapes" if cls.input_channels == (3,) else "digits"
    return "signals" if cls.accepts("sequence") else "lee"


@pytest.fixture(scope="module")
def datasets():
    return {name: load_dataset(name) for name in ("digits", "shapes", "signals", "lee")}


# the CPU backbones run in the inner loop; one CPU step of the big ones takes seconds per method
@pytest.mark.parametrize("backbone", [b if b in ("small_cnn", "mlp") else pytest.param(b, marks=pytest.mark.slow)
                                      for b in BACKBONES])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_backbone_either_trains_or_is_refused_before_the_run(name, backbone, datasets):
    cls = METHODS[name]
    data = datasets[dataset_for(cls)]
    problem = method_backbone_problem(cls, backbone, data.spec.modality)
    run = new_run_config(name, data.spec.name, backbone=backbone, device="cpu")
    if problem:
        with pytest.raises(ConfigError) as refused:
            build_method(run, data)
        assert str(refused.value) == problem and "use " in problem  # says what would work
        return
    torch.manual_seed(0)
    method = build_method(run, data)
    x = data.x_train[:BATCH] if data.spec.modality == "text" else model_input(data.x_train[:BATCH])
    out = method.training_step(Batch(x, torch.full((BATCH,), -1), torch.arange(BATCH)))
    if out.loss.requires_grad:  # word2vec's sparse update has already changed its tables
        out.loss.backward()
    assert torch.isfinite(out.loss)
