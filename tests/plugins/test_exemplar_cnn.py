"""Exemplar CNN: seed images become classes, classes are drawn only once seen, the masked loss."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.exemplar_cnn import ExemplarCNN, draw_classes, exemplar_loss, small_affine, store_seeds


def test_the_first_images_seen_become_the_seed_classes_whatever_their_rows():
    seeds, seen = torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.bool)
    first = torch.arange(2.0).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    store_seeds(seeds, seen, first)  # two images: two classes, one slot still free
    assert seen.tolist() == [True, True, False]
    drawn = draw_classes(seen, 200, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {0, 1}  # only seen classes, both of them
    store_seeds(seeds, seen, 10 + first)  # fills the free slot; stored seeds stay
    assert seen.all()
    assert [seeds[i].unique().item() for i in range(3)] == [0.0, 1.0, 10.0]
    store_seeds(seeds, seen, 20 + first)  # all slots taken: nothing changes
    assert [seeds[i].unique().item() for i in range(3)] == [0.0, 1.0, 10.0]


def test_every_class_has_its_seed_from_the_first_step(make):
    # seeds used to be dataset rows below N only: a batch without such rows (most batches of a
    # shuffled 4,000-image split for N = 128) trained on no class or a handful
    method = make.method(ExemplarCNN, seeds=8)
    batch = make.batch(16, start=100)  # rows 100..115, none below N
    out = method.training_step(batch)
    assert out.logs["seen_classes"] == 8 and torch.equal(method.seeds, batch.x[:8])


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
    batch = make.batch(8)  # its first four images are the four seeds
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


def test_cosine_classifier_logits_are_scaled_cosines_and_linear_is_kept(make):
    method = make.method(ExemplarCNN, seeds=5, cosine_scale=10.0)
    assert method.classifier.bias is None  # no unused parameter on several processes
    x = make.batch(3).x
    h = method.hidden(method.backbone(x))
    w = method.classifier.weight
    by_hand = 10.0 * torch.stack([torch.stack([torch.dot(h[i], w[c]) / (h[i].norm() * w[c].norm())
                                               for c in range(5)]) for i in range(3)])
    assert torch.allclose(method.logits(x), by_hand, atol=1e-5)
    plain = make.method(ExemplarCNN, seeds=5, cosine_scale=0.0, hidden=0)
    assert torch.allclose(plain.logits(x), plain.classifier(plain.backbone(x)), atol=1e-6)
