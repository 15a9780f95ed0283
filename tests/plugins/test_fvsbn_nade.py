"""FVSBN and NADE: exact likelihoods (sum to one over all 2^8 images), hand cases, sampling and measures."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from plugins.fvsbn import FVSBN, fvsbn_logits, fvsbn_nll
from plugins.nade import NADE, nade_logits, nade_nll
from workbench.api import Batch
from workbench.nn.autoregressive import (drawing_frames, independent_pixels_nll, likelihood_measures,
                                         pixel_marginals)

SHAPE = (1, 2, 4)  # n = 8 pixels: 256 images to sum over
ALL_IMAGES = torch.tensor(list(itertools.product([0.0, 1.0], repeat=8)))


def _fvsbn_params(d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, d, generator=g) * 1.5, torch.randn(d, generator=g)


def _nade_params(d=8, h=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(h, d, generator=g), torch.randn(h, generator=g),
            torch.randn(d, h, generator=g), torch.randn(d, generator=g))


def test_fvsbn_probabilities_sum_to_one_over_all_images():
    w, b = _fvsbn_params()
    total = torch.exp(-fvsbn_nll(ALL_IMAGES, w, b).double()).sum()
    assert total.item() == pytest.approx(1.0, abs=1e-6)  # float32 conditionals


def test_nade_probabilities_sum_to_one_over_all_images():
    params = _nade_params()
    total = torch.exp(-nade_nll(ALL_IMAGES, *params).double()).sum()
    assert total.item() == pytest.approx(1.0, abs=1e-6)  # float32 conditionals


def test_fvsbn_nll_equals_a_loop_over_its_conditionals():
    w, b = _fvsbn_params(seed=3)
    x = ALL_IMAGES[[5, 77, 200]]
    expected = []
    for row in x:
        nll = 0.0
        for i in range(8):
            p = torch.sigmoid(b[i] + sum(w[i, j] * row[j] for j in range(i)))
            nll -= math.log(p if row[i] == 1 else 1 - p)
        expected.append(nll)
    assert fvsbn_nll(x, w, b).tolist() == pytest.approx(expected, rel=1e-5)


def test_nade_nll_equals_a_loop_over_its_conditionals():
    w, c, v, b = _nade_params(seed=4)
    x = ALL_IMAGES[[9, 128, 255]]
    expected = []
    for row in x:
        nll = 0.0
        for i in range(8):
            h = torch.sigmoid(c + w[:, :i] @ row[:i])
            p = torch.sigmoid(b[i] + v[i] @ h)
            nll -= math.log(p if row[i] == 1 else 1 - p)
        expected.append(nll)
    assert nade_nll(x, w, c, v, b).tolist() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("logits", [fvsbn_logits, nade_logits])
def test_a_pixel_never_sees_itself_or_later_pixels(logits):
    params = _fvsbn_params() if logits is fvsbn_logits else _nade_params()
    x = ALL_IMAGES[100:101].clone().requires_grad_(True)
    for i in range(8):
        (grad,) = torch.autograd.grad(logits(x, *params)[0, i], x)
        assert torch.all(grad[0, i:] == 0), (i, grad)


def test_independent_pixels_floor_on_a_hand_case():
    # two train images, add-one smoothing: pixel 0 on in both -> p = 3/4; pixel 1 never -> p = 1/4
    train = torch.tensor([[[[1.0, 0.0]]], [[[0.9, 0.1]]]])
    marg = pixel_marginals(iter([Batch(train, torch.zeros(2), torch.arange(2))]))
    assert marg.flatten().tolist() == pytest.approx([0.75, 0.25])
    nll = independent_pixels_nll(marg, torch.tensor([[[[1.0, 1.0]]]]))
    assert nll.item() == pytest.approx(-math.log(0.75) - math.log(0.25))


@pytest.mark.parametrize("cls", [FVSBN, NADE])
def test_sampler_draws_from_the_model_conditionals(cls, make):
    method = cls(cls.Config(), torch.nn.Identity(), 0, make.spec(SHAPE))
    with torch.no_grad():
        for p in method.parameters():
            p.normal_(0, 1.0)
        samples = method.sample(4096)
        # P(first pixel on) is σ(bias of pixel 0): the sampler and the likelihood agree
        bias0 = method.bias[0] if cls is FVSBN else method.bias[0] + torch.sigmoid(method.c) @ method.v[0]
        assert samples[:, 0, 0, 0].mean().item() == pytest.approx(torch.sigmoid(bias0).item(), abs=0.03)
        frames, captions = drawing_frames(samples[:2])
    assert frames.shape == (12, 3, 2, 4) and len(captions) == 12


@pytest.mark.parametrize("cls", [FVSBN, NADE])
def test_measures_report_the_model_and_the_floor(cls, make):
    method = cls(cls.Config(), torch.nn.Identity(), 0, make.spec(SHAPE))
    data = torch.rand(32, *SHAPE)

    def batches(split):
        yield Batch(data, torch.zeros(32), torch.arange(32))

    out = likelihood_measures(method.nll, batches)
    # a fresh model (zero biases, tiny weights) is near uniform: 8 ln 2 nats per image
    assert out["test NLL (nats/image)"] == pytest.approx(8 * math.log(2), rel=0.02)
    assert out["independent pixels NLL (nats/image)"] < out["test NLL (nats/image)"]
    assert set(method.measures(batches)) == set(out)
