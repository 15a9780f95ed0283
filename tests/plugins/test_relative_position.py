"""Relative patch position: which patch is paired with which label, the loss, the shapes."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.relative_position import (CENTRE, NEIGHBOURS, POSITIONS, RelativePosition,
                                       relative_position_loss, side_by_side)


def _cells_image(n: int = 2) -> torch.Tensor:
    """30-px images whose 3×3 cells are filled with the cell index / 10."""
    x = (torch.arange(9.0) / 10).view(1, 1, 3, 3).repeat(n, 1, 1, 1)
    return x.repeat_interleave(10, 2).repeat_interleave(10, 3)


def test_loss_uniform_logits_is_log8():
    position = torch.arange(8)
    assert relative_position_loss(torch.zeros(8, 8), position).item() == pytest.approx(math.log(8))


def test_loss_goes_down_on_learnable_logits():
    logits = torch.zeros(16, 8, requires_grad=True)
    position = torch.arange(16) % 8
    opt = torch.optim.Adam([logits], lr=0.1)
    losses = []
    for _ in range(20):
        loss = relative_position_loss(logits, position)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


def test_names_and_cells_agree():
    assert len(NEIGHBOURS) == len(POSITIONS) == 8 and CENTRE not in NEIGHBOURS
    assert POSITIONS[NEIGHBOURS.index(0)] == "top-left" and POSITIONS[NEIGHBOURS.index(8)] == "bottom-right"
    assert POSITIONS[NEIGHBOURS.index(5)] == "right" and POSITIONS[NEIGHBOURS.index(1)] == "top"


@pytest.mark.parametrize("all_neighbours", [True, False])
def test_pairs_show_the_labelled_neighbour(all_neighbours, make):
    m = make.method(RelativePosition, jitter=False, all_neighbours=all_neighbours)
    m.eval()
    centre, neighbour, position = m.pairs(_cells_image(3))
    n = 24 if all_neighbours else 3
    assert centre.shape == (3, 1, 16, 16) and neighbour.shape == (n, 1, 16, 16)
    assert position.shape == (n,) and position.min() >= 0 and position.max() <= 7
    assert torch.allclose(centre.mean(dim=(1, 2, 3)), torch.full((3,), CENTRE / 10))
    expected = torch.tensor(NEIGHBOURS, dtype=torch.float32)[position] / 10
    assert torch.allclose(neighbour.mean(dim=(1, 2, 3)), expected, atol=1e-6)
    if all_neighbours:
        assert position.tolist() == list(range(8)) * 3


def test_classifier_and_preview_shapes(make):
    m = make.method(RelativePosition)
    x = torch.rand(5, 1, 28, 28)
    centre, neighbour, position = m.pairs(x)
    assert m.classify(centre, neighbour).shape == (40, 8)
    assert side_by_side(centre, centre).shape == (5, 1, 16, 34)
    m.eval()
    with torch.no_grad():
        preview = m.previews(make.of(x))["pairs"]
    assert len(preview.tiles) == len(preview.captions) == 5
    assert preview.tiles[0].shape == (16, 34, 3)
    assert preview.captions[0].startswith(("✓", "✗")) and "/ true top-left" in preview.captions[0]


def test_colour_images_train(make):
    m = make.method(RelativePosition, shape=(3, 32, 32))
    out = m.training_step(make.of(torch.rand(4, 3, 32, 32)))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None for p in m.classifier.parameters())
