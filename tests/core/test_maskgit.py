"""MaskGIT's pieces: the cosine schedule, training masks, the masked-token loss, a bidirectional prior and iterative decoding."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workbench.nn.maskgit import (MaskedTokenTransformer, condition_labels, cosine_schedule, maskgit_generate,
                                  masked_token_loss, random_mask)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cosine_schedule_runs_from_all_masked_to_none():
    assert float(cosine_schedule(0.0)) == pytest.approx(1.0)
    assert float(cosine_schedule(1.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(cosine_schedule(0.5)) == pytest.approx(math.cos(math.pi / 4))


def test_random_mask_masks_at_least_one_and_follows_the_schedule():
    mask = random_mask(4000, 16, generator=torch.Generator().manual_seed(0))
    counts = mask.sum(1).float()
    assert counts.min() >= 1 and counts.max() <= 16
    # E[cos(π r / 2)] = 2/π for r ~ U(0, 1), so about 2/π of the tokens (plus the ceiling's ½)
    assert counts.mean() / 16 == pytest.approx(2 / math.pi + 0.5 / 16, abs=0.03)


def test_masked_token_loss_counts_only_masked_positions():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 5.0], [1.0, 1.0]]])
    target = torch.tensor([[0, 0, 1]])
    mask = torch.tensor([[True, False, True]])
    expected = (-F.log_softmax(torch.tensor([2.0, 0.0]), 0)[0] - math.log(0.5)) / 2
    assert masked_token_loss(logits, target, mask).item() == pytest.approx(expected.item())


def test_condition_labels_hide_unlabelled_and_dropped_rows():
    labels = torch.tensor([0, 2, -1, 1])
    assert condition_labels(labels, 4, 3).tolist() == [0, 2, 3, 1]
    assert condition_labels(None, 2, 3).tolist() == [3, 3]
    assert condition_labels(labels, 4, 3, dropout=1.0).tolist() == [3, 3, 3, 3]


def _prior(**kw):
    torch.manual_seed(0)
    return MaskedTokenTransformer(num_codes=6, length=10, dim=16, layers=1, heads=4, num_classes=3, **kw).eval()


def test_prior_is_bidirectional_and_class_conditional():
    model = _prior()
    tokens = model.tokens.weight
    ids = torch.randint(6, (2, 10))
    out = model(ids, torch.tensor([0, 0]))
    # position 0 depends on the last token: no causal mask
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 6
    assert not torch.allclose(model(changed, torch.tensor([0, 0]))[:, 0], out[:, 0])
    assert not torch.allclose(model(ids, torch.tensor([1, 1])), out)
    assert out.shape == (2, 10, 6) and tokens.shape == (7, 16)  # 6 codes + the mask token


class _Fixed(torch.nn.Module):
    """A 'prior' whose logits ignore the input: it prefers code (position mod 3)."""

    def __init__(self, length=12, codes=5):
        super().__init__()
        self.length, self.num_codes, self.mask_id = length, codes, codes
        logits = torch.full((length, codes), -20.0)
        logits[torch.arange(length), torch.arange(length) % min(3, codes)] = 20.0
        self.register_buffer("logits", logits)

    def forward(self, ids, classes):
        assert ids.shape[1] == self.length
        return self.logits.expand(len(ids), -1, -1)


def test_decoding_unmasks_everything_along_the_cosine_schedule():
    model = _Fixed()
    trace: list[int] = []
    ids = maskgit_generate(model, torch.zeros(3, dtype=torch.long), steps=4, trace=trace,
                           generator=torch.Generator().manual_seed(0))
    assert (ids != model.mask_id).all()
    assert ids.tolist() == [[i % 3 for i in range(12)]] * 3
    expected = [math.floor(math.cos(math.pi / 2 * (t + 1) / 4) * 12) for t in range(4)]
    assert trace == expected == [11, 8, 4, 0]


def test_decoding_keeps_the_confident_tokens():
    # two steps on 4 positions: after the first, cos(π/4)·4 → 2 stay masked; the two kept must
    # be the two positions where the model is sure (the others are coin flips)
    class Unsure(_Fixed):
        def __init__(self):
            super().__init__(length=4, codes=2)
            self.logits = torch.tensor([[9.0, -9.0], [0.0, 0.0], [-9.0, 9.0], [0.0, 0.0]])

    model = Unsure()
    first = maskgit_generate(model, torch.zeros(50, dtype=torch.long), steps=2, choice_temperature=0.0,
                             generator=torch.Generator().manual_seed(1))
    assert (first[:, 0] == 0).all() and (first[:, 2] == 1).all()
    kept = []

    class Spy(Unsure):
        def forward(self, ids, classes):
            kept.append(ids.clone())
            return super().forward(ids, classes)

    maskgit_generate(Spy(), torch.zeros(50, dtype=torch.long), steps=2, choice_temperature=0.0,
                     generator=torch.Generator().manual_seed(1))
    second_input = kept[1]
    assert (second_input[:, [0, 2]] != 2).all() and (second_input[:, [1, 3]] == 2).all()


def test_seeded_generation_is_reproducible():
    model = _prior()
    classes = torch.tensor([0, 1, 2, 3])
    a = maskgit_generate(model, classes, 5, generator=torch.Generator().manual_seed(3))
    b = maskgit_generate(model, classes, 5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (4, 10) and (a < 6).all()
