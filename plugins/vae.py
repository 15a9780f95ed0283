"""Variational autoencoder with a β-weighted KL term (Kingma & Welling 2014, arXiv:1312.6114; β-VAE: Higgins et al. 2017, ICLR)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from workbench.api import Batch, Method, Preview, StepOutput
from workbench.config import setting
from workbench.nn.decoders import ConvDecoder

PRIOR_SEED = 20140101  # fixed: the "samples from the prior" preview decodes the same z every time


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per sample, summed over latent dimensions, in nats: (B,)."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def negative_log_likelihood(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """−log p(x|z) per sample, summed over pixels: (B,).

    bce: Bernoulli likelihood (the paper's choice for MNIST; works for [0, 1] grey levels too).
    mse: Gaussian with unit variance, up to a constant, i.e. ½‖x̂ − x‖².
    """
    x_hat, x = x_hat.float(), x.float()
    if kind == "bce":
        nll = F.binary_cross_entropy(x_hat.clamp(1e-6, 1 - 1e-6), x, reduction="none")
    else:
        nll = 0.5 * (x_hat - x) ** 2
    return nll.flatten(1).sum(1)


def elbo_loss(x_hat: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              beta: float = 1.0, kind: str = "bce") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, reconstruction, kl): the negative β-ELBO per pixel, and its two terms in nats per image.

    The loss is −(E_q log p(x|z) − β·KL) averaged over the batch and divided by the number of
    pixel values, so its size (and the learning rate that suits it) does not depend on the
    image size; the minimiser is the same as for the per-image ELBO.
    """
    rec = negative_log_likelihood(x_hat, x, kind).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return (rec + beta * kl) / x[0].numel(), rec, kl


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = μ + σ·ε with ε ~ N(0, I): a sample whose gradient flows to μ and σ."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class VAE(Method):
    name = "vae"
    title = "VAE (variational autoencoder)"
    family = "reconstruction"
    modality = "image"
    summary = "Encode each image as a Gaussian posterior, decode samples of it; ELBO with a β-weighted KL."
    reference = "Kingma & Welling 2014, arXiv:1312.6114; Higgins et al. 2017 (β-VAE), ICLR"
    # small batches and a high rate: more and larger steps, which the KL-regularised code needs to
    # become informative (3 epochs of mnist5k: kNN 0.777 at batch 32 against 0.660 at batch 128;
    # 2 epochs at batch 32: 0.765 at lr 5e-3, 0.741 at 3e-3, 0.702 at 1e-3, below random init's 0.717)
    run_defaults = {"batch_size": 32, "lr": 5e-3}

    @dataclass
    class Config:
        latent_dim: int = setting(32, "Size of the latent code z (and of the representation μ).",
                                  min=1, max=4096, label="Latent size")
        beta: float = setting(1.0, "Weight β of the KL term (1 = the ELBO; > 1 = β-VAE, more "
                                   "disentangled, blurrier).", min=0.0, max=1000.0, label="β")
        loss: str = setting("bce", "Likelihood p(x|z): Bernoulli (bce) or unit Gaussian (mse).",
                            choices=("bce", "mse"))
        kl_warmup: float = setting(0.3, "Fraction of training over which the KL weight ramps "
                                        "linearly from 0 to β (0 = full β from the first step).",
                                   min=0.0, max=1.0, label="KL warm-up")
        decoder_width: int = setting(64, "Channels of the decoder.", min=8, max=1024)

    def __init__(self, cfg, backbone, feat_dim, data):
        super().__init__(cfg, backbone, feat_dim, data)
        self.mu = nn.Linear(feat_dim, cfg.latent_dim)
        self.logvar = nn.Linear(feat_dim, cfg.latent_dim)
        self.decoder = ConvDecoder(cfg.latent_dim, data.input_shape, cfg.decoder_width)
        self.feat_dim = cfg.latent_dim  # the representation is μ, not the backbone's features
        # KL warm-up (Bowman et al. 2016; Sønderby et al. 2016): the KL term starts at 0 and
        # reaches β after kl_warmup of training, so the code carries information before the
        # prior pulls it in; a buffer, so a resumed run goes on with the same weight
        self.register_buffer("kl_scale", torch.tensor(0.0 if cfg.kl_warmup > 0 else 1.0))

    def on_step_end(self, step: int, total_steps: int) -> None:
        if self.cfg.kl_warmup > 0:
            self.kl_scale.fill_(min(1.0, (step + 1) / max(1.0, self.cfg.kl_warmup * total_steps)))

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        # clamp log σ² so an early overshoot cannot overflow exp() and end the run with inf
        return self.mu(h), self.logvar(h).clamp(-12.0, 8.0)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.posterior(x)[0]

    def training_step(self, batch: Batch) -> StepOutput:
        mu, logvar = self.posterior(batch.x)
        x_hat = self.decoder(reparameterise(mu, logvar))
        beta = self.cfg.beta * self.kl_scale
        loss, rec, kl = elbo_loss(x_hat, batch.x, mu, logvar, beta, self.cfg.loss)
        return StepOutput(loss, {"reconstruction": rec.detach(), "kl": kl.detach(), "kl_weight": beta})

    def previews(self, batch: Batch) -> dict[str, Preview]:
        x = batch.x[:8]
        x_hat = self.decoder(self.posterior(x)[0])  # decode the posterior mean: the model's best guess
        errors = ((x_hat - x) ** 2).flatten(1).mean(1).tolist()
        captions = ["input"] * len(x) + [f"recon · mse {e:.3f}" for e in errors]
        g = torch.Generator().manual_seed(PRIOR_SEED)  # CPU generator: same z on every device
        z = torch.randn(16, self.cfg.latent_dim, generator=g).to(x.device)
        samples = self.decoder(z)
        return {
            "reconstructions": Preview.from_tensor("Inputs / reconstructions (posterior mean)",
                                                   torch.cat([x, x_hat]), captions, columns=len(x)),
            "prior_samples": Preview.from_tensor("Samples from the prior, z ~ N(0, I)", samples,
                                                 [f"sample {i + 1}" for i in range(len(samples))],
                                                 columns=8),
        }
