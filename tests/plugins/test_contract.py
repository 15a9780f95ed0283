"""The plugin contract, checked for every discovered method: build, train, embed, preview, reload."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.api import FAMILIES, Batch, Method, Preview, StepOutput
from workbench.build import host_backbone
from workbench.checkpoint import load_checkpoint, save_checkpoint
from workbench.config import method_config, new_run_config
from workbench.data import example_dataset, load_dataset
from workbench.registry import discover, get_method
from workbench.data.base import model_input
from workbench.validate import validate_method

METHODS = sorted(name for name, entry in discover().items() if entry.ok)
BATCH = 32


def test_builtins_are_covered():
    assert {"autoencoder", "rotation", "simclr"} <= set(METHODS)


def _dataset_for(name: str):
    """The method's modality's example set: grey digits (colour shapes for colour-only
    methods), signals for sequences (workbench.data.EXAMPLE_DATASETS)."""
    cls = get_method(name)
    return load_dataset(example_dataset(cls.modality, cls.input_channels))


@pytest.fixture
def data(name):
    return _dataset_for(name)


@pytest.fixture
def batch(data):
    n = BATCH
    return Batch(model_input(data.x_train[:n]), data.y_train[:n], torch.arange(n))


def _build(name: str, data, seed: int = 0) -> Method:
    """The method with its default Config on a tiny small_cnn (width 8; none for text), on the CPU."""
    cls = get_method(name)
    run = new_run_config(name, data.spec.name, cls.run_defaults, backbone="small_cnn", device="cpu", seed=seed)
    torch.manual_seed(seed)
    backbone, feat_dim = host_backbone("small_cnn", data.spec, width=8)
    return cls(method_config(run, cls.Config), backbone, feat_dim, data.spec)


def _step(method: Method, batch: Batch, optimizer, step: int, total: int, seed: int) -> float:
    # Same random draws every step (views, rotations, masks): the objective is fixed, so any
    # rise in the loss is the method's fault, not augmentation noise.
    torch.manual_seed(seed)
    out = method.training_step(batch)
    assert isinstance(out, StepOutput)
    assert out.loss.ndim == 0 and out.loss.requires_grad
    optimizer.zero_grad()
    out.loss.backward()
    optimizer.step()
    method.on_step_end(step, total)
    return out.loss.item()


@pytest.mark.parametrize("name", METHODS)
def test_validate_method(name):
    v = validate_method(name)
    assert v.method == name and math.isfinite(v.loss)
    assert len(v.embed_shape) == 2 and v.embed_shape[0] == 16


@pytest.mark.parametrize("name", METHODS)
def test_class_metadata(name):
    cls = get_method(name)
    assert cls.name == name and name == name.lower()
    assert cls.title and cls.summary and cls.reference
    assert cls.family in FAMILIES
    assert cls.modality in ("image", "sequence", "text")
    cls.Config()  # every setting has a default


@pytest.mark.parametrize("name", METHODS)
def test_loss_goes_down(name, data, batch):
    method = _build(name, data)
    method.train()
    lr = get_method(name).run_defaults.get("lr", 1e-3)  # the rate the method trains at
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=lr)
    steps = 5
    losses = [_step(method, batch, optimizer, i, steps, seed=1234) for i in range(steps)]
    assert all(math.isfinite(l) for l in losses), losses
    first, last = np.mean(losses[:2]), np.mean(losses[-2:])
    assert last < first - 0.01 * abs(first), f"{name}: loss did not go down: {losses}"


@pytest.mark.parametrize("name", METHODS)
def test_embed_and_previews(name, data, batch):
    method = _build(name, data)
    method.eval()
    with torch.no_grad():
        emb = method.embed(batch.x)
        previews = method.previews(batch)
    assert emb.shape == (BATCH, method.feat_dim)
    assert torch.isfinite(emb).all()
    assert isinstance(previews, dict)
    for key, preview in previews.items():
        assert isinstance(preview, Preview) and preview.title and preview.tiles, key
        grid = preview.grid()
        assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3, (key, grid.shape)
        for tile in preview.tiles:
            assert tile.dtype == np.uint8 and tile.ndim == 3 and tile.shape[2] == 3
        if preview.captions:
            assert len(preview.captions) == len(preview.tiles), key
            assert all(isinstance(c, str) and c for c in preview.captions)


@pytest.mark.parametrize("name", METHODS)
def test_state_dict_round_trip(name, data, batch, tmp_path):
    trained = _build(name, data, seed=0)
    trained.train()
    optimizer = torch.optim.Adam([p for p in trained.parameters() if p.requires_grad], lr=1e-3)
    _step(trained, batch, optimizer, 0, 1, seed=0)  # moves weights and BatchNorm statistics
    path = save_checkpoint({"model": trained.state_dict(), "step": 1}, tmp_path / "last.pt")

    fresh = _build(name, data, seed=1)
    trained.eval()
    fresh.eval()
    with torch.no_grad():
        expected = trained.embed(batch.x)
        assert not torch.allclose(fresh.embed(batch.x), expected), "the reload would prove nothing"
        state = load_checkpoint(path)
        fresh.load_state_dict(state["model"])
        assert state["step"] == 1
        assert torch.allclose(fresh.embed(batch.x), expected, atol=1e-6)
