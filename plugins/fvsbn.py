"""Fully visible sigmoid belief network: each binary pixel a logistic regression on the pixels before it (Frey 1998; Neal 1992)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.nn.autoregressive import BinaryPixelModel, bernoulli_nll, binarise

SAMPLE_SEED = 19980101  # fixed: the samples preview redraws the same uniforms, so only the model changes


def fvsbn_logits(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """logit p(x_i = 1 | x_<i) = b_i + Σ_{j<i} W_ij x_j for flat binary images x (B, D): (B, D).

    Only the strictly lower triangle of W (D, D) is read, so pixel i never sees itself or a
    later pixel, and the product of the conditionals is a normalised distribution over {0,1}^D.
    """
    return bias + x @ torch.tril(weight, diagonal=-1).T


def fvsbn_nll(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Exact −log p(x) in nats of flat binary images (B, D): (B,)."""
    return bernoulli_nll(fvsbn_logits(x, weight, bias), x)


class FVSBN(BinaryPixelModel):
    name = "fvsbn"
    title = "FVSBN (fully visible sigmoid belief net)"
    family = "autoregressive"
    modality = "image"
    input_channels = (1,)
    summary = ("Write p(x) = Π p(x_i | x_<i) over binarised pixels in raster order, each factor a "
               "logistic regression on the pixels before it: an exact likelihood, sampled pixel by pixel.")
    reference = "Frey 1998, Graphical Models for Machine Learning and Digital Communication; Neal 1992, Artificial Intelligence 56"
    # a small batch: many steps, which the 2-epoch runs need to move D² weights
    run_defaults = {"batch_size": 32, "lr": 1e-2, "weight_decay": 0.0}

    @dataclass
    class Config:
        pass

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        d = self.n_pixels
        self.weight = nn.Parameter(torch.zeros(d, d))  # only the strict lower triangle is used
        self.bias = nn.Parameter(torch.zeros(d))
        # the representation: what the model expects of every pixel given those before it
        self.feat_dim = d

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Conditional logits (B, D) of images in [0, 1], after binarising them."""
        return fvsbn_logits(binarise(x).flatten(1), self.weight, self.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def sample(self, n: int) -> torch.Tensor:
        """n images (n, C, H, W) drawn pixel by pixel in raster order, from fixed uniforms."""
        d = self.n_pixels
        u = torch.rand(n, d, generator=torch.Generator().manual_seed(SAMPLE_SEED)).to(self.bias.device)
        x = torch.zeros(n, d, device=self.bias.device)
        for i in range(d):
            logit = self.bias[i] + x[:, :i] @ self.weight[i, :i]
            x[:, i] = (u[:, i] < torch.sigmoid(logit)).float()
        return x.view(n, *self.shape)
