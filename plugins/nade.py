"""NADE: the neural autoregressive distribution estimator, one hidden layer shared by every pixel's conditional (Larochelle & Murray 2011)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workbench.config import setting
from workbench.nn.autoregressive import BinaryPixelModel, bernoulli_nll, binarise

SAMPLE_SEED = 20110101  # fixed: the samples preview redraws the same uniforms, so only the model changes


def nade_logits(x: torch.Tensor, w: torch.Tensor, c: torch.Tensor, v: torch.Tensor,
                b: torch.Tensor) -> torch.Tensor:
    """logit p(x_i = 1 | x_<i) = b_i + V_i · σ(c + W_{:,<i} x_<i) for flat binary images (B, D): (B, D).

    W (H, D) reads the inputs, V (D, H) the hidden units, c (H,) and b (D,) are biases. The
    hidden pre-activations of all D conditionals are one exclusive cumulative sum (the paper's
    O(DH) trick), so pixel i's conditional never sees pixel i or a later one.
    """
    contrib = x.unsqueeze(2) * w.T.unsqueeze(0)  # (B, D, H): what each pixel adds
    before = contrib.cumsum(1) - contrib  # exclusive: pixels strictly before i
    h = torch.sigmoid(c + before)
    return b + (h * v.unsqueeze(0)).sum(2)


def nade_nll(x: torch.Tensor, w, c, v, b) -> torch.Tensor:
    """Exact −log p(x) in nats of flat binary images (B, D): (B,)."""
    return bernoulli_nll(nade_logits(x, w, c, v, b), x)


class NADE(BinaryPixelModel):
    name = "nade"
    title = "NADE (neural autoregressive density)"
    family = "autoregressive"
    modality = "image"
    input_channels = (1,)
    summary = ("p(x) = Π p(x_i | x_<i) over binarised pixels, every conditional read off one hidden "
               "layer whose weights all pixels share: an exact likelihood, sampled pixel by pixel.")
    reference = "Larochelle & Murray 2011, AISTATS (PMLR 15:29-37)"
    run_defaults = {"batch_size": 32, "lr": 1e-2, "weight_decay": 0.0}

    @dataclass
    class Config:
        hidden: int = setting(200, "Hidden units shared by all the conditionals (also the size of "
                                   "the representation).", min=1, max=2048, label="Hidden units")

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        d, h = self.n_pixels, cfg.hidden
        self.w = nn.Parameter(torch.randn(h, d) * 0.01)  # small: every σ starts near ½
        self.c = nn.Parameter(torch.zeros(h))
        self.v = nn.Parameter(torch.randn(d, h) * 0.01)
        self.bias = nn.Parameter(torch.zeros(d))
        # the representation: the hidden layer once every pixel has been seen, σ(c + W x)
        self.feat_dim = h

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Conditional logits (B, D) of images in [0, 1], after binarising them."""
        return nade_logits(binarise(x).flatten(1), self.w, self.c, self.v, self.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.c + binarise(x).flatten(1) @ self.w.T)

    def sample(self, n: int) -> torch.Tensor:
        """n images (n, C, H, W) drawn pixel by pixel in raster order, from fixed uniforms."""
        d = self.n_pixels
        u = torch.rand(n, d, generator=torch.Generator().manual_seed(SAMPLE_SEED)).to(self.bias.device)
        x = torch.zeros(n, d, device=self.bias.device)
        a = self.c.expand(n, -1).clone()  # hidden pre-activation from the pixels drawn so far
        for i in range(d):
            logit = self.bias[i] + torch.sigmoid(a) @ self.v[i]
            x[:, i] = (u[:, i] < torch.sigmoid(logit)).float()
            a += x[:, i:i + 1] * self.w[:, i]
        return x.view(n, *self.shape)
