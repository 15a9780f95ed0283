"""wav2vec 2.0: the contrastive loss against a loop, the diversity loss at its ends, the span masks' coverage, the straight-through Gumbel quantiser, and a training step on signals."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.wav2vec2 import (
    FeatureEncoder, Wav2Vec2, contrastive_loss, diversity_loss, expected_mask_coverage, gumbel_softmax_st,
    mask_spans, masked_runs, sample_distractors,
)

SIGNAL = (1, 256)


def test_contrastive_loss_equals_a_loop_over_the_masked_frames():
    g = torch.Generator().manual_seed(0)
    context, targets = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    targets[4] = targets[1]  # two frames with the same codewords: neither is the other's distractor
    distractors = torch.tensor([[1, 2], [0, 4], [1, 1], [0, 1], [1, 2]])
    kappa = 0.1
    losses, hits = [], 0
    for i in range(5):
        def score(j):
            return torch.dot(context[i], targets[j]) / (context[i].norm() * targets[j].norm()) / kappa
        candidates = [score(i)] + [score(j) for j in distractors[i].tolist()
                                   if not torch.equal(targets[j], targets[i])]
        denominator = sum(math.exp(s) for s in candidates)
        losses.append(-math.log(math.exp(candidates[0]) / denominator))
        hits += int(max(candidates) == candidates[0])
    loss, accuracy = contrastive_loss(context, targets, distractors, kappa)
    assert loss.item() == pytest.approx(sum(losses) / 5, rel=1e-5)
    assert accuracy.item() == pytest.approx(hits / 5)


def test_diversity_loss_is_zero_for_even_usage_and_largest_for_one_codeword():
    G, V = 2, 8
    even = torch.full((10, G, V), 1 / V)
    assert diversity_loss(even).item() == pytest.approx(0.0, abs=1e-5)
    single = torch.zeros(10, G, V)
    single[..., 3] = 1.0
    assert diversity_loss(single).item() == pytest.approx(1 - 1 / V, abs=1e-5)
    # even usage averaged over frames counts, not each frame's own spread: one-hot frames that
    # cover every codeword equally are as diverse as it gets
    spread = torch.eye(V).repeat(2, 1).unsqueeze(1).expand(-1, G, -1)
    assert diversity_loss(spread).item() == pytest.approx(0.0, abs=1e-5)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        other = torch.softmax(3 * torch.randn(10, G, V, generator=g), -1)
        assert 0.0 <= diversity_loss(other).item() <= 1 - 1 / V + 1e-6


def test_masked_spans_cover_the_expected_share_of_frames():
    frames, prob, length = 32, 0.15, 4
    expected = expected_mask_coverage(frames, prob, length)
    assert expected == pytest.approx(0.4917, abs=1e-4)  # the paper's ~49 %, at our scale
    mask = mask_spans(20_000, frames, prob, length, torch.Generator().manual_seed(0))
    assert mask.float().mean().item() == pytest.approx(expected, abs=0.005)
    # every masked run is at least one span long, and every row has at least one span
    assert mask.any(1).all() and mask.sum(1).min() >= length
    # one start, spans of the whole length: the coverage is exact
    assert expected_mask_coverage(10, 0.0, 10) == 1.0
    assert mask_spans(3, 10, 0.0, 10).all()
    with pytest.raises(ValueError):
        mask_spans(1, 3, 0.5, 4)


def test_distractors_come_from_other_masked_frames_of_the_same_signal():
    mask = torch.tensor([[1, 1, 0, 1, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    rows = mask.nonzero()[:, 0]
    idx = sample_distractors(mask, 50, torch.Generator().manual_seed(0))
    assert idx.shape == (int(mask.sum()), 50)
    for i in range(len(rows)):
        assert (rows[idx[i]] == rows[i]).all()  # same signal
        assert (idx[i] != i).all()  # never the frame itself
    assert set(idx[0].tolist()) == {1, 2}  # signal 0's other masked frames, both drawn
    with pytest.raises(ValueError):
        sample_distractors(torch.tensor([[1, 0, 0]], dtype=torch.bool), 3)


def test_gumbel_quantiser_is_one_hot_forward_with_the_softmax_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 2, 5, generator=g, requires_grad=True)
    noise = -torch.log(-torch.log(torch.rand(6, 2, 5, generator=g).clamp(1e-9, 1 - 1e-9)))
    weights = torch.randn(6, 2, 5, generator=g)
    hard = gumbel_softmax_st(logits, 0.5, noise)
    assert set(hard.detach().unique().tolist()) <= {0.0, 1.0}
    assert (hard.detach().sum(-1) == 1).all()
    assert torch.equal(hard.detach().argmax(-1), (logits + noise).argmax(-1))
    (hard * weights).sum().backward()
    straight_through = logits.grad.clone()
    logits.grad = None
    (torch.softmax((logits + noise) / 0.5, -1) * weights).sum().backward()
    assert torch.allclose(straight_through, logits.grad, atol=1e-6)
    assert straight_through.abs().sum() > 0


def test_the_frame_spans_match_the_encoder():
    encoder = FeatureEncoder(1, 4)
    assert encoder.convs(torch.zeros(1, *SIGNAL)).shape[-1] == 32
    assert FeatureEncoder.frame_span(0) == (-14, 22) and FeatureEncoder.frame_span(5) == (26, 62)
    # the convolutions alone (the group norm pools over time): frame 5 reads exactly its span
    convs = torch.nn.Sequential(*[m for m in encoder.convs if isinstance(m, torch.nn.Conv1d)])
    x = torch.randn(1, *SIGNAL, requires_grad=True)
    convs(x)[0, :, 5].sum().backward()
    seen = (x.grad[0, 0].abs() > 0).nonzero().squeeze(1)
    assert (seen.min().item(), seen.max().item() + 1) == (26, 62)


def test_a_training_step_masks_trains_and_anneals(make):
    method = make.method(Wav2Vec2, SIGNAL, spec=make.spec(SIGNAL, train_size=64))
    assert method.frames == 32 and method.feat_dim == 64
    batch = make.batch(8, SIGNAL, normal=True)
    method.train()
    out = method.training_step(batch)
    out.loss.backward()
    assert 0.3 < out.logs["masked"] < 0.7 and out.logs["gumbel_tau"] == 2.0
    assert method.quantiser.codebook.grad is not None and method.mask_embedding.grad is not None
    method.on_step_end(69, 100)  # 70 % of the run: the end temperature, kept afterwards
    assert method.tau.item() == pytest.approx(0.5)
    method.on_step_end(99, 100)
    assert method.tau.item() == pytest.approx(0.5)
    method.eval()
    with torch.no_grad():
        emb = method.embed(batch.x)
        previews = method.previews(batch)
    assert emb.shape == (8, 64)
    assert len(previews["masked_spans"].tiles) == 16
    assert previews["codebook_usage"].captions[0].startswith("group 1:")


def test_settings_that_cannot_work_are_refused(make):
    with pytest.raises(ValueError, match="mask_length"):
        make.method(Wav2Vec2, (1, 40), mask_length=8)
    with pytest.raises(ValueError, match="heads"):
        make.method(Wav2Vec2, SIGNAL, model_dim=30, heads=4)


def test_masked_frames_are_shaded_as_one_band_per_run():
    assert masked_runs([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
    assert masked_runs([]) == []
