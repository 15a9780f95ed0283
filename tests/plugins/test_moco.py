"""MoCo v2: the queue InfoNCE, the ring-buffer queue, the momentum encoder."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from plugins.moco import MoCo, moco_loss, shuffled_forward
from workbench.nn.momentum import ema_update


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_loss_closed_form_when_keys_match_and_queue_is_orthogonal(temperature):
    eye = torch.eye(8)
    q = k = eye[:2]
    queue = eye[2:]  # 6 negatives, all orthogonal to every query
    expected = -math.log(math.exp(1 / temperature) / (math.exp(1 / temperature) + 6))
    assert moco_loss(q, k, queue, temperature).item() == pytest.approx(expected, rel=1e-3, abs=1e-6)
    # a mismatched key is worse, and the loss ignores the scale of q and k
    assert moco_loss(q, eye[[1, 0]], queue, temperature) > moco_loss(q, k, queue, temperature)
    assert moco_loss(5 * q, 0.1 * k, queue, temperature).item() == pytest.approx(expected, rel=1e-3,
                                                                               abs=1e-6)


def test_masked_queue_entries_are_not_negatives():
    eye = torch.eye(4)
    q = k = eye[:2]
    queue = torch.stack([eye[0], eye[1]])  # copies of the queries: the worst negatives
    everything = torch.ones(2, 2, dtype=torch.bool)
    assert moco_loss(q, k, queue, 0.2, everything).item() == pytest.approx(0.0, abs=1e-6)
    assert moco_loss(q, k, queue, 0.2).item() > 0.5


def test_loss_goes_down_on_learnable_queries():
    torch.manual_seed(0)
    q = torch.randn(16, 8, requires_grad=True)
    k = torch.randn(16, 8)
    queue = F.normalize(torch.randn(64, 8), dim=1)
    opt = torch.optim.Adam([q], lr=0.05)
    losses = []
    for _ in range(30):
        loss = moco_loss(q, k, queue, 0.2)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]


def test_queue_is_clamped_to_the_data_and_registered(make):
    m = make.method(MoCo, spec=make.spec(train_size=100), queue_size=4096)
    assert m.queue_size == 50 and m.queue.shape == (50, 128)
    assert {"queue", "queue_index", "queue_ptr"} <= set(m.state_dict())
    assert torch.allclose(m.queue.norm(dim=1), torch.ones(50))


def test_enqueue_is_a_ring_buffer(make):
    m = make.method(MoCo, spec=make.spec(train_size=32), queue_size=16, proj_dim=4)
    keys = torch.arange(10.0).view(-1, 1).repeat(1, 4) + 1  # rows normalise to (.5, .5, .5, .5)
    m.enqueue(keys, torch.arange(10))
    assert int(m.queue_ptr) == 10 and m.queue_index[:10].tolist() == list(range(10))
    m.enqueue(keys, torch.arange(100, 110))
    assert int(m.queue_ptr) == 4  # wrapped: slots 10..15, then 0..3
    assert m.queue_index.tolist() == [106, 107, 108, 109, 4, 5, 6, 7, 8, 9,
                                      100, 101, 102, 103, 104, 105]
    m.enqueue(torch.ones(40, 4), torch.arange(40))  # a batch larger than the queue: its last 16
    assert sorted(m.queue_index.tolist()) == list(range(24, 40))


def test_training_step_enqueues_this_batch_after_the_loss(make):
    m = make.method(MoCo, queue_size=64)
    out = m.training_step(make.batch(8, start=500))
    assert out.loss.ndim == 0 and out.loss.requires_grad
    out.loss.backward()  # the queue changed after the loss; backward must still work
    assert int(m.queue_ptr) == 8 and m.queue_index[:8].tolist() == list(range(500, 508))
    assert all(p.grad is None for p in m.key_encoder.parameters())


def test_key_encoder_is_frozen_and_follows_by_ema(make):
    m = make.method(MoCo, momentum=0.9)
    assert not any(p.requires_grad for p in m.key_encoder.parameters())
    online = list(m.backbone.parameters()) + list(m.head.parameters())
    assert len(online) == len(list(m.key_encoder.parameters()))
    with torch.no_grad():
        for p in online:
            p.add_(1.0)
    before = [p.clone() for p in m.key_encoder.parameters()]
    m.on_step_end(0, 10)
    for b, k, o in zip(before, m.key_encoder.parameters(), online):
        assert torch.allclose(k, 0.9 * b + 0.1 * o, atol=1e-6)


def test_ema_update_extremes():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    w = a.weight.clone()
    ema_update(a, b, 1.0)
    assert torch.equal(a.weight, w)
    ema_update(a, b, 0.0)
    assert torch.allclose(a.weight, b.weight)


def test_shuffled_forward_keeps_the_order():
    net = nn.Linear(5, 3)
    x = torch.randn(12, 5)
    assert torch.allclose(shuffled_forward(net, x, 4), net(x), atol=1e-6)
    # with BatchNorm in training mode the groups are normalised apart: results differ
    bn = nn.BatchNorm1d(5)
    assert not torch.allclose(shuffled_forward(bn, x, 3), bn(x), atol=1e-3)


def test_colour_images_and_preview(make):
    m = make.method(MoCo, shape=(3, 32, 32), queue_size=32)
    out = m.training_step(make.batch(8, (3, 32, 32)))
    assert torch.isfinite(out.loss)
    m.eval()
    with torch.no_grad():
        preview = m.previews(make.batch(8, (3, 32, 32)))["views"]
    assert len(preview.tiles) == len(preview.captions) == 24
    assert preview.captions[-1].startswith(("✓", "✗")) and "of 33" in preview.captions[-1]
