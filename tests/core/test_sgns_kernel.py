"""The compiled negative-sampling kernel: its loss and σ match the exact formulas at every score,
saturated ones included."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench import sgns_kernel


@pytest.mark.parametrize("scale", [0.1, 3.0, 100.0])  # scores near 0, moderate, far past σ's saturation
def test_loss_and_sigmoid_match_the_exact_formulas(scale):
    rng = np.random.default_rng(0)
    dim, pairs = 16, 50
    w_in = (rng.standard_normal((pairs, dim)) * scale / dim**0.5).astype(np.float32)
    w_out = (rng.standard_normal((pairs * 4, dim)) / dim**0.5).astype(np.float32)
    sources = np.arange(pairs, dtype=np.int64)
    targets = np.arange(pairs, dtype=np.int64)  # every word in one pair only: the order cannot matter
    noise = np.arange(pairs, pairs * 4, dtype=np.int64).reshape(pairs, 3)
    h, out = torch.from_numpy(w_in.copy()), torch.from_numpy(w_out.copy())
    pos = (h * out[targets]).sum(-1).double()
    neg = (h.unsqueeze(1) * out[noise]).sum(-1).double()
    loss, p_true, p_noise, n_noise = sgns_kernel.skipgram_sgd(w_in, w_out, sources, targets, noise, 0.0)
    assert n_noise == pairs * 3
    # −log σ(pos) − Σ log σ(−neg), summed over the pairs
    assert loss == pytest.approx((F.softplus(-pos).sum() + F.softplus(neg).sum()).item(), rel=1e-5)
    assert p_true == pytest.approx(torch.sigmoid(pos).sum().item(), rel=1e-5)
    assert p_noise == pytest.approx(torch.sigmoid(neg).sum().item(), rel=1e-5, abs=1e-9)
