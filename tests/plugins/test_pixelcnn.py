"""PixelCNN: masks with no path from a pixel to itself or later pixels (by gradients), exact sampling, bits/dim."""
from __future__ import annotations

import math

import pytest
import torch

from plugins.pixelcnn import PixelCNN, PixelCNNNet, causal_mask
from workbench.api import Batch


def test_masks_by_hand():
    assert causal_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert causal_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_no_path_from_a_pixel_to_itself_or_later_pixels():
    torch.manual_seed(0)
    net = PixelCNNNet(channels=4, layers=3)
    h = w = 6
    x = torch.rand(1, 1, h, w, requires_grad=True)
    out = net(x)
    for i in range(h):
        for j in range(w):
            (grad,) = torch.autograd.grad(out[0, 0, i, j], x, retain_graph=True)
            later = torch.arange(h * w).view(h, w) >= i * w + j  # itself and every later pixel
            assert torch.all(grad[0, 0][later] == 0), (i, j)
            if i * w + j > 0:  # and it does see something before it
                assert grad[0, 0][~later].abs().sum() > 0, (i, j)


def test_the_centre_pixel_has_a_blind_spot(make):
    method = make.method(PixelCNN, (1, 16, 16), channels=4, layers=2)
    fields = method.receptive_fields()
    seen = fields[-1]
    assert not seen[8, 8] and seen[7, 8] and seen[8, 7]  # not itself; above and left it sees
    # the blind spot of plain masked convolutions: up-right pixels it cannot see, below and left
    # of pixels it does see (so not the edge of its reach)
    assert seen[5, 13] and not seen[6, 13] and not seen[7, 12] and seen[7, 11]
    assert [int(f.sum()) for f in fields] == sorted(int(f.sum()) for f in fields)


def test_sampler_draws_from_the_conditionals_of_the_whole_net(make):
    method = make.method(PixelCNN, (1, 10, 7), channels=4, layers=2).eval()
    with torch.no_grad():
        x, drawn_from = method.sample(3)
        assert torch.allclose(method.net(x), drawn_from, atol=1e-5)


def test_fresh_model_is_near_one_bit_per_dim(make):
    method = make.method(PixelCNN, (1, 8, 8), channels=4, layers=1).eval()
    data = torch.rand(16, 1, 8, 8)

    def batches(split):
        yield Batch(data, torch.zeros(16), torch.arange(16))

    with torch.no_grad():
        out = method.measures(batches)
    assert out["test NLL (bits/dim)"] == pytest.approx(1.0, abs=0.1)
    assert out["independent pixels NLL (bits/dim)"] < 1.0
    nll = method.nll(data).mean().item()
    assert out["test NLL (bits/dim)"] == pytest.approx(nll / (64 * math.log(2)), rel=1e-5)
