"""Exemplar CNN: seed images become classes, classes are drawn only once seen, the masked loss."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.exemplar_cnn import ExemplarCNN, draw_classes, exemplar_loss, small_affine, store_seeds


def test_rows_below_n_become_seed_classes_and_others_are_ignored():
    seeds, seen = torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.bool)
    x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    store_seeds(seeds, seen, x, torch.tensor([5, 2, 0, 7]))  # rows 5 and 7 are not seeds (N = 3)
    assert seen.tolist() == [True, False, True]
    assert seeds[2].unique().tolist() == [1.0] and seeds[0].unique().tolist() == [2.0]
    assert seeds[1].abs().sum() == 0
    drawn = draw_classes(seen, 200, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {0, 2}  # only seen classes, both of them


def test_exemplar_loss_is_cross_entropy_over_the_seen_classes_only():
    logits = torch.tensor([[2.0, 50.0, 0.0], [1.0, -3.0, 1.0]])
    seen = torch.tensor([True, False, True])
    # class 1 is unseen: its logit of 50 must not count; by hand, over classes {0, 2}:
    row0 = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(0.0)))
    row1 = -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(1.0)))
    assert exemplar_loss(logits, torch.tensor([0, 2]), seen).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_members_of_a_class_are_different_augmentations_of_its_seed():
    g = torch.Generator().manual_seed(0)
    seed = torch.zeros(1, 1, 16, 16)
    seed[..., 4:12, 6:10] = 1.0
    members = small_affine(seed.expand(6, 1, 16, 16), 20.0, (0.7, 1.0), 0.2, g)
    assert members.shape == (6, 1, 16, 16)
    assert not torch.allclose(members[0], members[1])
    same = small_affine(seed, 0.0, (1.0, 1.0), 0.0)  # no rotation, scaling or shift: the seed itself
    assert torch.allclose(same, seed, atol=1e-5)


@pytest.mark.slow  # training steps
def test_training_learns_to_tell_the_surrogate_classes_apart(make):
    method = make.method(ExemplarCNN, seeds=4, shift=0.1)
    batch = make.batch(8)  # rows 0-3 are the four seeds
    opt = torch.optim.SGD(method.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(8):
        torch.manual_seed(0)  # the same classes and augmentations each step: a fixed objective
        out = method.training_step(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert method.seen.all() and out.logs["seen_classes"] == 4
    assert losses[-1] < losses[0]
    method.eval()
    with torch.no_grad():
        preview = method.previews(batch)["members"]
    assert len(preview.tiles) == 4 * 8 and preview.captions[0].startswith("seed · class")
